"""The load generator: an open-loop schedule of single-lead requests over keep-alive connections, and batch
requests one at a time, against a running server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import statistics
import time
from dataclasses import dataclass

import httpx
import numpy as np

from benchmarks.serve.payloads import BATCH, ROUTE, numbered
from benchmarks.server import Server

KEY = "bench-key-0123456789abcdef"
KEEPALIVE_S = 4.0  # below uvicorn's 5 s keep-alive timeout


@dataclass
class Load:
    """Open-loop run. Latency runs from a request's slot in the schedule to its whole answer, so a late send counts
    against it; a request with no answer by ``cap_s`` after its slot is abandoned. In the percentiles a failed
    request (an error answer such as a fast 429, or none) ranks as slower than every good one."""

    rate: float
    duration_s: float
    cap_s: float
    latency: list[float]  # every request sent, failed ones included (abandoned ones at cap_s)
    good: list[bool]  # answered 200 with a result
    lag: list[float]  # how late each request left its slot (the load generator's own delay)
    errors: dict[str, int]
    elapsed_s: float  # first slot to last answer
    client_cpu_s: float
    server_cpu_s: float
    unloaded: list[float]  # the warm-up's requests sent one at a time (not in the figures above)
    unloaded_cpu_s: float  # server CPU seconds a request while they were sent
    connections: int  # keep-alive connections opened (an abandoned request's connection is closed)
    scored: int  # requests the server scored (prediction log) from the first slot to the last answer
    settle_s: float = 0.0  # seconds the server stayed busy after the load (abandoned requests)
    scored_after: int = 0  # requests it scored in that time

    @property
    def sent(self) -> int:
        return len(self.latency)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def achieved(self) -> float:
        """Good answers per second, over the time from the first slot to the last answer."""
        return (self.sent - self.error_count) / self.elapsed_s

    def ms(self, q: float, latency: list[float] | None = None) -> float:
        """Quantile in ms; of all requests, failed ones as infinitely slow, unless ``latency`` is given."""
        if latency is None:
            latency = [t if ok else np.inf for t, ok in zip(self.latency, self.good, strict=True)]
        return 1e3 * float(np.quantile(latency, q, method="higher")) if latency else float("nan")

    def good_ms(self, q: float) -> float:
        return self.ms(q, [t for t, ok in zip(self.latency, self.good, strict=True) if ok])

    def shown(self, q: float) -> str:
        value = self.ms(q)
        return "failed" if not np.isfinite(value) else f"{value:,.1f} ms"


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def check(response: httpx.Response, leads: int) -> str | None:
    """Why an answer is wrong (None: it is a 200 with one result per lead)."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    if response.content.count(b'"lead_id"') != leads:
        return "wrong number of results"
    return None


class Connections:
    """Keep-alive connections for an open-loop run: one single-connection ``httpx.AsyncClient`` per request in
    flight, taken from the idle ones or opened when none is idle (up to ``limit``; later requests wait for one).

    A request abandoned mid-flight takes its client with it (closed, never reused): cancelling requests on one
    shared pool under contention wedges httpcore 1.0.9's pool (encode/httpcore#1093; seen here as a load generator
    spinning at 100% CPU with the server idle)."""

    def __init__(self, url: str, limit: int, timeout_s: float) -> None:
        self.url, self.timeout_s = url, timeout_s
        self.idle: list[httpx.AsyncClient] = []
        self.gate = asyncio.Semaphore(limit)
        self.opened = self.dropped = 0
        self.closing: set[asyncio.Task] = set()
        self.tls = ssl.create_default_context()  # shared: httpx builds one (~20 ms, certifi) per client otherwise

    def _new(self) -> httpx.AsyncClient:
        self.opened += 1
        # Idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s) closes them: reusing
        # one the server is closing at that moment fails with a ReadError that says nothing about the service.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=KEEPALIVE_S)
        return httpx.AsyncClient(
            base_url=self.url, headers=headers(), limits=limits, timeout=self.timeout_s, verify=self.tls
        )

    async def post(self, payload: bytes) -> httpx.Response:
        async with self.gate:
            client = self.idle.pop() if self.idle else self._new()
            try:
                response = await client.post(ROUTE, content=payload)
            except BaseException:  # cancelled (abandoned) or failed: this connection is not reused
                self.dropped += 1
                task = asyncio.get_running_loop().create_task(client.aclose())
                self.closing.add(task)
                task.add_done_callback(self.closing.discard)
                raise
            self.idle.append(client)
            return response

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await asyncio.gather(*self.closing, *(c.aclose() for c in self.idle), return_exceptions=True)


async def _open_loop(server: Server, payload: bytes, rate: float, duration_s: float, cap_s: float) -> Load:
    pool = Connections(server.url, limit=2_000, timeout_s=cap_s + 5)
    try:
        # warm-up: requests one at a time (their latencies are kept apart), then a burst to open a few connections
        unloaded, cpu0 = [], server.cpu_s()
        for _ in range(50):
            began = time.perf_counter()
            response = await pool.post(payload)
            unloaded.append(time.perf_counter() - began)
            if problem := check(response, 1):
                raise RuntimeError(f"warm-up request failed: {problem}: {response.text[:500]}")
        unloaded_cpu_s = (server.cpu_s() - cpu0) / len(unloaded)
        await asyncio.gather(*(pool.post(payload) for _ in range(16)))

        loop = asyncio.get_running_loop()
        latency: list[float] = []
        good: list[bool] = []
        lag: list[float] = []
        errors: dict[str, int] = {}
        last = [0.0]

        async def one(slot: float, i: int) -> None:
            lag.append(loop.time() - slot)
            try:
                async with asyncio.timeout_at(slot + cap_s):
                    problem = check(await pool.post(numbered(payload, i)), 1)
            except TimeoutError:
                problem = f"no answer within {cap_s:g} s"
            except httpx.HTTPError as exc:
                problem = type(exc).__name__
            now = loop.time()
            last[0] = max(last[0], now)
            latency.append(min(now - slot, cap_s))
            good.append(problem is None)
            if problem is not None:
                errors[problem] = errors.get(problem, 0) + 1

        count = round(rate * duration_s)
        cpu0, server0, scored0 = time.process_time(), server.cpu_s(), server.scored()
        start = loop.time() + 0.05
        tasks = []
        for i in range(count):
            slot = start + i / rate
            wait = slot - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(slot, i)))
        await asyncio.gather(*tasks)
        client_cpu, server_cpu = time.process_time() - cpu0, server.cpu_s() - server0
        scored = server.scored() - scored0
    finally:
        await pool.aclose()
    elapsed, cpu, warm = last[0] - start, (client_cpu, server_cpu), (unloaded, unloaded_cpu_s)
    return Load(rate, duration_s, cap_s, latency, good, lag, errors, elapsed, *cpu, *warm, pool.opened, scored)


def open_loop(server: Server, payload: bytes, rate: float, duration_s: float, cap_s: float) -> Load:
    """The run, then a wait until the server has worked through what the client abandoned."""
    load = asyncio.run(_open_loop(server, payload, rate, duration_s, cap_s))
    before = server.scored()
    load.settle_s = settle(server)
    load.scored_after = server.scored() - before
    return load


def settle(server: Server, limit_s: float = 900) -> float:
    """Wait until the server is idle (it may still work through requests the client abandoned): seconds waited."""
    began, before = time.perf_counter(), server.cpu_s()
    while time.perf_counter() - began < limit_s:
        time.sleep(1.0)
        now = server.cpu_s()
        if now - before < 0.05:
            break
        before = now
    return time.perf_counter() - began


@dataclass
class Batches:
    seconds: list[float]  # one request each, client side
    activities: float  # mean a lead
    body_mib: float
    errors: dict[str, int]
    server_cpu_s: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def leads_s(self) -> float:
        return BATCH / self.median_s


def batches(server: Server, payloads: list[bytes], count: int) -> Batches:
    """``count`` 1,000-lead requests one after another over one keep-alive connection (after one warm-up)."""
    seconds, errors = [], {}
    with httpx.Client(base_url=server.url, headers=headers(), timeout=300) as client:
        client.post(ROUTE, content=payloads[-1])
        cpu0 = server.cpu_s()
        for i in range(count):
            began = time.perf_counter()
            try:
                response = client.post(ROUTE, content=payloads[i % len(payloads)])
                elapsed, problem = time.perf_counter() - began, check(response, BATCH)
            except httpx.HTTPError as exc:
                elapsed, problem = time.perf_counter() - began, type(exc).__name__
            if problem is None:
                seconds.append(elapsed)
            else:
                errors[problem] = errors.get(problem, 0) + 1
        server_cpu = server.cpu_s() - cpu0
    acts = [len(x["activities"]) for p in payloads for x in json.loads(p)["leads"]]
    mib = statistics.mean(len(p) for p in payloads) / 2**20
    return Batches(seconds, statistics.mean(acts), mib, errors, server_cpu)
