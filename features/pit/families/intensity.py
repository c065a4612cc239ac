"""Time spent: minutes with the entity (all activities) and on the website (web visits)."""

from __future__ import annotations

import numpy as np

from features.crm.schema import ACTIVITY_TYPES
from features.pit.per_row import Known, Row, per
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS

WEB_VISIT = ACTIVITY_TYPES.index("web_visit")


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


def intensity_row(k: Known) -> Row:
    """``intensity`` for one row."""
    week, month = k.cutoff - 7 * DAY_NS, k.cutoff - 30 * DAY_NS
    spent, web = [0, 0, 0], [0, 0]
    for known, kind, seconds in zip(k.known, k.kind, k.duration_s, strict=True):
        spent[0] += seconds
        spent[1] += seconds if known > week else 0
        spent[2] += seconds if known > month else 0
        if kind == WEB_VISIT:
            web[0] += seconds
            web[1] += seconds if known > month else 0
    return {
        "act_duration_min_total": per(spent[0], 60),
        "act_duration_min_7d": per(spent[1], 60),
        "act_duration_min_30d": per(spent[2], 60),
        "web_dwell_min_total": per(web[0], 60),
        "web_dwell_min_30d": per(web[1], 60),
    }
