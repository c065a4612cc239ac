"""Forecast benchmark: one forecast with intervals, and one rolling-origin backtest, on the demo-sized simulator.

Run: ``.venv/bin/python -m benchmarks.forecast [--quick] [--repeats N]``. Simulates a CRM, trains a close-probability
model without tuning (``training.backtest.origin_scorer`` on the whole export), then times, in one run:
``features.insights.forecast.model_forecast`` (every open deal scored through the feature code, 3 monthly periods by
team,
4,000 simulations) and ``training.backtest.backtest`` over the months of the last year (a model trained per
origin). Prints a markdown section and, at full size, writes its section of BENCHMARKS.md. No target in the issue:
the figures say what a forecast and a backtest cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmarks.report import machine, median_time, write_section
from features.crm.dataset import read_dataset, to_utc_scalar
from features.insights.forecast import model_forecast
from features.pit.frames import scoring_frame
from features.synth import synthesize
from training.backtest import backtest, origin_scorer
from training.spec import load_spec


@dataclass(frozen=True)
class Size:
    leads: int
    repeats: int  # forecast runs
    months: int  # the backtest's window, ending a day before the export (an origin a month whose actuals are in)


SIZES = {"full": Size(20_000, 5, 12), "quick": Size(4_000, 1, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on tiny data; does not write BENCHMARKS.md")
    parser.add_argument("--repeats", type=int, help="forecast runs, the median reported (default: 5, or 1 --quick)")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    leads, repeats = size.leads, args.repeats or size.repeats
    command = ".venv/bin/python -m benchmarks.forecast" + (" --quick" if args.quick else "") + f" --repeats {repeats}"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        synthesize(data, leads=leads, seed=7)
        ds = read_dataset(data)
        spec, _ = load_spec("close_probability")
        scorer = origin_scorer(spec, ds)
        at = to_utc_scalar(ds.manifest.exported_at)
        open_deals = len(scoring_frame(ds, "opportunity", at))
        seconds, fc = median_time(lambda: model_forecast(ds, scorer, at, "month", "team", 3), repeats)
        end = at - pd.Timedelta(days=1)
        start = (end - pd.DateOffset(months=size.months - 1)).strftime("%Y-%m-01")
        began = time.perf_counter()
        result = backtest(data, start, end.strftime("%Y-%m-%d"), out=Path(tmp) / "bt", progress=False, log=False)
        backtest_s = time.perf_counter() - began
    origins = result.cells["period"].nunique()
    text = "\n".join(
        [
            "## Forecast and backtest",
            "",
            f"`{command}` on {machine()}, {dt.date.today().isoformat()}.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| data | simulator, {leads:,} leads; {open_deals:,} deals open at the export |",
            f"| `model_forecast` (3 months x {len(fc.groups)} teams, 4,000 simulations), median | {seconds:.2f} s |",
            f"| `backtest` ({origins} monthly origins, a model trained at each), total | {backtest_s:.1f} s "
            f"({backtest_s / max(origins, 1):.1f} s an origin) |",
        ]
    )
    print(text)
    if not args.quick:
        write_section("forecast", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
