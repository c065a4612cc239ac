"""Activity counts per subject (all, each direction, each type) to date and per window, recency, trend."""

from __future__ import annotations

from bisect import bisect_left

import numpy as np

from features.crm.schema import ACTIVITY_TYPES
from features.pit import catalog
from features.pit.per_row import Known, Row, per
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS, HOUR_NS, NAT


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


#: Each activity's subjects, as positions in ``catalog.SUBJECTS``: everything, its direction, its type.
_ALL, _INBOUND, _OUTBOUND = (catalog.SUBJECTS.index(s) for s in ("all", "inbound", "outbound"))
_TYPE = catalog.SUBJECTS.index(ACTIVITY_TYPES[0])  # the types follow in ACTIVITY_TYPES's order
_LEVELS = 1 + len(catalog.WINDOW_DAYS)  # an activity is in "total" and in the windows it falls in (they nest)
#: Each window's level, in the catalog's order: the widest is 1 (an activity at level 1 is in it alone).
_WIDEST_FIRST = sorted(catalog.WINDOW_DAYS, key=catalog.WINDOW_DAYS.__getitem__, reverse=True)
_WINDOW_LEVEL = {window: 1 + _WIDEST_FIRST.index(window) for window in catalog.WINDOW_DAYS}
#: Per subject, in the catalog's order: its count names (to date, then each window's, with the window's level) and
#: its recency name, made once rather than per row.
_NAMES = [
    (
        catalog.count_name(subject, "total"),
        [(catalog.count_name(subject, window), level) for window, level in _WINDOW_LEVEL.items()],
        catalog.recency_name(subject),
    )
    for subject in catalog.SUBJECTS
]


def activity_row(k: Known) -> Row:
    """``activity`` for one row: each activity counted once per subject at its level (the number of windows it
    falls in: they nest), then every window's count is the count at its level or deeper."""
    starts = sorted(k.cutoff - days * DAY_NS for days in catalog.WINDOW_DAYS.values())
    counts = [0] * (len(catalog.SUBJECTS) * _LEVELS)
    last = [NAT] * len(catalog.SUBJECTS)
    recent = prior = 0
    week, fortnight = k.cutoff - 7 * DAY_NS, k.cutoff - 14 * DAY_NS
    for known, occurred, kind, inbound in zip(k.known, k.occurred, k.kind, k.inbound, strict=True):
        level = bisect_left(starts, known)  # the windows (start, cutoff] it falls in; 0: none
        for subject in (_ALL, _INBOUND if inbound else _OUTBOUND, _TYPE + kind):
            counts[subject * _LEVELS + level] += 1
            if occurred > last[subject]:
                last[subject] = occurred
        if known > week:
            recent += 1
        elif known > fortnight:
            prior += 1
    out: Row = {}
    for i, (total, windows, recency) in enumerate(_NAMES):
        at = counts[i * _LEVELS : (i + 1) * _LEVELS]
        out[total] = sum(at)
        for name, level in windows:
            out[name] = sum(at[level:])
        out[recency] = per(k.cutoff - last[i], HOUR_NS) if last[i] != NAT else np.nan
    out["act_trend_7d"] = per(recent - prior, max(recent + prior, 1)) if recent + prior > 0 else 0.0
    return out
