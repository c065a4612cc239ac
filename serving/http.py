"""The service's front door: API keys, body size and pace, content type, and errors a CRM developer can act on.

- ``/v1/*`` needs ``Authorization: Bearer KEY`` (``serving.auth``): 401 without a key or with an unknown one, 403
  with a revoked one. So does ``/metrics`` unless ``SALESML_PUBLIC_METRICS=on``. ``/v1/admin/`` (reloading the
  models) needs an admin key: 403 with another key. ``/healthz``, ``/readyz``, ``/docs.json`` and the docs page
  (``/`` and its ``/static_content``) stay open: they describe the API and hold no data.
- A ``/v1`` POST body must be JSON: a ``Content-Type`` other than ``application/json`` (none is taken as JSON) is
  refused with 415 before the body is read.
- A body over ``SALESML_MAX_BODY_MB`` (default 32) is refused with 413 before it is read in full.
- A ``/v1`` body is read in full before the call takes an in-flight slot, so a sender that stalls holds a
  connection, never a slot: each piece must come within ``SALESML_BODY_TIMEOUT_S`` (default 10 s), and past that
  time the body must have come at ``SALESML_BODY_MIN_KIB_S`` (default 16 KiB/s) on average; a slower sender gets 408
  and its connection is closed. uvicorn does not time out a request whose headers are still arriving: such a
  connection never reaches the service, but it holds a socket, so a service open beyond trusted callers wants a
  proxy with a header timeout in front.
- More than ``SALESML_MAX_CONCURRENCY`` (default 32, shared by the workers) calls in progress with their bodies
  read: 429 at once, rather than a queue (and memory) growing without bound behind busy workers. A call sees how many
  its worker is answering (``in_flight``): a call that finds itself alone is scored without a hand-off to the
  scoring thread (``serving.batching``).
- BentoML answers a request that fails validation with 400 (so does the service for what only it can check: a
  forecast's ``as_of`` outside its history, no targets for the period); here it becomes 422 with each error's
  field path, or 413 when the error is a list of more than 1,000 items. An error body lists at most
  ``MAX_LISTED`` errors and quotes at most ``EXCERPT`` characters of any text that may come from the input (a
  field name, BentoML's own error text).
- A path that is no route of the service reaches the app as ``UNROUTED`` (still a 404): BentoML's metrics label
  requests by path, and a scan of random paths would otherwise grow ``/metrics`` and the worker without bound. Under
  ``/v1`` its 404 is JSON with a ``message``, as the routes' own 404s (an id no route takes, such as one with a line
  break in a ``/v1/leads/{lead_id}/trend`` path, answers like an id the history does not hold).
- The OpenAPI document (``/docs.json``) is amended to say so: the bearer scheme and these answers on ``/v1``, and
  the top-level request fields that take null (BentoML's document leaves that out).
"""

from __future__ import annotations

import asyncio
import enum
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bentoml
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles

from features import settings
from serving.auth import KeyRing, Verdict
from serving.openapi import documented
from serving.schemas.checks import ChecksRequest
from serving.schemas.common import MAX_ITEMS
from serving.schemas.scoring import LeadScoreRequest, OpportunityScoreRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

ITEM_LISTS = (*(r.items_and_key[0] for r in (LeadScoreRequest, OpportunityScoreRequest)), *ChecksRequest.lists)
JSON_TYPE, METRICS_PATH, UNROUTED, ADMIN_PATH = "application/json", "/metrics", "/(unrouted)", "/v1/admin/"
EXCERPT = 200  # characters quoted of any text that may come from the input
MAX_LISTED = 20  # errors listed in one answer


def service_workers() -> int:
    """Worker processes (``SALESML_WORKERS``, default 1): scoring holds the GIL, so throughput grows with processes;
    each one holds its own copy of the models and the history."""
    return settings.WORKERS.get()


def max_body_bytes() -> int:
    return int(settings.MAX_BODY_MB.get() * 2**20)


@dataclass(frozen=True)
class BodyPace:
    """How slowly a body may come: no piece later than ``timeout_s`` after the one before, and past ``timeout_s``
    at ``min_rate`` bytes a second on average."""

    timeout_s: float
    min_rate: float

    @classmethod
    def from_env(cls) -> BodyPace:
        return cls(settings.BODY_TIMEOUT_S.get(), settings.BODY_MIN_KIB_S.get() * 2**10)

    def wait_s(self, received: int, elapsed_s: float) -> float:
        """The longest wait for the next piece of a body of which ``received`` bytes came in ``elapsed_s``."""
        return min(self.timeout_s, self.timeout_s + received / self.min_rate - elapsed_s)

    def message(self) -> str:
        return (
            f"request body too slow: send it at {self.min_rate / 2**10:g} KiB/s or more, "
            f"with no pause over {self.timeout_s:g} s"
        )


class Unread(enum.Enum):
    """Why a body was not read in full."""

    TOO_LARGE = enum.auto()
    TOO_SLOW = enum.auto()
    GONE = enum.auto()  # the client left: nobody to answer


async def _answer(send: Send, status: int, body: dict[str, Any], headers: Headers = ()) -> None:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _is_json(scope: Scope) -> bool:
    """Whether the body is JSON by its Content-Type (parameters such as charset aside; none means JSON)."""
    media_type = _header(scope, b"content-type")
    return media_type is None or media_type.split(";")[0].strip().lower() == JSON_TYPE


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body already read, then whatever the client sends next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def readable_errors(body: bytes) -> tuple[int, dict[str, Any]]:
    """BentoML's validation answer as (status, body): 413 for too many items, else 422 with field paths."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {"error": body.decode("utf-8", "replace")}
    errors = _errors(parsed)
    too_many = any(e["type"] == "too_long" and e["loc"][-1:] in ([n] for n in ITEM_LISTS) for e in errors)
    if too_many:
        return 413, {**refused(errors), "message": f"at most {MAX_ITEMS:,} items per call; split the request"}
    fallback = parsed.get("error", "invalid request") if isinstance(parsed, dict) else "invalid request"
    return 422, refused(errors, _excerpt(str(fallback)))


def refused(errors: list[dict[str, Any]], fallback: str = "invalid request") -> dict[str, Any]:
    """The error body for pydantic errors: at most ``MAX_LISTED`` of them, each with its field path, and a one-line
    message of their paths (``fallback`` when there are none)."""
    listed = [_clean(e) for e in errors[:MAX_LISTED]]
    paths = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in listed)
    more = f"; and {len(errors) - len(listed):,} more" if len(errors) > len(listed) else ""
    return {"detail": listed, "message": paths + more if paths else fallback}


def _excerpt(text: str) -> str:
    """At most ``EXCERPT`` characters of a text that may quote the input."""
    return text if len(text) <= EXCERPT else f"{text[:EXCERPT]}..."


def _errors(parsed: Any) -> list[dict[str, Any]]:
    """The pydantic error list inside BentoML's error body, whatever its nesting."""
    if isinstance(parsed, dict):
        for key in ("detail", "error", "errors"):
            found = parsed.get(key)
            if isinstance(found, list):
                return [e for e in found if isinstance(e, dict)]
            if isinstance(found, str):
                try:
                    return _errors(json.loads(found))
                except ValueError:
                    continue
    if isinstance(parsed, list):
        return [e for e in parsed if isinstance(e, dict)]
    return []


def _clean(error: dict[str, Any]) -> dict[str, Any]:
    """Path, message and type of one error; the offending input is left out (it can be large or private), and a
    field name or message that may quote it is cut short."""
    loc = [part if isinstance(part, int) else _excerpt(str(part)) for part in error.get("loc", [])]
    return {"loc": loc, "msg": _excerpt(str(error.get("msg", ""))), "type": _excerpt(str(error.get("type", "")))}


@dataclass
class InFlight:
    """The /v1 calls a worker is answering with their bodies read (one event loop per worker: a plain count is
    exact)."""

    count: int = 0


#: The request-state attribute that holds the worker's ``InFlight`` (``ApiGuard`` sets it on each /v1 call).
IN_FLIGHT = "calls_in_flight"


def in_flight(state: Any) -> InFlight | None:
    """The calls a call's worker is answering (from its request's ``state``); None for a call that did not come
    through ``ApiGuard`` (the endpoint method called in process)."""
    return getattr(state, IN_FLIGHT, None)


class ApiGuard:
    """ASGI middleware in front of the BentoML app (see the module docstring)."""

    def __init__(self, app: ASGIApp, workers: int = 1) -> None:
        self.app = app
        self.keys = KeyRing.from_env()
        self.auth = settings.AUTH.get()
        self.public_metrics = settings.PUBLIC_METRICS.get()
        self.limit = max_body_bytes()
        self.pace = BodyPace.from_env()
        self.max_in_flight = math.ceil(settings.MAX_CONCURRENCY.get() / workers)
        self.calls = InFlight()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else ""
        if path == "/docs.json":
            await self.app(scope, receive, self._rewritten(send, lambda status: status == 200, self._document))
        elif path.startswith("/v1/"):
            await self._call(scope, receive, send)
        elif path == METRICS_PATH and not self.public_metrics and (refusal := self._refusal(scope)) is not None:
            await _answer(send, *refusal)
        else:
            await self.app(scope, receive, send)

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A /v1 call: the key, the content type and the body's size and pace, then an in-flight slot."""
        if (refusal := self._refusal(scope)) is not None:
            await _answer(send, *refusal)
            return
        if scope["method"] == "POST" and not _is_json(scope):
            await _answer(send, 415, {"message": f"send the body as JSON, with Content-Type: {JSON_TYPE}"})
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _answer(send, 413, self._too_large())
            return
        body = await self._read(receive)
        if body is Unread.TOO_LARGE:
            await _answer(send, 413, self._too_large())
        elif body is Unread.TOO_SLOW:
            await _answer(send, 408, {"message": self.pace.message()}, [(b"connection", b"close")])
        elif body is Unread.GONE:
            return
        elif self.calls.count >= self.max_in_flight:
            await _answer(send, 429, {"message": "too many requests in progress; retry after a pause"})
        else:
            self.calls.count += 1
            scope.setdefault("state", {})[IN_FLIGHT] = self.calls
            try:
                rewriting = self._rewritten(send, lambda status: status == 400, readable_errors)
                await self.app(scope, _replay(body, receive), rewriting)
            finally:
                self.calls.count -= 1

    def _refusal(self, scope: Scope) -> tuple[int, dict[str, Any], Headers] | None:
        if not self.auth:
            return None
        challenge = [(b"www-authenticate", b'Bearer realm="salesml"')]
        if not self.keys:
            return 401, {"message": "no API keys are configured on this service (set SALESML_API_KEYS)"}, challenge
        verdict = self.keys.check(_header(scope, b"authorization"))
        if verdict is Verdict.MISSING:
            return 401, {"message": "missing API key: send Authorization: Bearer <key>"}, challenge
        if verdict is Verdict.UNKNOWN:
            return 401, {"message": "unknown API key"}, challenge
        if verdict is Verdict.REVOKED:
            return 403, {"message": "this API key has been revoked"}, []
        if verdict is Verdict.OK and scope["path"].startswith(ADMIN_PATH):
            return 403, {"message": "this call needs an admin key (salesml keys create --admin)"}, []
        return None

    def _too_large(self) -> dict[str, Any]:
        return {"message": f"request body over {self.limit // 2**20} MiB; send fewer items per call"}

    async def _read(self, receive: Receive) -> bytes | Unread:
        """The whole body, up to the size limit and at the pace ``self.pace`` allows."""
        chunks, size, started = [], 0, time.monotonic()
        while True:
            wait_s = self.pace.wait_s(size, time.monotonic() - started)
            if wait_s <= 0:
                return Unread.TOO_SLOW
            try:
                message = await asyncio.wait_for(receive(), wait_s)
            except TimeoutError:
                return Unread.TOO_SLOW
            if message["type"] != "http.request":
                return Unread.GONE
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                return Unread.TOO_LARGE
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _document(body: bytes) -> tuple[int, dict[str, Any]]:
        return 200, documented(json.loads(body))

    @staticmethod
    def _rewritten(
        send: Send, wanted: Callable[[int], bool], rewrite: Callable[[bytes], tuple[int, dict[str, Any]]]
    ) -> Send:
        """Holds back a response whose status is ``wanted`` and sends ``rewrite`` of its body instead."""
        held: Message | None = None
        chunks: list[bytes] = []

        async def rewriting(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and wanted(message["status"]):
                held = message
                return
            if held is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await _answer(send, *rewrite(b"".join(chunks)))

        return rewriting


class UnroutedPaths:
    """In front of the whole app, BentoML's metrics included: a path no route takes reaches the app as ``UNROUTED``
    (a 404 all the same), so any number of unknown paths is one label in ``/metrics``."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.files = frozenset(_static_files(app.routes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._routed(self.app.routes, scope):
            if scope["path"].startswith("/v1/"):
                send = ApiGuard._rewritten(send, lambda status: status == 404, _no_route)
            scope = {**scope, "path": UNROUTED, "raw_path": UNROUTED.encode()}
        await self.app(scope, receive, send)

    def _routed(self, routes: Iterable[BaseRoute], scope: Scope) -> bool:
        """Whether a route takes the path (with another method too: that is a 405), a mounted app's included; under
        a static mount, only the files it serves."""
        for route in routes:
            match, child = route.matches(scope)
            if match is Match.NONE:
                continue
            if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
                return scope["path"] in self.files
            if isinstance(route, Mount):
                return self._routed(route.routes, {**scope, **child})
            return True
        return False


def _no_route(_: bytes) -> tuple[int, dict[str, Any]]:
    return 404, {"message": "no such endpoint or id: /docs.json lists the endpoints"}


def _static_files(routes: Iterable[BaseRoute]) -> Iterable[str]:
    """The path of every file the app's static mounts serve."""
    for route in routes:
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            for directory in map(Path, route.app.all_directories):
                for file in directory.rglob("*"):
                    if file.is_file():
                        yield f"{route.path}/{file.relative_to(directory).as_posix()}"


class GuardedService(bentoml.Service):
    """A BentoML service whose app stands behind ``UnroutedPaths`` (``bentoml.service(service_class=...)``). The
    guard itself is added with ``add_asgi_middleware``: it sits behind BentoML's metrics, so they count its answers."""

    def to_asgi(self, is_main: bool = True) -> ASGIApp:
        return UnroutedPaths(super().to_asgi(is_main))
