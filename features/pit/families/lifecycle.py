"""Age, and the calendar: when the entity was created and where the cutoff falls in its quarter."""

from __future__ import annotations

import numpy as np

from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS


def _months(ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar month (0-11) of each time, and when the next quarter starts."""
    month = ns.view("datetime64[ns]").astype("datetime64[M]")
    of_year = month.astype(np.int64) % 12
    next_quarter = month - (of_year % 3).astype("timedelta64[M]") + np.timedelta64(3, "M")
    return of_year, next_quarter.astype("datetime64[ns]").view(np.int64)


def lifecycle(r: FrameRows) -> Columns:
    """Age, and the calendar: the month the entity was created in and where the cutoff falls in its quarter."""
    created_month, _ = _months(r.created)
    cutoff_month, next_quarter = _months(r.cutoffs)
    return {
        "age_days": (r.cutoffs - r.created) / DAY_NS,
        "created_month": (created_month + 1).astype(np.int32),
        "created_month_of_quarter": (created_month % 3 + 1).astype(np.int32),
        "cutoff_month_of_quarter": (cutoff_month % 3 + 1).astype(np.int32),
        "cutoff_days_to_quarter_end": (next_quarter - r.cutoffs) / DAY_NS,
    }
