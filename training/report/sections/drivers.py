"""The forecast drivers section: what moved this month's team forecast since a week before the report time; and the
parts' rows as the section and `salesml forecast --explain` show them."""

from __future__ import annotations

import pandas as pd

from features.cli import money
from features.crm.dataset import Dataset
from features.errors import DataError
from features.insights.drivers import Drivers, forecast_drivers, since_time
from training.report.champions import Champion
from training.report.section import Section


def drivers_section(ds: Dataset, champion: Champion | None, at: pd.Timestamp, t: dict[str, str]) -> Section:
    """The parts of the P50 change of the month holding ``at`` (the fan chart's first month), with their largest
    deals; what could not be computed (no champion, no week of history before ``at``) is said instead."""
    section = Section("drivers", t["drivers"])
    if champion is None:
        section.notes.append(t["no_model"].format(name="close_probability"))
        return section
    try:
        drivers = forecast_drivers(ds, champion.scorer, at, since_time(ds, None, at), "month", "team")
    except DataError as error:
        section.notes.append(f"{t['skipped']}: {error}")
        return section
    before, after = drivers.p50
    caption = t["drivers_caption"].format(
        period=drivers.window.label,
        since=f"{drivers.since:%Y-%m-%d}",
        as_of=f"{drivers.as_of:%Y-%m-%d}",
        before=money(before),
        after=money(after),
        change=signed_money(drivers.change),
    )
    rows = [[(cell, "") for cell in row] for row in driver_rows(drivers, t)]
    section.paragraphs.append(t["drivers_def"])
    section.tables.append(
        {
            "caption": caption,
            "header": [t["driver"], t["change"], t["deals"], t["largest_deals"]],
            "rows": [*rows, [(t["drivers_total"], ""), (signed_money(drivers.change), ""), ("", ""), ("", "")]],
        }
    )
    return section


def signed_money(value: float) -> str:
    """A change as ``money`` writes it, a rise with its plus sign."""
    return f"+{money(value)}" if value > 0 else money(value)


def driver_rows(drivers: Drivers, t: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Each part as the CLI and the report show it: its words, the change, the deal count, the largest deals."""
    return [
        (
            t[f"part_{r.part}"],
            signed_money(r.change),
            "" if pd.isna(r.deals) else str(r.deals),
            ", ".join(f"{deal} {money(amount)}" for deal, amount in r.top),
        )
        for r in drivers.parts.itertuples()
    ]
