"""Activity counts per subject (all, each direction, each type) to date and per window, recency, trend."""

from __future__ import annotations

import numpy as np

from features.pit import catalog
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import HOUR_NS, NAT


def activity(r: FrameRows) -> Columns:
    """Per subject: counts to date and in each window, hours since the last one; and the 7-day trend."""
    log, out = r.log, {}
    for subject, events in log.subjects():
        out[catalog.count_name(subject, "total")] = events.count(r.start, r.now)
        for window, days in catalog.WINDOW_DAYS.items():
            out[catalog.count_name(subject, window)] = events.count(r.since(days), r.now)
        last = log.latest(events, r.start, r.now)
        out[catalog.recency_name(subject)] = np.where(last != NAT, (r.cutoffs - last) / HOUR_NS, np.nan)
    recent, prior = r.now - r.since(7), r.since(7) - r.since(14)  # every activity counts: positions suffice
    out["act_trend_7d"] = np.where(recent + prior > 0, (recent - prior) / np.maximum(recent + prior, 1), 0.0)
    return out
