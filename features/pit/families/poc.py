"""Proof-of-concept length, finished or still running at the cutoff."""

from __future__ import annotations

import numpy as np

from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS, NAT


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
