"""Compiled trees beside LightGBM: lleaves' compiled ``predict`` against ``Booster.predict`` on the served models.

Run: ``PYTHONPATH=$PWD:/tmp/lleaves .venv/bin/python -m benchmarks.trees [--quick] [--workdir DIR]`` with lleaves
installed apart (``.venv/bin/uv pip install --target /tmp/lleaves --no-deps lleaves==1.3.0 llvmlite==0.43.0``): it is
not a dependency, and cannot be one beside shap, whose numba needs an llvmlite without the pass manager lleaves
compiles with (so build the stores first, without it on the path: ``--workdir`` reuses them). Without lleaves the run
says so (a ``--quick`` run exits 0).
Trains (or reuses) the serving benchmark's stores; for each served model that is a LightGBM booster, compiles it,
times one row and 1,000 rows each way (and ``pred_contrib``, what the service runs for its factors), and compares
the calibrated probabilities on random rows. Prints a markdown section and, unless ``--quick``, writes its section of
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import lightgbm as lgb
import numpy as np

from benchmarks.report import figure_table, machine, median_time, tree_shape, write_section
from benchmarks.stores import QUICK_STORE, Stores, StoreSize, workdir
from features.crm.dataset import read_dataset
from features.pit.build import build_features
from features.pit.frames import entity_frame
from features.scoring import MODELS
from features.scoring.inputs import encode_matrix
from features.scoring.scorer import Scorer
from training.registry import load_scorer

SIZES = {"full": (StoreSize(20_000, 5, 7), 2_000), "quick": (QUICK_STORE, 20)}  # the store, and repeats of one row
RANDOM_ROWS, BATCH_ROWS, TOLERANCE = 5_000, 1_000, 1e-9
INSTALL = "lleaves is not importable (not a salesml dependency): see `benchmarks/trees.py` for how to run this"


@dataclass(frozen=True)
class Compared:
    """One model's figures: its shape, compile seconds, medians of each way, and the largest differences."""

    name: str
    shape: str
    compile_s: float
    seconds: dict[str, float]  # "{way} {rows}" -> median seconds
    max_margin_gap: float
    max_probability_gap: float


def random_rows(x: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """Rows whose every input is drawn on its own from the input's values in ``x`` (missing ones included):
    combinations the data never had, as well as its usual ones."""
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.choice(column, rows) for column in x.T])


def compare(name: str, scorer: Scorer, x: np.ndarray, repeats: int) -> Compared:
    import lleaves  # only here: not a dependency

    booster: lgb.Booster = scorer.booster  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "booster.txt"
        booster.save_model(str(path))
        began = time.perf_counter()
        compiled = lleaves.Model(model_file=str(path))
        compiled.compile(raw_score=True)
        compile_s = time.perf_counter() - began
    one, batch = x[:1], x[:BATCH_ROWS]
    ways = {
        "LightGBM predict": lambda rows: booster.predict(rows, raw_score=True, num_threads=1),
        "lleaves predict": lambda rows: compiled.predict(rows, n_jobs=1),
        "LightGBM pred_contrib": lambda rows: booster.predict(rows, pred_contrib=True, num_threads=1),
    }
    seconds = {}
    for way, run in ways.items():
        for rows, count in ((one, repeats), (batch, max(3, repeats // 100))):
            seconds[f"{way} {len(rows)}"] = median_time(lambda run=run, rows=rows: run(rows), count)[0]
    check = random_rows(x, RANDOM_ROWS, seed=1)
    margin, compiled_margin = booster.predict(check, raw_score=True), compiled.predict(check, n_jobs=1)
    probability = np.clip(scorer.calibrator(margin), 0, 1)
    compiled_probability = np.clip(scorer.calibrator(compiled_margin), 0, 1)
    return Compared(
        name,
        tree_shape(booster),
        compile_s,
        seconds,
        float(np.max(np.abs(margin - compiled_margin))),
        float(np.max(np.abs(probability - compiled_probability))),
    )


def encoded_rows(stores: Stores, scorer: Scorer) -> np.ndarray:
    """The model's encoded inputs for every snapshot of the store's data."""
    ds = read_dataset(stores.data)
    x, _ = encode_matrix(scorer.inputs, build_features(ds, scorer.entity, entity_frame(ds, scorer.entity)))
    return x


def report(command: str, store: StoreSize, results: list[Compared | str]) -> str:
    import lleaves

    lines = [
        "## Scoring: compiled trees (benchmarks/trees.py)",
        "",
        f"`{command}` on {machine()}, LightGBM {lgb.__version__}, lleaves "
        f"{getattr(lleaves, '__version__', '1.3.0')}, one thread each, {date.today().isoformat()}.",
        f"The models `salesml train` makes on {store.leads:,} synthetic leads ({store.trials} trials, seed "
        f"{store.seed}): "
        f"each served LightGBM model compiled by lleaves (`raw_score=True`), timed on one row and {BATCH_ROWS:,} rows "
        f"of encoded inputs; the probabilities compared on {RANDOM_ROWS:,} random rows (every input drawn on its own "
        "from its values, missing included), through the model's own calibration.",
        "Not used by the service: it takes a probability from the sum of the exact tree SHAP values (`pred_contrib`,"
        " its factors), which compiled trees do not give, so they would replace no call there; only `predict` alone"
        " (a deal's window heads, shadow scores, forecasts) could use them, and lleaves 1.3.0 needs an llvmlite (the"
        " 0.43 measured here, installed apart) that the numba shap depends on does not accept.",
        "",
    ]
    for result in results:
        if isinstance(result, str):
            lines += [f"- {result}", ""]
            continue
        s = result.seconds
        rows = [
            ("model", f"{result.name}: {result.shape}"),
            ("lleaves compile (no cache)", f"{result.compile_s:.1f} s"),
        ]
        for way in ("LightGBM predict", "lleaves predict", "LightGBM pred_contrib"):
            rows.append(
                (
                    f"{way}: 1 row / {BATCH_ROWS:,} rows, median",
                    f"{s[f'{way} 1'] * 1e6:,.0f} µs / {s[f'{way} {BATCH_ROWS}'] * 1e3:,.2f} ms",
                )
            )
        rows += [
            (
                "max abs difference: margin / calibrated probability",
                f"{result.max_margin_gap:.1e} / {result.max_probability_gap:.1e} (tolerance {TOLERANCE:g})",
            ),
        ]
        lines += [*figure_table(rows), ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smallest store, few repeats; not written to results")
    parser.add_argument("--workdir", type=Path, help="keep the stores here and reuse them (default: a temporary dir)")
    args = parser.parse_args()
    if importlib.util.find_spec("lleaves") is None:
        print(INSTALL, file=sys.stderr)
        return 0 if args.quick else 2
    store, repeats = SIZES["quick" if args.quick else "full"]
    results: list[Compared | str] = []
    with workdir(args.workdir, "salesml-trees-bench-") as root:
        stores, _ = Stores.prepare(root, store)
        os.environ.update(stores.env)
        for name in MODELS:
            scorer, _ = load_scorer(name)
            if not isinstance(scorer.booster, lgb.Booster):
                results.append(f"{name}: a {scorer.model_kind} model, no trees to compile")
                continue
            results.append(compare(name, scorer, encoded_rows(stores, scorer), repeats))
    quick = " --quick" if args.quick else ""
    text = report(f"PYTHONPATH=$PWD:/tmp/lleaves .venv/bin/python -m benchmarks.trees{quick}", store, results)
    print(text)
    if not args.quick:
        write_section("trees", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
