"""Proof-of-concept length, finished or still running at the cutoff."""

from __future__ import annotations

import numpy as np

from features.crm.schema import ACTIVITY_TYPES
from features.pit.per_row import Known, Row, earliest, latest, per
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS, NAT

POC_START, POC_END = ACTIVITY_TYPES.index("poc_start"), ACTIVITY_TYPES.index("poc_end")


def poc(r: FrameRows) -> Columns:
    """POC length: the first poc_start to the last poc_end after it, or to the cutoff while running."""
    log = r.log
    started = log.earliest(log.subset(log.is_type("poc_start")), r.start, r.now)
    ended = log.latest(log.subset(log.is_type("poc_end")), r.start, r.now)
    has_poc = started != NAT
    finished = has_poc & (ended != NAT) & (ended >= started)
    return {
        "poc_days": np.where(has_poc, (np.where(finished, ended, r.cutoffs) - started) / DAY_NS, np.nan),
        "poc_running": (has_poc & ~finished).astype(np.float64),
    }


def poc_row(k: Known) -> Row:
    """``poc`` for one row."""
    started = earliest([t for t, kind in zip(k.occurred, k.kind, strict=True) if kind == POC_START])
    ended = latest([t for t, kind in zip(k.occurred, k.kind, strict=True) if kind == POC_END])
    if started == NAT:
        return {"poc_days": np.nan, "poc_running": 0.0}
    finished = ended != NAT and ended >= started
    return {"poc_days": per((ended if finished else k.cutoff) - started, DAY_NS), "poc_running": float(not finished)}
