"""A deal's funnel position: current and furthest stage, time in each stage against typical dwell, regressions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.crm.dataset import STRING_DTYPE
from features.pit import catalog
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS, NAT, Ranked, Subset, Timeline, column, lookup, times

#: Typical stage dwell (days) from the field reference; other stage names get the median.
FIELD_DWELL_DAYS = {"lead": 4.0, "needs_confirmed": 8.5, "demo": 6.5, "quote": 12.5, "contract": 2.5}
DWELL_ALIASES = {"first_contact": "lead", "proposal": "demo", "negotiation": "quote", "signing": "contract"}


def typical_dwell_days(stage_names: Sequence[str]) -> np.ndarray:
    """Typical days in each stage, then (last, for unknown stages) the median of the field figures."""
    median = float(np.median(list(FIELD_DWELL_DAYS.values())))
    return np.array([*(FIELD_DWELL_DAYS.get(DWELL_ALIASES.get(n, n), median) for n in stage_names), median])


def stage(r: FrameRows) -> Columns:
    """Current and furthest stage, days in each stage against typical dwell, and regressions."""
    changes, names = r.table("stage_changes"), r.ds.manifest.stage_names()
    stage = lookup(column(changes, "stage"), pd.Series(names, dtype=STRING_DTYPE))
    deal = lookup(column(changes, "opportunity_id"), column(r.entities, "opportunity_id"))
    changed_at = times(changes, "changed_at")
    tl = Timeline(deal, changed_at, tiebreak=stage + 1)  # changes at one time: funnel order, the furthest is current
    index, at = tl.take(stage), tl.take(changed_at)
    start, now = tl.first(r.codes), tl.upto(r.codes, r.cutoffs)
    current = tl.last(index, start, now, -1)
    entered = tl.last(at, start, now, NAT)
    days = np.where(entered != NAT, (r.cutoffs - entered) / DAY_NS, np.nan)
    same_deal = np.r_[False, tl.codes[1:] == tl.codes[:-1]]
    previous = np.where(same_deal, np.r_[-1, index[:-1]], -1)
    stay = np.where(same_deal, at - np.r_[at[:1], at[:-1]], 0)  # the previous stay, known when this change is
    furthest = Subset(tl, index >= 0).latest(Ranked(tl, index), start, now)
    out = {
        "stage_index": np.where(current >= 0, current, np.nan),
        "stage_max_index": np.where(furthest >= 0, furthest, np.nan),
        "stage_changes_n": (now - start).astype(np.int32),
        "stage_regressions_n": Subset(tl, (index >= 0) & (previous > index)).count(start, now),
        "days_in_stage": days,
        "stage_dwell_ratio": days / typical_dwell_days(names)[current],
    }
    for i, name in enumerate(names):
        done = tl.prefix(np.where(previous == i, stay, 0))
        ongoing = np.where(current == i, r.cutoffs - entered, 0)
        out[catalog.stage_days_name(name)] = (done[now] - done[start] + ongoing) / DAY_NS
    return out
