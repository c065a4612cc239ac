"""What ``salesml route`` computes: one lead routed with the lead-score champion, or the routing backtest on history.

The routing itself is ``features.insights.routing`` (the service runs the same code); this module reads the dataset and
the registry's champion and checks the analyst's options; ``training.routing_cli`` prints the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.crm.dataset import read_dataset, to_utc_scalar
from features.errors import DataError
from features.insights.routing import LeadToRoute, Routing, route
from features.insights.routing_backtest import backtest
from features.messages import Locale
from features.pit.frames import LEAD_HORIZON_DAYS
from features.pit.timeline import DAY_NS
from features.scoring.pyfunc import CHAMPION
from training.registry import load_scorer

MODEL = "lead_score"
BACKTEST_DAYS = 180  # default window: the leads of the 180 days before the last whose 30-day outcome is known


def _time(value: str | None, option: str) -> pd.Timestamp | None:
    try:
        return to_utc_scalar(value) if value else None
    except ValueError as exc:
        raise DataError(f"{option} {value!r}: not a time ({exc})") from exc


def route_one(
    data: Path,
    lead_id: str,
    as_of: str | None,
    preferred: str | None,
    failed: int,
    candidates: list[str] | None,
    cap_factor: float | None,
    locale: Locale,
) -> tuple[Routing, str]:
    """The routing of a lead of the dataset as of a time (default: its creation, when it was routed)."""
    ds = read_dataset(data)
    leads = ds.get("leads")
    found = leads[leads["lead_id"].astype(str) == lead_id]
    if found.empty:
        raise DataError(f"--lead {lead_id!r}: no such lead in {data}")
    created = to_utc_scalar(found["created_at"].iloc[0])
    at = _time(as_of, "--as-of") or created
    if at < created:
        raise DataError(f"--as-of {at.isoformat()} is before the lead was created ({created.isoformat()})")
    scorer, version = load_scorer(MODEL, CHAMPION)
    lead = LeadToRoute(lead_id, at, preferred, failed, tuple(candidates) if candidates else None)
    return route(ds, scorer, lead, cap_factor=cap_factor, locale=locale), version


@dataclass
class RoutingBacktest:
    per_lead: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    version: str
    in_sample: bool  # the window overlaps the model's training data


def run_backtest(data: Path, start: str | None, end: str | None, cap_factor: float | None) -> RoutingBacktest:
    """Each lead of the window routed as of its creation, against who actually owned it and whether it converted."""
    ds = read_dataset(data)
    last = to_utc_scalar(ds.manifest.exported_at) - pd.Timedelta(days=LEAD_HORIZON_DAYS)
    to = _time(end, "--to") or last
    begin = _time(start, "--from") or to - pd.Timedelta(days=BACKTEST_DAYS)
    if begin >= to:
        raise DataError(f"--from ({begin.date()}) must be before --to ({to.date()})")
    scorer, version = load_scorer(MODEL, CHAMPION)
    per_lead = backtest(ds, scorer, begin, to, cap_factor)
    if per_lead.empty:
        raise DataError(
            f"no lead with an owner and a known {LEAD_HORIZON_DAYS}-day outcome was created between {begin.date()} and "
            f"{to.date()}"
        )
    window = scorer.metadata.get("data_window") or []
    in_sample = (
        bool(window) and to_utc_scalar(window[0]) < to and begin.value < to_utc_scalar(window[-1]).value + DAY_NS
    )
    return RoutingBacktest(per_lead, begin, to, version, in_sample)
