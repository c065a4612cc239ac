"""Forecast periods: calendar weeks, months or quarters in UTC, each with its label and bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from features.crm.dataset import to_utc_scalar
from features.errors import DataError

Period = Literal["week", "month", "quarter"]
PERIODS: dict[str, str] = {"week": "W-SUN", "month": "M", "quarter": "Q"}


@dataclass(frozen=True)
class Window:
    """One forecast period: its label (``2025-01``, ``2025Q1``, ``2025-01-06`` for a week) and UTC bounds."""

    label: str
    start: pd.Timestamp
    end: pd.Timestamp  # exclusive


def check_period(period: str) -> None:
    """DataError naming the periods when ``period`` is none of them."""
    if period not in PERIODS:
        raise DataError(f"unknown period {period!r}; use one of: {', '.join(PERIODS)}")


def periods_from(as_of: pd.Timestamp, period: str, count: int) -> list[Window]:
    """``count`` calendar periods (UTC), the first one holding ``as_of``."""
    check_period(period)
    if count < 1:
        raise DataError("the number of periods must be at least 1")
    first = pd.Period(to_utc_scalar(as_of).tz_localize(None), PERIODS[period])
    out = []
    for p in (first + k for k in range(count)):
        start = p.start_time.tz_localize("UTC")
        label = str(p) if period != "week" else start.strftime("%Y-%m-%d")
        out.append(Window(label, start, (p + 1).start_time.tz_localize("UTC")))
    return out
