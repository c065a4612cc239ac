"""The serving benchmark's section of BENCHMARKS.md: its targets with their verdicts beside the floor, and every
figure of the run."""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
import numpy as np

from benchmarks.report import figure_table, machine
from benchmarks.serve.inprocess import InProcess
from benchmarks.serve.load import Batches, Load
from benchmarks.serve.payloads import BATCH, TOP
from benchmarks.stores import StoreSize

#: In-process medians of one lead with 100 activities: features, score and factors; and the endpoint method.
TARGET_PIPELINE_MS, TARGET_ENDPOINT_MS = 2.0, 3.0
#: Over HTTP, what salesml may add to the floor's latency under the same load.
TARGET_P50_OVER_FLOOR_MS, TARGET_P99_OVER_FLOOR_MS = 3.0, 10.0
#: Batches of 1,000 leads: in-process with request parsing, and over HTTP as a share of the floor's leads/s.
TARGET_LEADS_S, TARGET_BATCH_FLOOR_SHARE = 5_000.0, 0.7


@dataclass(frozen=True)
class Size:
    store: StoreSize  # the synthetic CRM and the training the served model comes from
    duration_s: float
    batches: int
    repeats: int  # in-process runs of the single-lead request
    probe_s: float  # seconds of the second open-loop run, below capacity
    batch_repeats: int  # in-process runs of one batch request


@dataclass(frozen=True)
class Run:
    """What one run measured, and how it was sized."""

    size: Size
    quick: bool
    workers: int
    activities: int  # of the single lead
    single_bytes: int
    setup: dict[str, float]  # seconds of the store's build steps
    server: dict[str, Any]  # processes, cores, the load generator's cores, RSS after the load
    load: Load
    probe: Load | None
    batch: Batches
    single: InProcess
    batch_in: InProcess
    floor: Load | None
    floor_batch: Batches | None
    loadavg: tuple[float, float]  # 1-minute load average before and after


class Target(NamedTuple):
    name: str
    measured: str
    target: str
    met: bool
    floor: str  # the floor's figure in the same run


def error_counts(errors: dict[str, int]) -> str:
    """Failed requests by why, or 0."""
    return ", ".join(f"{n} {why}" for why, n in sorted(errors.items())) or "0"


def targets(run: Run) -> list[Target]:
    """The targets, each with whether the run met it and the floor's figure beside it; the HTTP ones are the floor's
    figures plus what salesml may add, so a run without the floor meets none of them."""
    load, batch, floor, floor_batch, single, batch_in = (
        run.load, run.batch, run.floor, run.floor_batch, run.single, run.batch_in
    )  # fmt: skip
    floored = floor is not None and floor_batch is not None
    no_floor = "not run (--no-floor)"
    in_process_leads_s = BATCH / (batch_in.parse_s + batch_in.endpoint_s)
    in_process = "no HTTP: in this process"
    return [
        Target(
            "single lead in-process: features, score and factors, median",
            f"{single.pipeline_s * 1e3:.2f} ms",
            f"<= {TARGET_PIPELINE_MS:g} ms",
            single.pipeline_s * 1e3 <= TARGET_PIPELINE_MS,
            in_process,
        ),
        Target(
            "single lead in-process: the endpoint method with its log record, median",
            f"{single.endpoint_s * 1e3:.2f} ms",
            f"<= {TARGET_ENDPOINT_MS:g} ms",
            single.endpoint_s * 1e3 <= TARGET_ENDPOINT_MS,
            in_process,
        ),
        Target(
            "single lead over HTTP, p50",
            load.shown(0.5),
            f"<= the floor's + {TARGET_P50_OVER_FLOOR_MS:g} ms",
            floored and load.ms(0.5) <= floor.ms(0.5) + TARGET_P50_OVER_FLOOR_MS,
            floor.shown(0.5) if floored else no_floor,
        ),
        Target(
            "single lead over HTTP, p99",
            load.shown(0.99),
            f"<= the floor's + {TARGET_P99_OVER_FLOOR_MS:g} ms",
            floored and load.ms(0.99) <= floor.ms(0.99) + TARGET_P99_OVER_FLOOR_MS,
            floor.shown(0.99) if floored else no_floor,
        ),
        Target(
            f"single lead over HTTP, errors (of {load.sent:,})",
            error_counts(load.errors),
            "0",
            load.error_count == 0,
            error_counts(floor.errors) if floored else no_floor,
        ),
        Target(
            f"batches of {BATCH:,} leads in-process, with request parsing",
            f"{in_process_leads_s:,.0f} leads/s",
            f">= {TARGET_LEADS_S:,.0f} leads/s",
            in_process_leads_s >= TARGET_LEADS_S,
            in_process,
        ),
        Target(
            f"batches of {BATCH:,} leads over HTTP, median",
            f"{batch.leads_s:,.0f} leads/s",
            f">= {TARGET_BATCH_FLOOR_SHARE:g}x the floor's",
            floored and batch.leads_s >= TARGET_BATCH_FLOOR_SHARE * floor_batch.leads_s and not batch.errors,
            f"{floor_batch.leads_s:,.0f} leads/s" if floored else no_floor,
        ),
    ]


def verdict(met: bool, quick: bool) -> str:
    return "(quick run)" if quick else ("met" if met else "**missed**")


def floor_rows(load: Load, batch: Batches, floor: Load, floor_batch: Batches, scored_s: float) -> list[tuple[str, str]]:
    """The same load on ``benchmarks.floor`` (guard, parsing, response models; nothing scored), and what salesml
    adds to it (``scored_s``: a batch's rows, features, scores and input hashes in process); its p50, p99 and
    errors are in the targets table."""
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
        (
            "batches over HTTP: the most this parser and feature engine allow (the floor's batch plus the rows,"
            " features, scores and input hashes in process, as if answers and the rest of the log cost nothing)",
            f"{floor_batch.median_s + scored_s:.2f} s, at most"
            f" {floor_batch.median_s / (floor_batch.median_s + scored_s):.2f}x the floor's leads/s",
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


def load_rows(run: Run) -> list[tuple[str, str]]:
    """The server, the load generator and the open-loop run."""
    import bentoml
    import uvicorn

    load, server, workers = run.load, run.server, run.workers
    lag = 1e3 * np.asarray(load.lag)
    alone = load.ms(0.5, load.unloaded)
    return [
        (
            "server",
            f"`salesml serve` (BentoML {bentoml.__version__}, uvicorn {uvicorn.__version__}),"
            f" {workers} worker{'s' if workers > 1 else ''} ({server['processes']} processes) on cores"
            f" {server['cores']}, prediction log on, RSS {server['rss_gib']:.2f} GiB after the load",
        ),
        (
            "load generator",
            f"httpx {httpx.__version__} `AsyncClient`s, keep-alive, one connection a request in flight"
            f" ({load.connections:,} opened), in this process on cores {server['client']}",
        ),
        (
            "single-lead request",
            f"1 lead, {run.activities} activities over 10 days, top {TOP} factors each way"
            f" ({run.single_bytes:,} bytes); under load each request under its own lead id",
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
    ]


def in_process_rows(run: Run) -> list[tuple[str, str]]:
    """The single-lead request in-process, and its ratios to HTTP."""
    load, single = run.load, run.single
    in_ms = {k: 1e3 * getattr(single, k) for k in ("parse_s", "prepare_s", "features_s", "score_s", "endpoint_s")}
    pipeline_ms, p50 = 1e3 * single.pipeline_s, load.ms(0.5)
    return [
        (
            "in-process, single lead: `leads` / `build_features` / `predict_with_factors`, medians",
            f"{in_ms['prepare_s']:.2f} / {in_ms['features_s']:.2f} / {in_ms['score_s']:.2f} ms",
        ),
        (
            f"**in-process, single lead: the three in one call, median of {run.size.repeats}**",
            f"**{pipeline_ms:.2f} ms**",
        ),
        (
            "in-process, single lead: the endpoint method `score_leads` (the three, response objects, prediction"
            " log record and write), median",
            f"{in_ms['endpoint_s']:.2f} ms",
        ),
        ("in-process, single lead: request parsing and validation (pydantic), median", f"{in_ms['parse_s']:.2f} ms"),
        (
            "**ratio HTTP p50 under load / in-process median**",
            f"**{p50 / pipeline_ms:.2f}**" if np.isfinite(p50) else "n/a (the median request failed)",
        ),
        ("ratio HTTP p50 of the good answers under load / in-process median", f"{load.good_ms(0.5) / pipeline_ms:.2f}"),
        ("ratio HTTP p50 one at a time / in-process median", f"{load.ms(0.5, load.unloaded) / pipeline_ms:.2f}"),
    ]


def batch_rows(run: Run) -> list[tuple[str, str]]:
    """Batch requests over HTTP and one of them in-process."""
    batch, batch_in = run.batch, run.batch_in
    in_steps = " / ".join(f"{getattr(batch_in, k):.2f}" for k in ("parse_s", "prepare_s", "features_s", "score_s"))
    return [
        (
            f"batches: {BATCH:,} leads a request",
            f"{batch.activities:.0f} activities a lead on average (20-100), {batch.body_mib:.1f} MiB a body,"
            f" {len(batch.seconds) + sum(batch.errors.values())} requests one at a time,"
            f" errors {error_counts(batch.errors)}",
        ),
        (
            "batch seconds, median (runs)",
            f"{batch.median_s:.2f} s ({', '.join(f'{s:.2f}' for s in batch.seconds)})",
        ),
        ("**batch leads/s, median**", f"**{batch.leads_s:,.0f}**"),
        ("server CPU a batch", f"{batch.server_cpu_s / max(1, len(batch.seconds)):.2f} s"),
        (
            "in-process, one batch: parsing / `leads` / `build_features` / `predict_with_factors`, medians of"
            f" {run.size.batch_repeats}",
            f"{in_steps} s (the last three in one call: {batch_in.pipeline_s:.2f} s; the endpoint method:"
            f" {batch_in.endpoint_s:.2f} s, {BATCH / (batch_in.parse_s + batch_in.endpoint_s):,.0f} leads/s with"
            " parsing)",
        ),
        (
            "in-process, one batch: the least this parser and feature engine allow (parsing, the three in one call"
            " and the items' input hashes, as if answers, the rest of the log records and the response cost"
            " nothing)",
            f"{least_batch_s(batch_in):.2f} s, at most {BATCH / least_batch_s(batch_in):,.0f} leads/s",
        ),
    ]


def scored_batch_s(batch_in: InProcess) -> float:
    """What a batch costs salesml at the least, in process: its rows, features, scores and input hashes (nothing
    else answered or logged)."""
    return batch_in.pipeline_s + batch_in.hashes_s


def least_batch_s(batch_in: InProcess) -> float:
    """A batch's seconds in process at the least: its parsing and ``scored_batch_s``."""
    return batch_in.parse_s + scored_batch_s(batch_in)


def figures(run: Run) -> list[tuple[str, str]]:
    store = run.size.store
    floored = run.floor is not None and run.floor_batch is not None
    return [
        (
            "model",
            f"lead_score, {store.trials} trials on {store.leads:,} synthetic leads: {run.single.model},"
            f" {run.single.features} feature columns a row",
        ),
        *load_rows(run),
        *(probe_rows(run.probe) if run.probe is not None else []),
        *in_process_rows(run),
        *batch_rows(run),
        *(floor_rows(run.load, run.batch, run.floor, run.floor_batch, scored_batch_s(run.batch_in)) if floored else []),
        (
            "setup (not timed above): synth / train lead_score / export",
            " / ".join(f"{run.setup[k]:.0f}" if k in run.setup else "-" for k in ("synth", "train", "export")) + " s",
        ),
        (
            "1-min load average before / after (other work on the machine)",
            f"{run.loadavg[0]:.1f} / {run.loadavg[1]:.1f}",
        ),
    ]


def report(run: Run, command: str) -> str:
    lines = [
        f"## Serving{'' if run.workers == 1 else f', {run.workers} workers'} (benchmarks/serve.py)",
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
        *(f"| {t.name} | {t.measured} | {t.target} | {verdict(t.met, run.quick)} | {t.floor} |" for t in targets(run)),
        "",
        *figure_table(figures(run)),
        "",
    ]
    return "\n".join(lines)
