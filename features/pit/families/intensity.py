"""Time spent: minutes with the entity (all activities) and on the website (web visits)."""

from __future__ import annotations

import numpy as np

from features.pit.rows import Columns, FrameRows


def intensity(r: FrameRows) -> Columns:
    """Minutes spent with the entity (all activities) and on the website (web visits)."""
    log = r.log
    spent = log.tl.prefix(log.duration_s)
    web = log.tl.prefix(np.where(log.is_type("web_visit"), log.duration_s, 0))
    return {
        "act_duration_min_total": (spent[r.now] - spent[r.start]) / 60,
        "act_duration_min_7d": (spent[r.now] - spent[r.since(7)]) / 60,
        "act_duration_min_30d": (spent[r.now] - spent[r.since(30)]) / 60,
        "web_dwell_min_total": (web[r.now] - web[r.start]) / 60,
        "web_dwell_min_30d": (web[r.now] - web[r.since(30)]) / 60,
    }
