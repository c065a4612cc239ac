"""Target attainment: the chance each rep, team or region reaches its red, yellow and green lines, and its color.

The target board (三色目标看板) sets three lines per period and group: red = warning line, yellow = base line,
green = challenge line. From a forecast's simulated totals (already won + pipeline + deals not yet created):

- ``p_red``, ``p_yellow``, ``p_green``: the probability the period's won revenue reaches each line;
- ``color``: the highest line the median forecast (P50) reaches: green at or above the challenge line, yellow at
  or above the base line, red below it (at or under the warning level);
- ``early_warning``: the field's rule, actuals below 85% of the yellow line two weeks running, read as actuals to
  date against the yellow line pro-rated to the days elapsed, at the as-of time and one week earlier.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset
from features.errors import DataError
from features.insights.forecast import Forecast, won_by_group
from features.insights.periods import Window, periods_from
from features.pit.timeline import DAY_NS

LEVELS: tuple[str, ...] = ("rep", "team", "region")
WARNING_SHARE = 0.85  # of the pro-rated yellow line ...
WARNING_CHECKS = 2  # ... at this many weekly checks running


def check_level(by: str) -> None:
    """DataError naming the levels targets are set at when ``by`` is none of them."""
    if by not in LEVELS:
        raise DataError(f"targets are set per {', '.join(LEVELS)}; forecast --by {by} has none")


def attainment(ds: Dataset, fc: Forecast) -> pd.DataFrame:
    """One row per target of the forecast's level in its periods: lines, forecast, chances, color, warning."""
    check_level(fc.by)
    targets = ds.get("targets")
    if targets.empty:
        raise DataError("the dataset has no targets table (period, level, key, red, yellow, green)")
    labels = [w.label for w in fc.windows]
    mine = targets[(targets["level"] == fc.by) & targets["period"].isin(labels)]
    if mine.empty:
        raise DataError(
            f"no {fc.by} targets for period(s) {', '.join(labels)}; the targets table has periods "
            f"{', '.join(sorted(targets['period'].astype(str).unique())[-3:])} (last three)"
        )
    forecast = fc.table.set_index(["period", "group"])
    rows = []
    for t in mine.itertuples(index=False):
        key = str(t.key)
        sims = fc.cell_samples(t.period, key) if key in fc.groups else np.zeros(len(fc.samples))
        cell = forecast.loc[(t.period, key)] if key in fc.groups else None
        lines = {"red": float(t.red), "yellow": float(t.yellow), "green": float(t.green)}
        p50 = float(np.quantile(sims, 0.5))
        rows.append(
            {
                "period": t.period,
                "level": fc.by,
                "key": key,
                **lines,
                "won_to_date": 0.0 if cell is None else float(cell["won_to_date"]),
                "expected": 0.0 if cell is None else float(cell["expected"]),
                "p10": float(np.quantile(sims, 0.1)),
                "p50": p50,
                "p90": float(np.quantile(sims, 0.9)),
                **{f"p_{name}": float((sims >= line).mean()) for name, line in lines.items()},
                "color": color(p50, lines),
            }
        )
    board = pd.DataFrame(rows)
    board["early_warning"] = early_warning(ds, fc, board)
    return board.sort_values(["period", "key"]).reset_index(drop=True)


def color(p50: float, lines: dict[str, float]) -> str:
    """green: the median reaches the challenge line; yellow: the base line; red: below the base line."""
    if p50 >= lines["green"]:
        return "green"
    return "yellow" if p50 >= lines["yellow"] else "red"


def early_warning(ds: Dataset, fc: Forecast, board: pd.DataFrame) -> np.ndarray:
    """Per board row: actuals to date below 85% of the pro-rated yellow line at the as-of time and at each of
    the weekly checks before it (two running). Only the period holding the as-of time can be checked."""
    targets = ds.get("targets")
    targets = targets[targets["level"] == fc.by].set_index(["period", "key"])["yellow"]
    behind = np.ones(len(board), dtype=bool)
    for check in range(WARNING_CHECKS):
        at = fc.as_of - pd.Timedelta(days=7 * check)
        window = periods_from(at, fc.period, 1)[0]
        behind &= _behind(ds, fc.by, board, window, at, targets)
    current = board["period"].to_numpy() == fc.windows[0].label
    return behind & current


def _behind(
    ds: Dataset, by: str, board: pd.DataFrame, window: Window, at: pd.Timestamp, yellow: pd.Series
) -> np.ndarray:
    """Per board key: won in the window up to ``at`` below 85% of its yellow line pro-rated to the elapsed share."""
    elapsed = (at.value - window.start.value) / (window.end.value - window.start.value)
    if elapsed * (window.end.value - window.start.value) < DAY_NS:  # under a day in: nothing to judge yet
        return np.zeros(len(board), dtype=bool)
    actual = won_by_group(ds, by, window.start, at)
    out = np.zeros(len(board), dtype=bool)
    for i, key in enumerate(board["key"]):
        line = yellow.get((window.label, key))
        if line is not None and np.isfinite(line):
            out[i] = actual.get(key, 0.0) < WARNING_SHARE * float(line) * elapsed
    return out
