"""Scale curve: lead features for 1 M, 10 M and 100 M activities (cutoffs 10% of that) on Dask and locally.

Run: ``.venv/bin/python -m benchmarks.scale [--quick] [--sizes 1M,10M,100M] [--workers 2] [--memory-limit 4GiB]``.
For each size, writes the random canonical export of ``benchmarks.export`` (seeded) and its frame of cutoffs to
disk a part at a time, and builds every lead feature twice: ``features.pit.distributed`` through a LocalCluster of
``--workers`` single-threaded processes, each held to ``--memory-limit`` (Dask spills to disk above it), reading
the parts from disk and writing its own as ``salesml features build --engine dask`` does; and ``build_features``
in this process on the export read whole, up to ``--local-up-to``. Reports the export's time and peak memory,
wall time, peak memory of each worker and of this process (and of all together), the most bytes spilled to disk
at once, the cost of each 10x more data, and that both paths give the same table. Prints a markdown section and,
without ``--quick``, writes its section of BENCHMARKS.md. 100 M activities only with ``--sizes``."""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import dask
import pandas as pd
import psutil
from distributed import Client, LocalCluster, get_task_stream
from distributed.utils import key_split

from benchmarks.export import Size, write_export
from benchmarks.report import figure_table, machine, write_section
from features.crm.dataset import read_dataset, read_table
from features.pit.build import build_features
from features.pit.cluster import LOOPBACK, write_parts
from features.pit.distributed import Tables, distributed_features

CORES = 2
GIB = 2**30
#: Activities per size, cutoffs a tenth of that; leads, deals and accounts scale with them.
SIZES = {
    "quick": Size(50_000, 5_000, 1_250, 300, 30, 500),
    "1M": Size(1_000_000, 100_000, 25_000, 6_000, 300, 2_000),
    "10M": Size(10_000_000, 1_000_000, 250_000, 60_000, 300, 20_000),
    "100M": Size(100_000_000, 10_000_000, 2_500_000, 600_000, 300, 200_000),
}
DEFAULT_SIZES = ("1M", "10M")
#: Most the Dask time may grow per 10x more activities.
TARGET_GROWTH = 11.0
#: Activities per part of the export and per partition of the Dask build: about 120 MB of them in memory, the
#: 100 MB or more Dask advises. A shuffle cuts every partition into a piece per partition, so the pieces grow as the
#: square of the count: with 250,000 the 100 M build took 1.4x as long (461 s against 321 s, one cluster).
PART_ROWS = 1_000_000
#: Seconds between two samples of the processes' memory and the workers' spilled bytes.
SAMPLE_S = 0.5


@dataclass
class Peaks:
    """The most resident memory each sampled process held (and all of them at once), the most bytes the workers
    held on disk at once, and the processes that died on the way (a worker over its memory limit, killed by its
    nanny and replaced by one not sampled)."""

    rss: dict[int, int] = field(default_factory=dict)
    together: int = 0
    spilled: int = 0
    died: set[int] = field(default_factory=set)


@contextmanager
def sampled(pids: list[int], client: Client | None = None) -> Iterator[Peaks]:
    """Peaks of ``pids``' memory (and, with ``client``, its workers' spilled bytes) while the block runs."""
    peaks, done = Peaks({pid: 0 for pid in pids}), threading.Event()
    processes = [psutil.Process(pid) for pid in pids]

    def sample() -> None:
        now = {}
        for process in processes:
            try:
                now[process.pid] = process.memory_info().rss
            except psutil.NoSuchProcess:
                peaks.died.add(process.pid)
        peaks.rss = {pid: max(peaks.rss[pid], now.get(pid, 0)) for pid in peaks.rss}
        peaks.together = max(peaks.together, sum(now.values()))
        if client is not None:
            with suppress(OSError):  # a worker went away while asked (CommClosedError); the next sample asks again
                peaks.spilled = max(peaks.spilled, sum(client.run(_spilled_bytes).values()))

    def keep_sampling() -> None:
        while not done.wait(SAMPLE_S):
            sample()

    sample()
    sampler = threading.Thread(target=keep_sampling, daemon=True)
    sampler.start()
    try:
        yield peaks
    finally:
        done.set()
        sampler.join()
        sample()


def _spilled_bytes(dask_worker: object) -> int:
    """Bytes a worker holds on disk now (pickled)."""
    data = getattr(dask_worker, "data", None)
    return int(data.spilled_total.disk) if hasattr(data, "spilled_total") else 0


#: Stages of the Dask build, each the tasks whose name (``key_split``) holds one of the words, tried in this order;
#: the rest (sorting the joined columns back into row order, everyone's counts) is ``other``.
STAGES = {
    "read": ("read",),
    "shuffle": ("shuffle",),
    "build": ("build_partition",),
    "write": ("write_part",),
}


def stage_seconds(tasks: list[dict]) -> dict[str, float]:
    """Worker seconds computing each stage's tasks (``distributed.get_task_stream``'s records)."""
    seconds = dict.fromkeys([*STAGES, "other"], 0.0)
    for task in tasks:
        name = key_split(task["key"])
        stage = next((s for s, words in STAGES.items() if any(w in name for w in words)), "other")
        seconds[stage] += sum(s["stop"] - s["start"] for s in task["startstops"] if s["action"] == "compute")
    return seconds


@dataclass(frozen=True)
class Run:
    size: str
    activities: int
    rows: int
    partitions: int
    export_s: float
    export_gib: float
    dask_s: float
    worker_gib: list[float]
    driver_gib: float
    together_gib: float
    spilled_gib: float
    workers_died: int
    stages: dict[str, float]
    local_s: float | None
    local_gib: float | None
    equal: bool | None


def run_size(name: str, client: Client, workdir: Path, seed: int, local: bool) -> Run:
    """One size: its export written part by part, its features through Dask from the parts on disk, then
    (``local``) through ``build_features`` on the export read whole, both checked equal."""
    size = SIZES[name]
    data, frame_parts, out = workdir / f"data-{name}", workdir / f"frame-{name}", workdir / f"features-{name}"
    partitions = max(4, size.activities // PART_ROWS)
    me = os.getpid()
    workers = sorted(client.run(os.getpid).values())
    began = time.perf_counter()
    with sampled([me]) as export_peaks:
        write_export(size, seed, data, frame_parts, -(-size.activities // partitions))
    export_s = time.perf_counter() - began
    gc.collect()
    began = time.perf_counter()
    with sampled([me, *workers], client) as dask_peaks, get_task_stream(client) as tasks:
        frame = read_table(frame_parts)
        table = distributed_features(Tables.read(data), "lead", frame, partitions)
        write_parts(client, table.to_delayed(), out, progress=False)
        rows = len(frame)
        del table, frame
    dask_s = time.perf_counter() - began
    local_s = local_gib = equal = None
    if local:
        ds, frame = read_dataset(data), read_table(frame_parts)
        before = psutil.Process(me).memory_info().rss
        began = time.perf_counter()
        with sampled([me]) as local_peaks:
            built = build_features(ds, "lead", frame)
        local_s, local_gib = time.perf_counter() - began, (local_peaks.rss[me] - before) / GIB
        with dask.config.set({"dataframe.convert-string": False}):
            equal = read_table(out).equals(built.reset_index(drop=True))
        del built, ds, frame
    for directory in (data, frame_parts, out):
        shutil.rmtree(directory)
    return Run(
        name,
        size.activities,
        rows,
        partitions,
        export_s,
        export_peaks.rss[me] / GIB,
        dask_s,
        [dask_peaks.rss[pid] / GIB for pid in workers],
        dask_peaks.rss[me] / GIB,
        dask_peaks.together / GIB,
        dask_peaks.spilled / GIB,
        len(dask_peaks.died),
        stage_seconds(tasks.data),
        local_s,
        local_gib,
        equal,
    )


def _growth(runs: list[Run], seconds: str) -> str:
    """Each step's time ratio against ``TARGET_GROWTH`` per 10x more activities."""
    steps = []
    for small, large in zip(runs, runs[1:], strict=False):
        a, b = getattr(small, seconds), getattr(large, seconds)
        if a and b:
            allowed = TARGET_GROWTH ** math.log10(large.activities / small.activities)
            steps.append(f"{small.size} -> {large.size}: {b / a:.1f}x ({'met' if b / a <= allowed else '**missed**'})")
    return ", ".join(steps) or "one size"


def report(runs: list[Run], command: str, workers: int, memory_limit: str) -> str:
    rows: list[tuple[str, object]] = []
    for run in runs:
        local = (
            f"{run.local_s:.1f} s, +{run.local_gib:.2f} GiB in this process" if run.local_s is not None else "not run"
        )
        rows += [
            (f"**{run.size}**: data", f"{run.activities:,} activities, {run.rows:,} (lead, cutoff) rows"),
            (f"{run.size}: export written part by part", f"{run.export_s:.1f} s, peak {run.export_gib:.2f} GiB"),
            (f"{run.size}: Dask, {run.partitions} partitions", f"{run.dask_s:.1f} s"),
            (
                f"{run.size}: Dask peak RSS per worker",
                ", ".join(f"{g:.2f}" for g in run.worker_gib) + f" GiB (driver {run.driver_gib:.2f} GiB)",
            ),
            (f"{run.size}: most RSS at once, driver and workers", f"{run.together_gib:.2f} GiB"),
            (f"{run.size}: most spilled to disk at once (all workers)", f"{run.spilled_gib:.2f} GiB"),
            (f"{run.size}: workers that died (over their memory limit) and were replaced", run.workers_died),
            (
                f"{run.size}: worker seconds by stage (per partition)",
                ", ".join(f"{s} {t:.1f} ({t / run.partitions:.2f})" for s, t in run.stages.items()),
            ),
            (f"{run.size}: local `build_features`", local),
            (f"{run.size}: same table", {True: "yes", False: "**NO**", None: "not checked"}[run.equal]),
        ]
    rows += [
        (f"Dask time per step (target at most {TARGET_GROWTH:g}x per 10x)", _growth(runs, "dask_s")),
        ("local time per step", _growth(runs, "local_s")),
    ]
    lines = [
        "## Scale curve: lead features on Dask and locally",
        "",
        f"{command} on {machine()}, a LocalCluster of {workers} worker processes (one thread each, memory limit "
        f"{memory_limit} each) on {CORES} cores shared with the driver, dask {dask.__version__}, pandas "
        f"{pd.__version__}, {dt.date.today()}. The data is `benchmarks.export`' random export, generated and "
        f"written a part at a time (parts of at most {PART_ROWS:,} activities) with its frame of cutoffs, so no "
        "process holds the activities whole. The Dask time includes reading the frame and the parts from disk and "
        "writing the table's parts, not starting the cluster; the driver holds the frame and the lead and deal "
        "tables, the workers read the activities part by part. Peak memory is sampled every "
        f"{SAMPLE_S} s (psutil); the local figure is the growth of this process's RSS during the build, on the "
        "export read whole. Worker seconds by stage are the tasks' compute time in Dask's task stream, summed over "
        "the workers (per partition in brackets): reading the parts, the shuffles, the family code, writing the "
        "table's parts, and the rest (row order restored, everyone's counts).",
        "",
        *figure_table(rows),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small size for smoke runs (not written to results)")
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES), help=f"of {', '.join(SIZES)}, comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GiB", help="per worker; Dask spills to disk above it")
    parser.add_argument("--local-up-to", default="10M", help="the largest size also built by the local path")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = ["quick"] if args.quick else args.sizes.split(",")
    unknown = [name for name in names if name not in SIZES]
    if unknown:
        parser.error(f"unknown size {unknown[0]!r}: use {', '.join(SIZES)}")
    local_limit = SIZES["quick" if args.quick else args.local_up_to].activities
    runs = []
    with (
        tempfile.TemporaryDirectory(prefix="salesml-scale-") as workdir,
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host=LOOPBACK,
            dashboard_address=f"{LOOPBACK}:0",
            memory_limit=args.memory_limit,
            local_directory=workdir,
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        for name in names:
            runs.append(run_size(name, client, Path(workdir), args.seed, SIZES[name].activities <= local_limit))
            print(runs[-1], file=sys.stderr, flush=True)
    sizes = "" if args.quick or args.sizes == ",".join(DEFAULT_SIZES) else f" --sizes {args.sizes}"
    command = f"`.venv/bin/python -m benchmarks.scale{' --quick' if args.quick else ''}{sizes}`"
    text = report(runs, command, args.workers, args.memory_limit)
    print(text)
    if not args.quick:
        write_section("scale", text)
    return 0 if all(run.equal is not False for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
