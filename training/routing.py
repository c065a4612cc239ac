"""``salesml route``: one lead routed with the lead-score champion, or the routing backtest on history.

The routing itself is ``features.insights.routing`` (the service runs the same code); this module reads the dataset and
the
registry's champion, checks the analyst's options and prints the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from features.crm.dataset import read_dataset, to_utc_scalar
from features.errors import DataError
from features.insights.routing import LeadToRoute, Routing, route
from features.insights.routing_backtest import Share, agreement, backtest
from features.pit.frames import LEAD_HORIZON_DAYS
from features.pit.timeline import DAY_NS
from features.scoring.factors import Locale
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


def print_routing(console: Console, routing: Routing, version: str, top: int) -> None:
    table = Table(title=f"Routing of {routing.lead_id} as of {routing.as_of:%Y-%m-%d %H:%M} UTC ({MODEL} v{version})")
    for name in ("model", "rule", "rep", "region", "p(convert)", "won 90d", "open leads", "reasons"):
        table.add_column(name, justify="left" if name in ("rep", "region", "reasons") else "right")
    for c in routing.candidates[:top]:
        table.add_row(
            str(c.model_rank) if c.model_rank is not None else "cap",
            str(c.rule_rank),
            c.rep_id,
            c.region or "-",
            f"{c.probability:.1%}",
            str(c.won_customers_90d),
            f"{c.open_leads:.0f}",
            "; ".join(c.reasons[:3]),
        )
    console.print(table)
    cap = "none" if routing.load_cap is None else f"{routing.load_cap:.1f} open leads"
    console.print(f"{len(routing.candidates)} eligible reps, load cap {cap}; excluded {len(routing.excluded)}:")
    for e in routing.excluded:
        console.print(f"  {e.rep_id}: {e.detail}")
    for note in routing.notes:
        console.print(f"[yellow]note[/yellow] {note}")
    console.print(f"[bold]decision: {routing.decision}[/bold] (rule {routing.rule}: {routing.basis})")


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


def print_backtest(console: Console, result: RoutingBacktest, ds_name: str) -> None:
    table = Table(
        title=f"Routing backtest {ds_name}: {len(result.per_lead):,} leads created {result.start.date()}.."
        f"{result.end.date()} ({MODEL} v{result.version}); 30-day conversion"
    )
    for name in ("first choice of", "owner was it", "converted", "owner was another", "converted ", "difference"):
        table.add_column(name, justify="left" if name == "first choice of" else "right")
    for label, choice in (("model", "model_first"), ("field rule", "rule_first")):
        same, other, (diff, low, high) = agreement(result.per_lead, choice)
        table.add_row(
            label, f"{same.n:,}", _rate(same), f"{other.n:,}", _rate(other), f"{diff:+.1%} [{low:+.1%}, {high:+.1%}]"
        )
    console.print(table)
    console.print(
        "Observational: the owners were not assigned at random, so a difference is an association, not the effect "
        "of routing by the model (only a randomised trial measures that). Rates with 95% intervals."
    )
    if result.in_sample:
        console.print("[yellow]note[/yellow] the window overlaps the model's training data: these leads are in-sample.")


def _rate(share: Share) -> str:
    low, high = share.interval()
    return f"{share.rate:.1%} [{low:.1%}, {high:.1%}]" if share.n else "-"
