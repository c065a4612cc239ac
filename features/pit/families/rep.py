"""The owner's record and load at the cutoff, and (leads) its fit with this kind of lead."""

from __future__ import annotations

import numpy as np

from features.pit.history import SMOOTHING
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS, NAT, present


def rep(r: FrameRows) -> Columns:
    """The owner's record and load at the cutoff: closed deals, win and lead conversion rates, open work."""
    history, owner, cutoffs = r.history, r.owner, r.cutoffs
    closed, _, win_rate = r.rate("rep_deals_closed")
    opened, _ = r.count("rep_deals_created")
    ended, _ = r.count("rep_deals_ended")
    assigned, _ = r.count("rep_leads_created")
    resolved, conversion = r.owner_leads
    row = history.rows("reps", "rep_id", owner)
    hired, left = (history.gathered("reps", c, "time", row) for c in ("hired_at", "left_at"))
    has_rep = present(owner)
    return {
        "rep_deals_closed_n": np.where(has_rep, closed, np.nan),
        "rep_win_rate": np.where(has_rep, win_rate, np.nan),
        "rep_lead_conversion_rate": np.where(has_rep, conversion, np.nan),
        "rep_open_deals_n": np.where(has_rep, np.maximum(opened - ended, 0), np.nan),
        "rep_open_leads_n": np.where(has_rep, np.maximum(assigned - resolved, 0), np.nan),
        "rep_tenure_days": np.where(hired != NAT, (cutoffs - hired) / DAY_NS, np.nan),
        "rep_has_left": np.where(row >= 0, (left != NAT) & (left <= cutoffs), np.nan),
        "rep_team": history.gathered("reps", "team", "text", row),
        "rep_region": history.gathered("reps", "region", "text", row),
    }


def rep_fit(r: FrameRows) -> Columns:
    """The owner's fit with the lead: its lead conversion on its past leads of this industry and of this source.

    Only the owner's leads resolved by the cutoff count; each rate is smoothed towards the owner's overall lead
    conversion rate at the cutoff, so a rep with few such leads gets about its overall rate (NaN without an owner).
    """
    _, conversion = r.owner_leads
    has_rep = present(r.owner)
    out = {}
    for name in ("industry", "source"):
        n, k = r.count(f"rep_{name}_leads_resolved")
        out[f"rep_{name}_conversion_rate"] = np.where(has_rep, (k + SMOOTHING * conversion) / (n + SMOOTHING), np.nan)
    return out
