"""Service start on a large export: seconds from ``salesml serve`` to ready, and resident memory per process.

Run: ``.venv/bin/python -m benchmarks.start [--quick] [--workdir DIR] [--workers 1,2]``. The full size synthesises
about a million activities (110,000 leads), trains both models with one trial each and exports them (about 4 min on
2 cores; ``--workdir`` keeps the stores for the next run), then starts the service with each worker count, a few
times, and stops it. Target: ready in at most 10 s, at most 1.5 GiB resident a worker.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import figure_table, machine, write_section
from benchmarks.serve.load import KEY
from benchmarks.server import Server
from benchmarks.stores import QUICK_STORE, Stores, StoreSize, workdir
from features.crm.dataset import read_manifest

SIZES = {"full": (StoreSize(110_000, 1, 7), 3), "quick": (QUICK_STORE, 1)}  # the store, and starts per worker count
TARGET_READY_S, TARGET_WORKER_GIB = 10.0, 1.5
START_TIMEOUT_S = 300


@dataclass(frozen=True)
class Started:
    """One worker count's starts: seconds to ready each time, and the processes' resident memory after the last."""

    workers: int
    ready_s: list[float]
    rss_gib: list[float]  # per process: the first is the supervisor, the others the workers

    @property
    def worker_gib(self) -> float:
        return max(self.rss_gib[1:] or self.rss_gib)

    def met(self) -> bool:
        return statistics.median(self.ready_s) <= TARGET_READY_S and self.worker_gib <= TARGET_WORKER_GIB


def start(stores: Stores, root: Path, workers: int, times: int) -> Started:
    """``times`` starts of the service with ``workers`` workers, each stopped once ready."""
    ready, rss = [], []
    for attempt in range(times):
        began = time.perf_counter()
        env = {"SALESML_WORKERS": str(workers)}
        server = Server(stores, root / f"predictions-{workers}-{attempt}", env=env).start(START_TIMEOUT_S)
        ready.append(time.perf_counter() - began)
        rss = [p.memory_info().rss / 2**30 for p in server.processes()]
        server.stop()
    return Started(workers, ready, rss)


def report(command: str, store: StoreSize, activities: int, setup: dict[str, float], runs: list[Started]) -> str:
    verdict = "met" if all(run.met() for run in runs) else "**missed**"
    rows = [
        (
            "export",
            f"{activities:,} activities on {store.leads:,} synthetic leads; lead_score from {store.trials} Optuna"
            f" trial{'s' if store.trials != 1 else ''}, close_probability from 1",
        ),
        *(
            (
                f"{run.workers} worker{'s' if run.workers > 1 else ''}: seconds to ready, median (runs)",
                f"{statistics.median(run.ready_s):.1f} s ({', '.join(f'{s:.1f}' for s in run.ready_s)})",
            )
            for run in runs
        ),
        *(
            (
                f"{run.workers} worker{'s' if run.workers > 1 else ''}: resident memory per process once ready",
                ", ".join(f"{gib:.2f}" for gib in run.rss_gib) + " GiB (the supervisor first)",
            )
            for run in runs
        ),
        (
            "setup (not timed above): synth / train / export",
            " / ".join(f"{setup.get(step, 0):.0f}" for step in ("synth", "train", "export")) + " s",
        ),
    ]
    lines = [
        "## Service start on a large export (benchmarks/start.py)",
        "",
        f"{command} on {machine()}, {dt.date.today()}.",
        f"From `salesml serve` (a new process) to `/readyz` answering 200: the imports, the models and the export's"
        f" history read and indexed. Target: at most {TARGET_READY_S:g} s and {TARGET_WORKER_GIB:g} GiB resident a"
        f" worker ({verdict}).",
        "",
        *figure_table(rows),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest store, one start; not written to results")
    parser.add_argument("--workdir", type=Path, help="keep the stores here and reuse them (default: a temporary dir)")
    parser.add_argument("--workers", default="1,2", help="worker counts to start with, comma-separated (default: 1,2)")
    args = parser.parse_args()
    try:
        counts = [int(n) for n in args.workers.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        print(f"--workers {args.workers!r}: give worker counts of 1 or more, e.g. 1,2", file=sys.stderr)
        return 2
    store, times = SIZES["quick" if args.quick else "full"]
    with workdir(args.workdir, "salesml-start-bench-") as root:
        stores, setup = Stores.prepare(root, store)
        stores.keys.write_text(f"{KEY}\n", encoding="utf-8")
        activities = read_manifest(stores.data).counts["activities"]
        runs = [start(stores, root, workers, times) for workers in counts]
    command = f"`.venv/bin/python -m benchmarks.start{' --quick' if args.quick else ''} --workers {args.workers}`"
    text = report(command, store, activities, setup, runs)
    print(text)
    if args.quick:
        return 0
    write_section("start", text)
    return 0 if all(run.met() for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
