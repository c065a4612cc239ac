"""First-response latency and 7-day activation: the entity's own, and a deal's originating lead's."""

from __future__ import annotations

import numpy as np

from features.pit.activity_log import ActivityLog
from features.pit.per_row import Known, Row, earliest, per
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS, HOUR_NS, NAT, column, gather, lookup, times

ACTIVATION_DAYS = 7
ACTIVATION_MIN_INTERACTIONS = 2


def _responses(log: ActivityLog, codes: np.ndarray, cutoffs: np.ndarray, created: np.ndarray) -> Columns:
    """First-response latency (to the first outbound activity) and 7-day activation, as known at the cutoff."""
    start, now = log.tl.first(codes), log.tl.upto(codes, cutoffs)
    first = log.earliest(log.subset(~log.inbound), start, now)
    responded = first != NAT
    wait_h = np.maximum(np.where(responded, first, cutoffs) - created, 0) / HOUR_NS
    week = log.tl.upto(codes, np.minimum(cutoffs, created + ACTIVATION_DAYS * DAY_NS))
    effective = log.subset(log.effective).count(start, week)
    return {
        "first_response_h": np.where(responded, wait_h, np.nan),
        "no_response_yet": (~responded).astype(np.float64),
        "response_wait_h": wait_h,
        "effective_interactions_7d": effective.astype(np.float64),
        "activated_7d": (effective >= ACTIVATION_MIN_INTERACTIONS).astype(np.float64),
    }


def response(r: FrameRows) -> Columns:
    """The entity's own first response and activation."""
    return _responses(r.log, r.codes, r.cutoffs, r.created)


def response_row(k: Known) -> Row:
    """``response`` for one row."""
    first = earliest([t for t, inbound in zip(k.occurred, k.inbound, strict=True) if not inbound])
    responded = first != NAT
    wait_h = per(max((first if responded else k.cutoff) - k.created, 0), HOUR_NS)
    week = min(k.cutoff, k.created + ACTIVATION_DAYS * DAY_NS)
    effective = sum(1 for t, e in zip(k.known, k.effective, strict=True) if e and t <= week)
    return {
        "first_response_h": wait_h if responded else np.nan,
        "no_response_yet": float(not responded),
        "response_wait_h": wait_h,
        "effective_interactions_7d": float(effective),
        "activated_7d": float(effective >= ACTIVATION_MIN_INTERACTIONS),
    }


def lead_origin(r: FrameRows) -> Columns:
    """The originating lead's response and activation at the deal's cutoff (NaN for deals without a lead)."""
    leads = r.table("leads")
    lead = lookup(r.attr("lead_id"), column(leads, "lead_id"))
    log = ActivityLog(r.table("activities"), "lead", column(leads, "lead_id"))
    found = _responses(log, lead, r.cutoffs, gather(times(leads, "created_at"), lead, NAT))
    return {f"lead_{name}": np.where(lead >= 0, values, np.nan) for name, values in found.items()}
