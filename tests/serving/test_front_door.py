"""The front door (``serving.http``) against hostile callers, over real HTTP: senders that stall, scans of unknown
paths, bodies that are not JSON, inputs built to be echoed back, and request ids that are reused or unsafe."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from features.insights.monitoring.outcomes import read_log
from features.settings import PUBLIC_METRICS
from serving.http import EXCERPT, ApiGuard, Message, Receive, Scope, Send, in_flight
from serving.request_ids import RequestIds
from serving.schemas.scoring import LEAD_EXAMPLE
from tests.serving.server import KEY, Server

STALLED = 32  # as many as the default in-flight slots
#: Every POST route under /v1.
ROUTES = (
    "leads/score",
    "opportunities/score",
    "forecast",
    "targets/attainment",
    "checks",
    "leads/sweep",
    "activities/quality",
    "leads/route",
)


def _connect(server: Server, head: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port))
    connection.sendall(head)
    return connection


def _stalled_body(server: Server) -> socket.socket:
    """A scoring call that sends its headers and one byte of its 666-byte body, then nothing."""
    head = (
        f"POST /v1/leads/score HTTP/1.1\r\nHost: salesml\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 666\r\n\r\n{"
    )
    return _connect(server, head.encode())


def _stalled_headers(server: Server) -> socket.socket:
    """A call whose headers never end."""
    return _connect(
        server, f"POST /v1/leads/score HTTP/1.1\r\nHost: salesml\r\nAuthorization: Bearer {KEY}\r\n".encode()
    )


def _answer_of(connection: socket.socket, timeout_s: float) -> bytes:
    """Everything the server sends until it closes the connection."""
    connection.settimeout(timeout_s)
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received


def _trickle(connection: socket.socket, seconds: float) -> None:
    """One byte of body every 0.5 s for ``seconds``: never a pause over the timeout, far below the minimum rate. It
    stops before the server drops it (bytes sent after that would reset the connection before its answer is read)."""
    for _ in range(int(seconds / 0.5)):
        time.sleep(0.5)
        connection.sendall(b" ")


@pytest.mark.slow  # waits out the read timeout
def test_stalled_senders_hold_no_slot_and_are_dropped(server: Server) -> None:
    """32 calls stalled in their bodies and 32 in their headers: other callers are answered at once meanwhile; the
    stalled get 408 with their connections closed after SALESML_BODY_TIMEOUT_S (10 s), and so does a sender that
    trickles its body (below SALESML_BODY_MIN_KIB_S), though it never pauses for 10 s."""
    with server.client() as client:
        assert client.post("/v1/leads/score", json=LEAD_EXAMPLE).status_code == 200  # warm
        stalled = [_stalled_body(server) for _ in range(STALLED)]
        headless = [_stalled_headers(server) for _ in range(STALLED)]
        trickling = _stalled_body(server)
        threading.Thread(target=_trickle, args=(trickling, 9), daemon=True).start()
        started = time.monotonic()
        time.sleep(1)  # the service has their headers: each would hold an in-flight slot while its body is read
        try:
            while time.monotonic() - started < 8:
                before = time.monotonic()
                answer = client.post("/v1/leads/score", json=LEAD_EXAMPLE)
                assert answer.status_code == 200, answer.text
                assert time.monotonic() - before < 1
                time.sleep(0.2)
            answers = [_answer_of(connection, timeout_s=15) for connection in [*stalled, trickling]]
        finally:
            for connection in [*stalled, *headless, trickling]:
                connection.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") and b"connection: close" in a.lower() for a in answers), answers[0]
    assert b"16 KiB/s" in answers[0]
    assert 9 < time.monotonic() - started < 15  # the trickler alone would wait until 19 s


def test_metrics_need_a_key_and_stay_small_after_a_scan(server: Server) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    with server.client() as client:
        before = len(client.get("/metrics").content)
        for i in range(170):
            scan = uuid.uuid4().hex
            assert client.get(f"/{scan}/{i}").status_code == 404
            assert client.post(f"/v1/{scan}", json={}).status_code == 404
            assert client.get(f"/static_content/{scan}.js").status_code == 404
        after = client.get("/metrics")
        assert client.get("/static_content/index.css").status_code == 200  # the docs page's files are routes
    assert after.status_code == 200
    assert len(after.content) - before < 20_000, len(after.content) - before  # was about 4 kB per unknown path
    assert scan not in after.text  # no unknown path is a label of its own (they share UNROUTED)


def test_the_docs_and_health_stay_open(server: Server) -> None:
    for path in ("/healthz", "/readyz", "/docs.json", "/", "/static_content/index.css"):
        assert httpx.get(f"{server.url}{path}").status_code == 200, path


def test_public_metrics_is_a_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    """``SALESML_PUBLIC_METRICS=on`` opens /metrics and nothing else (the guard around a one-line app)."""

    async def metrics(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"salesml_up 1\n"})

    monkeypatch.setenv("SALESML_API_KEYS", KEY)
    for public, status in (("off", 401), ("on", 200)):
        monkeypatch.setenv(PUBLIC_METRICS.name, public)
        client = TestClient(ApiGuard(metrics))  # no lifespan: the app answers HTTP only
        assert client.get("/metrics").status_code == status
        assert client.get("/v1/models").status_code == 401


def test_a_call_sees_how_many_calls_its_worker_is_answering(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each /v1 call's request state holds its worker's count of calls in progress (what decides whether its scoring
    may run on the event loop): 1 alone, 2 while another is answered, none left after."""
    seen: list[int] = []
    second = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls = in_flight(Request(scope).state)
        seen.append(calls.count if calls is not None else -1)
        if len(seen) == 1:
            await asyncio.wait_for(second.wait(), 5)  # answered once the second call is in
        else:
            second.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def call(guard: ApiGuard) -> list[Message]:
        headers = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
        scope = {"type": "http", "method": "POST", "path": "/v1/leads/score", "headers": headers}
        sent: list[Message] = []

        async def receive() -> Message:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: Message) -> None:
            sent.append(message)

        await guard(scope, receive, send)
        return sent

    async def both() -> ApiGuard:
        guard = ApiGuard(app)
        first = asyncio.create_task(call(guard))
        await asyncio.sleep(0.01)
        await asyncio.gather(first, call(guard))
        return guard

    monkeypatch.setenv("SALESML_API_KEYS", KEY)
    guard = asyncio.run(both())
    assert seen == [1, 2] and guard.calls.count == 0
    assert in_flight(Request({"type": "http"}).state) is None  # a call not through the guard: counted as alone


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"leads=" + b"x" * (2 * 2**20)),  # a field over 1 MB: was a 500
        ("application/x-www-form-urlencoded", b"leads=a&as_of=b"),
        ("multipart/form-data", b"--x\r\n\r\n"),  # no boundary: was a 500
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="leads"\r\n\r\na\r\n--x--'),
        ("text/plain", json.dumps(LEAD_EXAMPLE).encode()),
        ("application/xml", b"<leads/>"),
        ("application/vnd.bentoml+pickle", b"\x80\x04N."),
        ("", json.dumps(LEAD_EXAMPLE).encode()),
    ],
)
def test_bodies_that_are_not_json_are_415(server: Server, content_type: str, body: bytes) -> None:
    with server.client() as client:
        for route in ROUTES if len(body) < 2**20 else ROUTES[:1]:
            answer = client.post(f"/v1/{route}", content=body, headers={"content-type": content_type})
            assert answer.status_code == 415, (route, answer.text)
            assert "application/json" in answer.json()["message"]


def test_json_with_a_charset_or_no_content_type_is_scored(server: Server) -> None:
    with server.client() as client:
        body = json.dumps(LEAD_EXAMPLE).encode()
        typed = client.post(
            "/v1/leads/score", content=body, headers={"content-type": "Application/JSON; charset=utf-8"}
        )
        untyped = client.post("/v1/leads/score", content=body)  # no Content-Type: taken as JSON
    assert typed.status_code == 200 and untyped.status_code == 200, untyped.text


def test_an_error_never_echoes_more_than_a_prefix_of_the_input(server: Server) -> None:
    secret = "echo-me-" * 1000
    leads = [{**LEAD_EXAMPLE["leads"][0], "lead_id": f"{i}", "bogus": 1} for i in range(900)]
    with server.client() as client:
        answers = [
            client.post("/v1/leads/score", json={**LEAD_EXAMPLE, secret: 1}),  # an unknown field named by the input
            client.post("/v1/leads/score", content=secret.encode(), headers={"content-type": "application/json"}),
            client.post("/v1/leads/score", json={**LEAD_EXAMPLE, "leads": leads}),  # 900 errors
            client.get("/v1/report", params={"locale": secret}),
        ]
    for answer in answers:
        assert answer.status_code == 422, answer.text[:300]
        assert len(answer.content) < 8_000, len(answer.content)
        assert secret[: EXCERPT + 10] not in answer.text
    assert "and 880 more" in answers[2].json()["message"]


def _score(server: Server, request_id: str) -> httpx.Response:
    with server.client() as client:
        answer = client.post("/v1/leads/score", json=LEAD_EXAMPLE, headers={"X-Request-ID": request_id.encode()})
    assert answer.status_code == 200, answer.text
    return answer


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("crm id with spaces", "crm?id?with?spaces"),
        ("x" * 65, "x" * 64),
        ('{"injected": 1}', "??injected?:?1?"),
        ("überall", "??berall"),  # UTF-8 bytes, read as Latin-1 as HTTP headers are
    ],
)
def test_an_unsafe_request_id_is_kept_aside(server: Server, asked: str, kept: str) -> None:
    answer = _score(server, asked)
    request_id = answer.json()["request_id"]
    assert request_id != asked and len(request_id) == 32 and answer.headers["x-request-id"] == request_id
    (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == request_id]
    assert record["client_request_id"] == kept


def test_a_request_id_names_one_call_a_day(server: Server) -> None:
    """A caller id is taken once; its reuse, on any endpoint, gets a server id and is logged as client_request_id."""
    asked = f"crm:{uuid.uuid4().hex[:12]}.1_a-b"
    first, again = _score(server, asked), _score(server, asked)
    with server.client() as client:
        report = client.get("/v1/report", params={"locale": "en"}, headers={"X-Request-ID": asked})
    assert first.json()["request_id"] == asked == first.headers["x-request-id"]
    assert again.json()["request_id"] != asked
    assert report.headers["x-request-id"] not in (asked, again.json()["request_id"])
    log = read_log(server.log_dir)
    assert [r.get("client_request_id") for r in log if r["request_id"] == asked] == [None]
    reused = [r for r in log if r.get("client_request_id") == asked]
    assert {r["endpoint"] for r in reused} == {"/v1/leads/score", "/v1/report"}


def test_request_ids_are_shared_by_workers_and_restarts(tmp_path: Path) -> None:
    """Two processes' views of one log directory (two workers, or a worker and its restart) never both take an id;
    past the day's capacity every caller id is kept aside."""
    one, other = RequestIds(tmp_path, capacity=3), RequestIds(tmp_path, capacity=3)
    assert one.assign("call-1") == {"request_id": "call-1"}
    assert other.assign("call-1")["client_request_id"] == "call-1"
    assert other.assign("call-2") == {"request_id": "call-2"}
    assert one.assign("call-2")["client_request_id"] == "call-2"
    assert one.assign("call-3") == {"request_id": "call-3"}
    assert other.assign("call-4")["client_request_id"] == "call-4"  # the day is full
    assert "client_request_id" not in one.assign(None)
