"""The service's front door, as one ASGI middleware: API keys, body size, and errors a CRM developer can act on.

- ``/v1/*`` needs ``Authorization: Bearer KEY`` (``serving.auth``): 401 without a key or with an unknown one, 403
  with a revoked one. ``/healthz``, ``/readyz``, ``/docs.json`` and the docs page stay open.
- A body over ``SALESML_MAX_BODY_MB`` (default 32) is refused with 413 before it is read in full.
- More than ``SALESML_MAX_CONCURRENCY`` (default 32, shared by the workers) scoring calls in progress: 429 at once,
  rather than a queue (and memory) growing without bound behind busy workers.
- BentoML answers a request that fails validation with 400 (so does the service for what only it can check: a
  forecast's ``as_of`` outside its history, no targets for the period); here it becomes 422 with each error's
  field path, or 413 when the error is a list of more than 1,000 items.
- The OpenAPI document (``/docs.json``) is amended to say so: the bearer scheme and these answers on ``/v1``, and
  the top-level request fields that take null (BentoML's document leaves that out).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from serving.auth import KeyRing, Verdict
from serving.checks import ChecksRequest
from serving.request import MAX_ITEMS, LeadScoreRequest, OpportunityScoreRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_ENV, AUTH_ENV, CONCURRENCY_ENV = "SALESML_MAX_BODY_MB", "SALESML_AUTH", "SALESML_MAX_CONCURRENCY"
ITEM_LISTS = (*(r.items_and_key[0] for r in (LeadScoreRequest, OpportunityScoreRequest)), *ChecksRequest.lists)


def max_body_bytes() -> int:
    return int(float(os.environ.get(MAX_BODY_ENV, "32")) * 2**20)


async def _answer(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
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


ERROR_SCHEMA = {
    "type": "object",
    "title": "ApiError",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "description": "What went wrong, with the field path where there is one."},
        "detail": {
            "type": "array",
            "description": "Validation errors: loc (field path), msg, type.",
            "items": {"type": "object"},
        },
    },
}
ERROR_ANSWERS = {
    "401": "Missing or unknown API key",
    "403": "Revoked API key",
    "413": "More than 1,000 items, or a body over the size limit",
    "422": "Invalid request: the field path and what is wrong (NaN, events after as_of, as_of outside the history, "
    "no targets for the period, ...)",
    "429": "Too many requests in progress (SALESML_MAX_CONCURRENCY): retry after a pause",
    "503": "The model or history for this endpoint is not loaded (run salesml export and restart)",
}


def documented(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with what this middleware answers on /v1: bearer auth and the error statuses."""
    spec.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = ERROR_SCHEMA
    spec["components"].setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}
    for path, operations in spec.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
                _nullable(operation["requestBody"]["content"]["application/json"]["schema"])
            responses = operation.setdefault("responses", {})
            for answer in responses.get("200", {}).get("content", {}).values():
                _nullable(answer.get("schema", {}))
            responses.pop("400", None)
            responses.update({code: {"description": text, **ref} for code, text in ERROR_ANSWERS.items()})
            operation["security"] = [{"bearer": []}]
    return spec


def _nullable(schema: dict[str, Any]) -> None:
    """BentoML's document drops ``| None`` from the top-level fields of a request and of an answer, though the service
    takes null there (``as_of``: null or left out means the default) and may answer it; put it back, as nested
    models have it."""
    for name, field in schema.get("properties", {}).items():
        if field.get("default", ...) is None and "type" in field:
            kept = {key: field[key] for key in ("default", "description", "title") if key in field}
            typed = {key: value for key, value in field.items() if key not in kept}
            schema["properties"][name] = {**kept, "anyOf": [typed, {"type": "null"}]}


def readable_errors(body: bytes) -> tuple[int, dict[str, Any]]:
    """BentoML's validation answer as (status, body): 413 for too many items, else 422 with field paths."""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = {"error": body.decode("utf-8", "replace")}
    errors = _errors(parsed)
    too_many = any(e["type"] == "too_long" and e["loc"][-1:] in ([n] for n in ITEM_LISTS) for e in errors)
    if too_many:
        return 413, {"detail": errors, "message": f"at most {MAX_ITEMS:,} items per call; split the request"}
    paths = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)
    return 422, {"detail": errors, "message": paths or str(parsed.get("error", "invalid request"))}


def _errors(parsed: Any) -> list[dict[str, Any]]:
    """The pydantic error list inside BentoML's error body, whatever its nesting."""
    if isinstance(parsed, dict):
        for key in ("detail", "error", "errors"):
            found = parsed.get(key)
            if isinstance(found, list):
                return [_clean(e) for e in found if isinstance(e, dict)]
            if isinstance(found, str):
                try:
                    return _errors(json.loads(found))
                except ValueError:
                    continue
    if isinstance(parsed, list):
        return [_clean(e) for e in parsed if isinstance(e, dict)]
    return []


def _clean(error: dict[str, Any]) -> dict[str, Any]:
    """Path, message and type of one error; the offending input is left out (it can be large or private)."""
    return {"loc": list(error.get("loc", [])), "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}


class ApiGuard:
    """ASGI middleware in front of the BentoML app (see the module docstring)."""

    def __init__(self, app: ASGIApp, workers: int = 1) -> None:
        self.app = app
        self.keys = KeyRing.from_env()
        self.auth = os.environ.get(AUTH_ENV, "on") != "off"
        self.limit = max_body_bytes()
        self.max_in_flight = math.ceil(max(1, int(os.environ.get(CONCURRENCY_ENV, "32"))) / workers)
        self.in_flight = 0  # one event loop per worker: a plain counter is exact

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/docs.json":
            await self.app(scope, receive, self._rewritten(send, lambda status: status == 200, self._document))
            return
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        if self.auth and (refusal := self._refusal(scope)) is not None:
            await _answer(send, *refusal)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _answer(send, 413, self._too_large())
            return
        if length is None:
            buffered = await self._buffered(receive)
            if buffered is None:
                await _answer(send, 413, self._too_large())
                return
            receive = buffered
        if self.in_flight >= self.max_in_flight:
            await _answer(send, 429, {"message": "too many requests in progress; retry after a pause"})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, self._rewritten(send, lambda status: status == 400, readable_errors))
        finally:
            self.in_flight -= 1

    def _refusal(self, scope: Scope) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
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
        return None

    def _too_large(self) -> dict[str, Any]:
        return {"message": f"request body over {self.limit // 2**20} MiB; send fewer items per call"}

    async def _buffered(self, receive: Receive) -> Receive | None:
        """A body without a Content-Length, read up to the limit and replayed to the app; None past the limit."""
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return receive
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                return None
        body, sent = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

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
