"""Serving benchmark: the real ``salesml serve`` under open-loop load and in batches, beside in-process scoring.

Run: ``.venv/bin/python -m benchmarks.serve [--quick] [--duration S] [--rate R] [--batches N]``. In a temporary
directory (never the repository's own stores) it synthesises a CRM (``salesml data synth``), trains lead_score
with a few trials into a private MLflow store, exports it into a private BentoML store and starts ``salesml serve``
on a free loopback port, as a user does. Then:

1. one lead with a realistic 100-activity history (calls, e-mails, visits, web visits... over the ~10 days before
   ``as_of``, inbound and outbound), scored with the top-5 factors, sent open-loop at a fixed rate (default
   100 requests/s for 60 s) over keep-alive connections (``httpx.AsyncClient``, one connection a request in
   flight): each request leaves at its slot whether or not earlier ones have answered, and every request's
   latency is kept, from its slot to its answer (abandoned, and counted as an error, ``--cap`` s after its slot).
   Each request sends the same lead under its own id (``BENCH-0001-000042``), as a CRM sends different leads:
   calls in flight together are scored in shared batches (``serving.batching``), which calls about one lead
   cannot share;
2. batches of 1,000 leads with 20-100 activities each, one request at a time: leads/s (median over the batches);
3. the single-lead request scored in-process on the service's own code path (``ServingContext.leads`` ->
   ``build_features`` -> ``Scorer.predict_with_factors``), the scorer and context read from the BentoML store as
   the service reads them: median over many runs, and the ratio HTTP p50 / in-process;
4. the floor: the same open-loop load and batches on ``benchmarks.floor`` (the service's guard, request parsing and
   response models, nothing scored; ``--no-floor`` skips it), so the report tells the framework's share of each
   figure on this machine from salesml's.

Prints a markdown section and, at full size, writes its section of BENCHMARKS.md.
Targets from the issue: single lead p50 <= 5 ms, p99 <= 15 ms, no errors at 100 requests/s; >= 5,000 leads/s in
batches of 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil

from benchmarks.report import machine, median_time, write_section
from features.blend import tree_count
from tests.service.server import Server as LoopbackServer
from tests.service.server import Stores

ROOT = Path(__file__).resolve().parents[1]
TARGET_P50_MS, TARGET_P99_MS, TARGET_LEADS_S = 5.0, 15.0, 5_000.0
CORES, MODEL, TOP, BATCH = 2, "lead_score", 5, 1_000
KEEPALIVE_S = 4.0  # below uvicorn's 5 s keep-alive timeout
KEY = "bench-key-0123456789abcdef"
ROUTE = "/v1/leads/score"


@dataclass(frozen=True)
class Size:
    leads: int  # synthetic CRM the model is trained on and requests are scored against
    trials: int
    duration_s: float
    batches: int
    repeats: int  # in-process runs of the single-lead request
    probe_s: float  # seconds of the second open-loop run, below capacity


SIZES = {"full": Size(20_000, 5, 60.0, 10, 500, 30.0), "quick": Size(5_000, 2, 10.0, 3, 100, 10.0)}

# Activity mix of a lead being worked: (type, share, direction or None for either, duration range in s or None)
MIX = (
    ("call", 0.30, "outbound", (20, 900)),
    ("email", 0.20, None, None),
    ("web_visit", 0.18, "inbound", (10, 600)),
    ("message", 0.10, None, None),
    ("visit", 0.07, "outbound", (1_800, 7_200)),
    ("download", 0.05, "inbound", None),
    ("meeting", 0.05, "outbound", (1_800, 5_400)),
    ("form", 0.03, "inbound", None),
    ("demo", 0.02, "outbound", (2_400, 5_400)),
)
NOTES = (
    "客户关注预算审批流程和上线周期",
    "已沟通需求，约了下周电话",
    "客户在比价，关注交付时间",
    "初步了解需求",
    "Asked about delivery time",
    "Budget approved for Q1, wants a demo for the CTO",
    "产品手册下载",
    "跟进中",
)
ROLES = ("ceo", "cto", "procurement", "finance", "engineer")


# --- requests -----------------------------------------------------------------------------------------------------


def _iso(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Crm:
    """Values the synthetic CRM uses, so requests name real reps, accounts and categories."""

    as_of: pd.Timestamp
    reps: list[str]
    accounts: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def read(cls, data: Path) -> Crm:
        leads = pd.read_parquet(data / "leads.parquet")
        as_of = pd.Timestamp(leads["created_at"].max()).ceil("D") + pd.Timedelta(hours=9)
        columns = ("source", "region", "industry", "company_size")
        return cls(
            as_of,
            sorted(pd.read_parquet(data / "reps.parquet")["rep_id"].astype(str)),
            sorted(pd.read_parquet(data / "accounts.parquet")["account_id"].astype(str)),
            {c: sorted(leads[c].dropna().astype(str).unique()) for c in columns},
        )


def lead(crm: Crm, rng: np.random.Generator, lead_id: str, activities: int, days: float = 10.0) -> dict[str, Any]:
    """A lead created about ``days`` before ``as_of`` with ``activities`` events between then and ``as_of``."""
    created = crm.as_of - pd.Timedelta(days=days) + pd.Timedelta(minutes=int(rng.integers(0, 120)))
    owner = str(rng.choice(crm.reps))
    span_s = (crm.as_of - created).total_seconds()
    offsets = np.sort(rng.uniform(60, span_s - 60, activities))
    shares = np.array([m[1] for m in MIX])
    kinds = rng.choice(len(MIX), size=activities, p=shares / shares.sum())
    events = []
    for offset, k in zip(offsets, kinds, strict=True):
        kind, _, direction, duration = MIX[k]
        when = created + pd.Timedelta(seconds=float(offset))
        event: dict[str, Any] = {"occurred_at": _iso(when), "type": kind}
        event["direction"] = direction or ("inbound" if rng.random() < 0.4 else "outbound")
        if duration is not None:
            event["duration_s"] = int(rng.integers(*duration))
        if kind in ("visit", "meeting", "demo"):
            event["contact_role"] = str(rng.choice(ROLES))
        if rng.random() < 0.4:
            event["note"] = str(rng.choice(NOTES))
        if event["direction"] == "outbound":
            event["rep_id"] = owner
        if rng.random() < 0.2:  # logged later, but before as_of
            late = min(when + pd.Timedelta(hours=float(rng.uniform(1, 48))), crm.as_of)
            event["recorded_at"] = _iso(late)
        events.append(event)
    events[0] = {"occurred_at": _iso(created + pd.Timedelta(seconds=30)), "type": "form", "direction": "inbound"}
    return {
        "lead_id": lead_id,
        "created_at": _iso(created),
        **{c: str(rng.choice(values)) for c, values in crm.categories.items()},
        "owner_rep_id": owner,
        "account_id": str(rng.choice(crm.accounts)),
        "activities": events,
    }


def body(crm: Crm, leads: list[dict[str, Any]]) -> bytes:
    request = {"as_of": _iso(crm.as_of), "locale": "zh-CN", "top": TOP, "leads": leads}
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


SINGLE_ID = "BENCH-0001"


def single_body(crm: Crm, activities: int, seed: int) -> bytes:
    return body(crm, [lead(crm, np.random.default_rng(seed), SINGLE_ID, activities)])


def numbered(payload: bytes, i: int) -> bytes:
    """The single-lead request with its lead under the i-th id."""
    return payload.replace(f'"{SINGLE_ID}"'.encode(), f'"{SINGLE_ID}-{i:06d}"'.encode(), 1)


def batch_body(crm: Crm, size: int, seed: int, low: int = 20, high: int = 100) -> bytes:
    rng = np.random.default_rng(seed)
    counts = rng.integers(low, high + 1, size)
    return body(crm, [lead(crm, rng, f"BENCH-{seed}-{i:04d}", int(n)) for i, n in enumerate(counts)])


# --- the service ----------------------------------------------------------------------------------------------------


def salesml(*args: object, env: dict[str, str]) -> float:
    """Run the real ``salesml`` command; its wall seconds (raises with its output when it fails)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "salesml_cli", *map(str, args)],
        cwd=ROOT,
        env=os.environ | env | {"COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"salesml {' '.join(map(str, args))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - began


def stores_env(root: Path) -> dict[str, str]:
    """The private stores of the tests' ``Stores``, with the benchmark's key."""
    return Stores(root, root / "data").env | {"SALESML_API_KEYS": KEY, "SALESML_API_KEY_FILE": ""}


def build_stores(root: Path, size: Size, seed: int) -> dict[str, float]:
    """Synthesise, train lead_score and close_probability (champions: the store is empty; the service declares
    both models) and export: seconds of each step."""
    env, data = stores_env(root), root / "data"
    synth = salesml("data", "synth", "--out", data, "--leads", size.leads, "--seed", seed, env=env)
    train = salesml("train", "--model", MODEL, "--data", data, "--trials", size.trials, env=env)
    salesml("train", "--model", "close_probability", "--data", data, "--trials", 1, env=env)
    return {"synth": synth, "train": train, "export": salesml("export", "--data", data, env=env)}


class Server(LoopbackServer):
    """The tests' real ``salesml serve`` on loopback, with what the benchmark reads off it."""

    @classmethod
    def of(cls, root: Path, cores: list[int], workers: int) -> Server:
        env = stores_env(root) | {"SALESML_WORKERS": str(workers)}
        return cls(Stores(root, root / "data"), root / "predictions", env=env, cores=cores)

    @classmethod
    def floor(cls, root: Path, cores: list[int]) -> Server:
        """``benchmarks.floor``: the service's HTTP path with nothing scored, on the same cores."""
        target = "benchmarks.floor:Floor"
        return cls(
            Stores(root, root / "data"), root / "predictions-floor", target=target, env=stores_env(root), cores=cores
        )

    def cpu_s(self) -> float:
        """User + system CPU seconds of the server's processes so far."""
        total = 0.0
        for p in self.processes():
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def scored(self) -> int:
        """Items in the prediction log so far: what the server scored, whether or not the client still waited."""
        return sum(f.read_bytes().count(b"\n") for f in self.log_dir.glob("predictions-*.jsonl"))

    def rss_gib(self) -> float:
        return sum(p.memory_info().rss for p in self.processes()) / 2**30


# --- load -----------------------------------------------------------------------------------------------------------


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


# --- in-process -----------------------------------------------------------------------------------------------------


@dataclass
class InProcess:
    """Median seconds of the service's steps on one request body, each timed on its own, and together."""

    parse_s: float  # LeadScoreRequest.model_validate_json (BentoML's input validation does this work)
    prepare_s: float  # ServingContext.leads
    features_s: float  # build_features
    score_s: float  # Scorer.predict_with_factors(top=5)
    pipeline_s: float  # prepare + features + score in one call, the figure compared with HTTP
    endpoint_s: float  # the endpoint method: the pipeline, the response objects and the prediction log write
    trees: int
    features: int


def load_service(root: Path) -> Any:
    """The service's own class, instantiated as BentoML does in a worker: models and history read from the BentoML
    store, the prediction log opened, the collector set up."""
    os.environ["BENTOML_HOME"] = str(root / "bentoml")  # BentoML reads its home when first imported
    os.environ["SALESML_PREDICTION_LOG"] = str(root / "predictions-in-process")
    from serving.service import SalesML

    return SalesML.inner()


def _context() -> Any:
    """What the endpoint reads of ``bentoml.Context``: the request's state, headers and path; response metadata."""
    request = SimpleNamespace(state=SimpleNamespace(), headers={}, url=SimpleNamespace(path=ROUTE))
    return SimpleNamespace(request=request, response=SimpleNamespace(metadata={}))


def in_process(service: Any, payload: bytes, repeats: int) -> InProcess:
    """The service's code path on ``payload``, step by step and as the endpoint method, without HTTP."""
    from serving.request import LeadScoreRequest

    context, scorer = service.context, service.models["lead"].scorer

    def pipeline(request: LeadScoreRequest) -> Any:
        prepared = context.leads(request)
        table = prepared.features()
        return scorer.predict_with_factors(table, top=request.top, locale=request.locale)

    loop = asyncio.new_event_loop()  # the endpoint is a coroutine; its batches run on the service's scoring thread

    def endpoint(request: LeadScoreRequest) -> Any:
        call = service.score_leads(request.leads, _context(), as_of=request.as_of, locale=request.locale, top=TOP)
        return loop.run_until_complete(call)

    request = LeadScoreRequest.model_validate_json(payload)
    for _ in range(5):  # warm-up: first calls pay for lazy imports and caches
        pipeline(request)
    parse_s, _ = median_time(lambda: LeadScoreRequest.model_validate_json(payload), repeats)
    prepare_s, prepared = median_time(lambda: context.leads(request), repeats)
    features_s, table = median_time(prepared.features, repeats)
    top, locale = request.top, request.locale
    score_s, _ = median_time(lambda: scorer.predict_with_factors(table, top=top, locale=locale), repeats)
    pipeline_s, _ = median_time(lambda: pipeline(request), repeats)
    endpoint_s, answer = median_time(lambda: endpoint(request), repeats)
    loop.close()
    if len(answer.results) != len(request.leads):
        raise RuntimeError("the endpoint method answered for other leads than it was given")
    trees, columns = tree_count(scorer.booster), len(table.columns)
    return InProcess(parse_s, prepare_s, features_s, score_s, pipeline_s, endpoint_s, trees, columns)


# --- report ---------------------------------------------------------------------------------------------------------


def error_counts(errors: dict[str, int]) -> str:
    """Failed requests by why, or 0."""
    return ", ".join(f"{n} {why}" for why, n in sorted(errors.items())) or "0"


def floor_rows(load: Load, batch: Batches, floor: Load, floor_batch: Batches) -> list[tuple[str, str]]:
    """The same load on ``benchmarks.floor`` (guard, parsing, response models; nothing scored), and what salesml
    adds to it; its p50, p99 and errors are in the targets table."""
    return [
        (
            "**floor** (`benchmarks/floor.py`: the same guard, request parsing and response models, nothing scored),"
            " same load: max latency",
            floor.shown(1.0),
        ),
        (
            "floor: one request at a time (the warm-up), p50; server CPU a request",
            f"{floor.ms(0.5, floor.unloaded):.1f} ms; {1e3 * floor.unloaded_cpu_s:.1f} ms",
        ),
        (
            "floor: cores busy during the load, server / load generator",
            f"{floor.server_cpu_s / floor.elapsed_s:.2f} / {floor.client_cpu_s / floor.elapsed_s:.2f}",
        ),
        (
            f"**floor: batches of {BATCH:,} leads, median**",
            f"**{floor_batch.median_s:.2f} s, {floor_batch.leads_s:,.0f} leads/s** (server CPU"
            f" {floor_batch.server_cpu_s / max(1, len(floor_batch.seconds)):.2f} s a batch)",
        ),
        (
            "salesml over the floor: p50 under load / batch median",
            f"{load.ms(0.5) - floor.ms(0.5):+.1f} ms / {batch.median_s - floor_batch.median_s:+.2f} s",
        ),
    ]


def probe_rows(probe: Load) -> list[tuple[str, str]]:
    errors = error_counts(probe.errors)
    return [
        (
            f"below capacity: {probe.rate:g} requests/s open-loop for {probe.duration_s:g} s: latency p50 / p90 /"
            " p99 / max",
            " / ".join(probe.shown(q) for q in (0.5, 0.9, 0.99, 1.0))
            + f"; errors {errors}; achieved {probe.achieved:.1f} requests/s;"
            f" server {probe.server_cpu_s / probe.elapsed_s:.2f} cores busy",
        )
    ]


def verdict(ok: bool, quick: bool) -> str:
    return "(quick run)" if quick else ("met" if ok else "**missed**")


def report(
    size: Size,
    args: argparse.Namespace,
    setup: dict[str, float],
    server_info: dict[str, Any],
    load: Load,
    probe: Load | None,
    batch: Batches,
    single: InProcess,
    batch_in: InProcess,
    command: str,
    floor: Load | None = None,
    floor_batch: Batches | None = None,
) -> str:
    import bentoml
    import uvicorn

    quick = q = args.quick
    p50, p99 = load.ms(0.5), load.ms(0.99)
    errors = error_counts(load.errors)
    batch_errors = error_counts(batch.errors)
    lag = 1e3 * np.asarray(load.lag)
    steps = ("parse_s", "prepare_s", "features_s", "score_s", "pipeline_s", "endpoint_s")
    in_ms = {k: 1e3 * getattr(single, k) for k in steps}
    alone = load.ms(0.5, load.unloaded)
    targets = [
        ("single lead, p50", load.shown(0.5), f"<= {TARGET_P50_MS:g} ms", verdict(p50 <= TARGET_P50_MS, q)),
        ("single lead, p99", load.shown(0.99), f"<= {TARGET_P99_MS:g} ms", verdict(p99 <= TARGET_P99_MS, q)),
        (
            f"single lead, errors (of {load.sent:,})",
            errors,
            "0",
            verdict(load.error_count == 0, quick),
        ),
        (
            f"batches of {BATCH:,} leads, median",
            f"{batch.leads_s:,.0f} leads/s",
            f">= {TARGET_LEADS_S:,.0f} leads/s",
            verdict(batch.leads_s >= TARGET_LEADS_S and not batch.errors, quick),
        ),
    ]
    floors = ["not run (--no-floor)"] * len(targets)
    if floor is not None and floor_batch is not None:
        floors = [
            floor.shown(0.5),
            floor.shown(0.99),
            error_counts(floor.errors),
            f"{floor_batch.leads_s:,.0f} leads/s",
        ]
    figures = [
        (
            "model",
            f"lead_score, {size.trials} trials on {size.leads:,} synthetic leads: {single.trees} trees,"
            f" {single.features} feature columns a row",
        ),
        (
            "server",
            f"`salesml serve` (BentoML {bentoml.__version__}, uvicorn {uvicorn.__version__}),"
            f" {args.workers} worker{'s' if args.workers > 1 else ''} ({server_info['processes']} processes) on cores"
            f" {server_info['cores']}, prediction log on,"
            f" RSS {server_info['rss_gib']:.2f} GiB after the load",
        ),
        (
            "load generator",
            f"httpx {httpx.__version__} `AsyncClient`s, keep-alive, one connection a request in flight"
            f" ({load.connections:,} opened), in this process on cores {server_info['client']}",
        ),
        (
            "single-lead request",
            f"1 lead, {args.activities} activities over 10 days, top {TOP} factors each way"
            f" ({len(args.single_payload):,} bytes); under load each request under its own lead id",
        ),
        (
            "offered load",
            f"{load.rate:g} requests/s open-loop for {load.duration_s:g} s ({load.sent:,} requests after a warm-up;"
            f" a request is abandoned {load.cap_s:g} s after its slot)",
        ),
        ("achieved rate (good answers / first slot to last answer)", f"{load.achieved:.1f} requests/s"),
        (
            "latency p50 / p90 / p99 / p99.9 / max, all requests (from the slot; failed: an error or no answer)",
            " / ".join(load.shown(q) for q in (0.5, 0.9, 0.99, 0.999, 1.0)),
        ),
        (
            "latency of the good answers alone: p50 / p99 / max",
            " / ".join(f"{load.good_ms(q):,.1f}" for q in (0.5, 0.99, 1.0)) + f" ms ({load.sent - load.error_count:,})",
        ),
        ("send lag behind the schedule p50 / max (load generator)", f"{np.median(lag):.2f} / {lag.max():.1f} ms"),
        (
            "cores busy during the load: server / load generator",
            f"{load.server_cpu_s / load.elapsed_s:.2f} / {load.client_cpu_s / load.elapsed_s:.2f}",
        ),
        (
            f"one request at a time ({len(load.unloaded)}, the warm-up): p50 / p99 / max",
            f"{alone:.1f} / {load.ms(0.99, load.unloaded):.1f} / {load.ms(1.0, load.unloaded):.1f} ms"
            f" (at most {1e3 / alone:.0f} requests/s in sequence); server CPU {1e3 * load.unloaded_cpu_s:.1f} ms"
            " a request",
        ),
        (
            "requests the server scored during the load / after it, abandoned by then (prediction log)",
            f"{load.scored:,} ({load.scored / load.elapsed_s:.1f}/s) / {load.scored_after:,} in the"
            f" {load.settle_s:.0f} s it stayed busy",
        ),
        *(probe_rows(probe) if probe is not None else []),
        (
            "in-process, single lead: `leads` / `build_features` / `predict_with_factors`, medians",
            f"{in_ms['prepare_s']:.2f} / {in_ms['features_s']:.2f} / {in_ms['score_s']:.2f} ms",
        ),
        (
            f"**in-process, single lead: the three in one call, median of {size.repeats}**",
            f"**{in_ms['pipeline_s']:.2f} ms**",
        ),
        (
            "in-process, single lead: the endpoint method `score_leads` (the three, response objects, prediction"
            " log record and write), median",
            f"{in_ms['endpoint_s']:.2f} ms",
        ),
        ("in-process, single lead: request parsing and validation (pydantic), median", f"{in_ms['parse_s']:.2f} ms"),
        (
            "**ratio HTTP p50 under load / in-process median**",
            f"**{p50 / in_ms['pipeline_s']:.2f}**" if np.isfinite(p50) else "n/a (the median request failed)",
        ),
        (
            "ratio HTTP p50 of the good answers under load / in-process median",
            f"{load.good_ms(0.5) / in_ms['pipeline_s']:.2f}",
        ),
        ("ratio HTTP p50 one at a time / in-process median", f"{alone / in_ms['pipeline_s']:.2f}"),
        (
            f"batches: {BATCH:,} leads a request",
            f"{batch.activities:.0f} activities a lead on average (20-100), {batch.body_mib:.1f} MiB a body,"
            f" {len(batch.seconds) + sum(batch.errors.values())} requests one at a time, errors {batch_errors}",
        ),
        (
            "batch seconds, median (runs)",
            f"{batch.median_s:.2f} s ({', '.join(f'{s:.2f}' for s in batch.seconds)})",
        ),
        ("**batch leads/s, median**", f"**{batch.leads_s:,.0f}**"),
        ("server CPU a batch", f"{batch.server_cpu_s / max(1, len(batch.seconds)):.2f} s"),
        (
            "in-process, one batch: parsing / `leads` / `build_features` / `predict_with_factors`, medians of 3",
            " / ".join(f"{getattr(batch_in, k):.2f}" for k in ("parse_s", "prepare_s", "features_s", "score_s"))
            + f" s (the last three in one call: {batch_in.pipeline_s:.2f} s; the endpoint method:"
            f" {batch_in.endpoint_s:.2f} s, {BATCH / (batch_in.parse_s + batch_in.endpoint_s):,.0f} leads/s with"
            " parsing)",
        ),
        *(floor_rows(load, batch, floor, floor_batch) if floor is not None and floor_batch is not None else []),
        (
            "setup (not timed above): synth / train lead_score / export",
            " / ".join(f"{setup[k]:.0f}" for k in ("synth", "train", "export")) + " s",
        ),
        ("1-min load average before / after (other work on the machine)", f"{args.load[0]:.1f} / {args.load[1]:.1f}"),
    ]
    lines = [
        "## Serving (benchmarks/serve.py)",
        "",
        f"{command} on {machine()} ({platform.python_implementation()}), {dt.date.today()}.",
        "A real `salesml serve` on a loopback port with a lead_score model trained in a temporary store. Latency is"
        " taken by the client from a request's slot in the open-loop schedule to its whole answer: HTTP, JSON and"
        " pydantic on both sides, queueing, the feature build, scores with factors and the prediction log write."
        " In-process is the service's code path on the same request, without HTTP or parsing. The floor is"
        " `benchmarks/floor.py` under the same load in the same run: the service's guard, request parsing and"
        " response models with nothing scored, i.e. what BentoML, pydantic and the load generator take on this"
        " machine before salesml does any work.",
        "",
        "| target | measured | target | verdict | the floor, same run (nothing scored) |",
        "|---|---|---|---|---|",
        *(f"| {a} | {b} | {c} | {d} | {e} |" for (a, b, c, d), e in zip(targets, floors, strict=True)),
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in figures),
        "",
    ]
    return "\n".join(lines)


def split_cores() -> tuple[list[int], list[int]]:
    """Server on the first ``CORES`` cores; the load generator on the others, or beside it when there are none."""
    available = sorted(os.sched_getaffinity(0))
    server = available[:CORES]
    return server, available[CORES:] or server


def prepare(root: Path, size: Size, seed: int) -> dict[str, float]:
    """Stores in ``root``: built, or reused when a run with ``--workdir`` built them with the same sizes."""
    done = root / "setup.json"
    wanted = {"leads": size.leads, "trials": size.trials, "seed": seed}
    if done.exists():
        setup = json.loads(done.read_text())
        if {k: setup.get(k) for k in wanted} != wanted:
            raise SystemExit(f"{root} holds stores built with {setup}; use another --workdir")
        return setup
    print(f"building stores in {root} ({size.leads:,} leads, {size.trials} trials)...", file=sys.stderr)
    setup = build_stores(root, size, seed) | wanted
    done.write_text(json.dumps(setup))
    return setup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run for trials (not written to results)")
    parser.add_argument("--duration", type=float, help="seconds of open-loop load (default: 60, or 10 with --quick)")
    parser.add_argument("--rate", type=float, default=100.0, help="single-lead requests a second (default: 100)")
    parser.add_argument(
        "--probe-rate", type=float, default=10.0, help="a second open-loop run at this rate, below capacity (0: none)"
    )
    parser.add_argument("--cap", type=float, default=10.0, help="seconds after its slot a request is abandoned")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (salesml serve --workers)")
    parser.add_argument("--batches", type=int, help=f"{BATCH:,}-lead requests timed (default: 10, or 3 with --quick)")
    parser.add_argument("--activities", type=int, default=100, help="activities of the single lead (default: 100)")
    parser.add_argument("--leads", type=int, help="synthetic leads to train on (default: 20,000, or 5,000 --quick)")
    parser.add_argument("--trials", type=int, help="Optuna trials (default: 5, or 2 with --quick)")
    parser.add_argument("--repeats", type=int, help="in-process runs of the single request (default: 500, or 100)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="keep the stores here and reuse them (default: a temporary dir)")
    parser.add_argument(
        "--floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also put the same load on benchmarks.floor, the HTTP path with nothing scored (default: on)",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and remove the stores on SIGTERM
    base = SIZES["quick" if args.quick else "full"]
    size = Size(
        args.leads or base.leads,
        args.trials or base.trials,
        args.duration or base.duration_s,
        args.batches or base.batches,
        args.repeats or base.repeats,
        base.probe_s,
    )
    server_cores, client_cores = split_cores()
    os.sched_setaffinity(0, client_cores)
    before = os.getloadavg()[0]

    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salesml-serve-bench-")))
        else:
            root = args.workdir.resolve()
            root.mkdir(parents=True, exist_ok=True)
        setup = prepare(root, size, args.seed)
        crm = Crm.read(root / "data")
        args.single_payload = single_body(crm, args.activities, args.seed)
        batch_payloads = [batch_body(crm, BATCH, args.seed + i) for i in range(1, 4)]

        server = Server.of(root, server_cores, args.workers).start(timeout_s=180)
        try:
            print(f"open-loop load: {args.rate:g}/s for {size.duration_s:g} s...", file=sys.stderr)
            load = open_loop(server, args.single_payload, args.rate, size.duration_s, args.cap)
            probe = None
            if args.probe_rate > 0:
                print(f"below capacity: {args.probe_rate:g}/s for {size.probe_s:g} s...", file=sys.stderr)
                probe = open_loop(server, args.single_payload, args.probe_rate, size.probe_s, args.cap)
            print(f"batches: {size.batches} x {BATCH:,} leads...", file=sys.stderr)
            batch = batches(server, batch_payloads, size.batches)
            server_info = {
                "processes": len(server.processes()),
                "cores": ",".join(map(str, server_cores)),
                "client": ",".join(map(str, client_cores)),
                "rss_gib": server.rss_gib(),
            }
        finally:
            server.stop()
        floor = floor_batch = None
        if args.floor:
            print("floor: the same load on benchmarks.floor (nothing scored)...", file=sys.stderr)
            server = Server.floor(root, server_cores).start(timeout_s=180)
            try:
                floor = open_loop(server, args.single_payload, args.rate, size.duration_s, args.cap)
                floor_batch = batches(server, batch_payloads, size.batches)
            finally:
                server.stop()
        print("in-process...", file=sys.stderr)
        os.sched_setaffinity(0, server_cores)  # in-process runs where the server ran
        service = load_service(root)
        single = in_process(service, args.single_payload, size.repeats)
        batch_in = in_process(service, batch_payloads[0], 3)
    args.load = (before, os.getloadavg()[0])

    flags = " --quick" if args.quick else ""
    command = (
        f"`.venv/bin/python -m benchmarks.serve{flags} --duration {size.duration_s:g} --rate {args.rate:g}"
        f" --probe-rate {args.probe_rate:g} --cap {args.cap:g} --workers {args.workers} --batches {size.batches}"
        f" --leads {size.leads} --trials {size.trials}{'' if args.floor else ' --no-floor'}`"
    )
    text = report(size, args, setup, server_info, load, probe, batch, single, batch_in, command, floor, floor_batch)
    print(text)
    if not args.quick:
        write_section("serve", text)
    met = (
        load.ms(0.5) <= TARGET_P50_MS
        and load.ms(0.99) <= TARGET_P99_MS
        and load.error_count == 0
        and batch.leads_s >= TARGET_LEADS_S
        and not batch.errors
    )
    return 0 if args.quick or met else 1


if __name__ == "__main__":
    sys.exit(main())
