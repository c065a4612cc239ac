"""``salesml route``: one lead routed with the lead-score champion, or the routing backtest on history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import DataDir, Language, as_of_option, user_errors, wide_console
from features.errors import DataError
from features.messages import locale_of

if TYPE_CHECKING:
    from features.insights.routing import Routing
    from features.insights.routing_backtest import Share
    from training.routing import RoutingBacktest


@user_errors
def route_cmd(
    data: DataDir,
    lead: Annotated[str | None, typer.Option(help="The lead to route (its id in the dataset).")] = None,
    as_of: Annotated[str | None, as_of_option("when the lead was created")] = None,
    top: Annotated[int, typer.Option(min=1, help="How many ranked reps to print.")] = 5,
    preferred_rep: Annotated[str | None, typer.Option(help="The rep the customer chose (wins when eligible).")] = None,
    failed_routings: Annotated[
        int, typer.Option(min=0, help="Earlier failed routings of the lead; at 3 a person decides.")
    ] = 0,
    candidate: Annotated[
        list[str] | None, typer.Option(help="Consider only these reps (repeat the option); default: every rep.")
    ] = None,
    load_cap: Annotated[
        float, typer.Option(min=0, help="Skip reps with open leads at or above this many times the median (0: no cap).")
    ] = 1.5,
    locale: Language = "zh-CN",
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Instead of one lead: route past leads and compare with their owners.")
    ] = False,
    from_: Annotated[
        str | None, typer.Option("--from", help="Backtest: first creation date (default: 180 days before --to).")
    ] = None,
    to: Annotated[
        str | None, typer.Option(help="Backtest: end of the creation window (default: 30 days before the export).")
    ] = None,
) -> None:
    """Rank the eligible reps for a lead (hard rules, the field's rule and the model), or backtest routing."""
    if not backtest and lead is None:  # the options first: a mistake answers before the model loads
        raise DataError("give --lead LEAD_ID to route one lead, or --backtest")
    language = None if backtest else locale_of(locale)
    from training.routing import route_one, run_backtest

    console = wide_console()
    cap = load_cap or None
    if backtest:
        print_backtest(console, run_backtest(data, from_, to, cap), data.name)
        return
    routing, version = route_one(data, lead, as_of, preferred_rep, failed_routings, candidate, cap, language)
    print_routing(console, routing, version, top)


def print_routing(console: Console, routing: Routing, version: str, top: int) -> None:
    """The ``top`` ranked reps with their reasons, who was excluded and why, and the decision."""
    from training.routing import MODEL

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


def print_backtest(console: Console, result: RoutingBacktest, ds_name: str) -> None:
    """How often the owner was the model's or the field rule's first choice, and how those leads converted."""
    from features.insights.routing_backtest import agreement
    from training.routing import MODEL

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
    """A conversion rate with its 95% interval, or - when no lead is in it."""
    low, high = share.interval()
    return f"{share.rate:.1%} [{low:.1%}, {high:.1%}]" if share.n else "-"
