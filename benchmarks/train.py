"""Training benchmark: ``salesml train`` with 50 Optuna trials on about 200k labelled lead snapshots.

Run: ``.venv/bin/python -m benchmarks.train [--quick] [--trials N] [--seed S]``. Synthesises a dataset
(``features.synth``), times ``train("lead_score", ...)`` end to end in a temporary MLflow/Optuna store, and splits
the time into feature building, tuning (tree building, validation metrics, Optuna's per-round pruning callback)
and the rest. Prints a markdown section and, at full size, writes its section of BENCHMARKS.md.
Target from the issue: 50 trials on 200k snapshots in at most 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import lightgbm as lgb
import optuna
import pandas as pd
from optuna_integration.lightgbm import LightGBMPruningCallback

from benchmarks.report import figure_table, machine, peak_rss_gib, write_section
from features.config import optuna_storage
from features.crm.dataset import read_dataset
from features.pit.frames import entity_frame
from features.synth import synthesize
from training import train as train_module
from training.data import resolve_horizon
from training.spec import load_spec

TARGET_S, CORES, MODEL = 600.0, 2, "lead_score"


@dataclass(frozen=True)
class Size:
    leads: int
    trials: int


SIZES = {"full": Size(44_100, 50), "quick": Size(2_000, 1)}  # the lead policy labels ~4.5 snapshots per lead


@dataclass
class Stopwatch:
    """Seconds and calls spent in the functions it wraps, by label."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def timed(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - began
                self.calls[label] += 1

        return wrapper

    def patch(self, owner: Any, name: str, label: str) -> contextlib.AbstractContextManager[Any]:
        return mock.patch.object(owner, name, self.timed(label, getattr(owner, name)))


@contextlib.contextmanager
def phases(watch: Stopwatch) -> Iterator[None]:
    """Time feature building and tuning inside ``train``, and inside tuning the per-round work."""

    def tuning(*args: Any, **kwargs: Any) -> Any:
        with (
            watch.patch(lgb.Booster, "update", "tree building"),
            watch.patch(lgb.Booster, "eval_valid", "validation metrics"),
            watch.patch(LightGBMPruningCallback, "__call__", "pruning callback"),
        ):
            return tune(*args, **kwargs)

    tune = train_module.tune
    with (
        watch.patch(train_module, "labelled_snapshots", "feature build"),
        mock.patch.object(train_module, "tune", watch.timed("tuning", tuning)),
    ):
        yield


def labelled_snapshots(data: Path) -> int:
    """Rows the spec's snapshot policy labels (before the split leaves its gaps)."""
    ds = read_dataset(data)
    spec, _ = resolve_horizon(load_spec(MODEL)[0], ds)
    ages = [pd.Timedelta(a) for a in spec.snapshots.lead_ages]
    every = spec.snapshots.every_days
    frame = entity_frame(ds, spec.entity, lead_ages=ages, horizon_days=spec.horizon_days, every_days=every)
    return int(frame[spec.label].notna().sum())


def trial_rounds(study_name: str) -> list[int]:
    """Boosting rounds each trial ran (its reported intermediate values), from the study's storage."""
    study = optuna.load_study(study_name=study_name, storage=optuna_storage())
    return [len(t.intermediate_values) for t in study.trials]


@dataclass(frozen=True)
class Run:
    """What one timed ``train`` call gave."""

    result: train_module.TrainResult
    watch: Stopwatch
    wall_s: float
    rounds: list[int]
    snapshots: int
    synth_s: float
    load: tuple[float, float]  # 1-minute load average before and after

    def met(self, trials: int) -> bool:
        return self.wall_s <= TARGET_S and self.result.report["tuning"]["trials"] >= trials


def timed_train(size: Size, trials: int, seed: int) -> Run:
    """Synthesise the data and time ``train`` on it, all in a temporary directory (data, MLflow, Optuna)."""
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        os.environ["SALESML_STORE"] = str(Path(tmp) / "store")
        data = Path(tmp) / "data"
        began = time.perf_counter()
        synthesize(data, leads=size.leads, seed=seed)
        synth_s, snapshots = time.perf_counter() - began, labelled_snapshots(data)
        watch, before = Stopwatch(), os.getloadavg()[0]
        began = time.perf_counter()
        with phases(watch):
            # no timeout short of the trials asked for: the target is about all of them
            result = train_module.train(MODEL, data, trials=trials, timeout_s=24 * 3600, progress=False)
        wall_s = time.perf_counter() - began
        rounds = trial_rounds(result.report["tuning"]["study_name"])
        return Run(result, watch, wall_s, rounds, snapshots, synth_s, (before, os.getloadavg()[0]))


def report(run: Run, size: Size, trials: int, command: str, quick: bool) -> str:
    seconds, calls = run.watch.seconds, run.watch.calls
    tuning, split = run.result.report["tuning"], run.result.report["split"]
    auc = run.result.report["test"]["metrics"]["roc_auc"]
    baseline, baseline_metrics = max(run.result.report["baselines"].items(), key=lambda kv: kv[1]["roc_auc"])
    inner = ("tree building", "validation metrics", "pruning callback")
    rest = run.wall_s - seconds["feature build"] - seconds["tuning"]
    rows = [
        ("data", f"{size.leads:,} synthetic leads; {run.snapshots:,} labelled snapshots (lead policy)"),
        (
            "rows after the time split (train / valid / calib / test)",
            " / ".join(f"{n:,}" for n in split["rows"].values()),
        ),
        ("features used", f"{len(run.result.report['features_used'])}"),
        ("trials (pruned)", f"{tuning['trials']} ({tuning['pruned']})"),
        ("boosting rounds in tuning", f"{sum(run.rounds):,} (mean {sum(run.rounds) / len(run.rounds):.0f} a trial)"),
        ("**`train` end to end**", f"**{run.wall_s:.0f} s**"),
        ("feature build (`labelled_snapshots`)", f"{seconds['feature build']:.1f} s"),
        ("tuning (`tune`)", f"{seconds['tuning']:.1f} s"),
        *(
            (
                f"&nbsp;&nbsp;of which {label}",
                f"{seconds[label]:.1f} s ({1000 * seconds[label] / calls[label]:.1f} ms a round)",
            )
            for label in inner
        ),
        (
            "&nbsp;&nbsp;of which the rest (Datasets, TPE, MLflow trial runs)",
            f"{seconds['tuning'] - sum(seconds[label] for label in inner):.1f} s",
        ),
        ("the rest (encoding, final fit, calibration, evaluation, baselines, plots, MLflow)", f"{rest:.1f} s"),
        ("test ROC AUC", f"{auc:.3f} (best baseline, {baseline}: {baseline_metrics['roc_auc']:.3f})"),
        ("best iteration / valid log loss", f"{tuning['best_iteration']} / {tuning['valid_log_loss']:.4f}"),
        ("peak RSS", f"{peak_rss_gib():.2f} GiB"),
        ("1-min load average before / after (other work on the machine)", f"{run.load[0]:.1f} / {run.load[1]:.1f}"),
        ("data generation (not timed above)", f"{run.synth_s:.1f} s"),
    ]
    lines = [
        "## Training: `salesml train` (lead_score)",
        "",
        f"{command} on {machine()}, {CORES} cores used, LightGBM {lgb.__version__}, Optuna {optuna.__version__},"
        f" {dt.date.today()}.",
        f"Target: 50 trials on 200k snapshots in at most {TARGET_S / 60:.0f} min on {CORES} cores"
        + ("." if quick else f" ({'met' if run.met(trials) else '**missed**'})."),
        "",
        *figure_table(rows),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on tiny data (not written to results)")
    parser.add_argument("--trials", type=int, help="Optuna trials (default: 50, or 1 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[:CORES])
    size = SIZES["quick" if args.quick else "full"]
    trials = args.trials or size.trials
    run = timed_train(size, trials, args.seed)
    command = (
        f"`.venv/bin/python -m benchmarks.train{' --quick' if args.quick else ''} --trials {trials} --seed {args.seed}`"
    )
    text = report(run, size, trials, command, args.quick)
    print(text)
    if not args.quick:
        write_section("train", text)
    return 0 if args.quick or run.met(trials) else 1


if __name__ == "__main__":
    sys.exit(main())
