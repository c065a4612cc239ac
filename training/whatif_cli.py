"""``salesml whatif``: which next action would raise an open deal's (or lead's) probability most, with the champion."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import AsOf, DataDir, Language, user_errors, wide_console
from features.errors import DataError
from features.messages import locale_of

if TYPE_CHECKING:
    from features.insights.whatif import WhatIf
    from training.scoring import Champions

MODELS = {"opportunity": "close_probability", "lead": "lead_score"}
SHOWN_FACTORS = 3  # factors moved, per action


@user_errors
def whatif_cmd(
    data: DataDir,
    opportunity: Annotated[str | None, typer.Option(help="The open deal (its id in the dataset).")] = None,
    lead: Annotated[str | None, typer.Option(help="Or an open lead (its id in the dataset).")] = None,
    as_of: AsOf = None,
    action: Annotated[
        list[str] | None, typer.Option(help="Only these candidate actions (repeat the option); default: all.")
    ] = None,
    follow_up_hours: Annotated[float, typer.Option(min=0, help="N of 'a follow-up call within N hours'.")] = 24.0,
    locale: Language = "zh-CN",
) -> None:
    """Each candidate action re-scored as a hypothetical activity: the probability without and with it, best first."""
    from features.crm.dataset import as_of_time, read_dataset

    if (opportunity is None) == (lead is None):
        raise DataError("give one of --opportunity ID or --lead ID")
    entity, entity_id = ("opportunity", opportunity) if opportunity is not None else ("lead", lead)
    ds = read_dataset(data)
    at = as_of_time(ds, as_of)  # the inputs first: a mistake answers before the models load
    from features.insights.whatif import what_if
    from training.scoring import Champions

    champions = Champions.load(MODELS[entity])
    scorer = champions.segmented()
    (answer,) = what_if(ds, scorer, [str(entity_id)], at, action, follow_up_hours, locale_of(locale))
    print_whatif(wide_console(), answer, f"{MODELS[entity]} v{champions.version}{_segments(champions)}")


def _segments(champions: Champions) -> str:
    """What the title says of the segment champions that scored the entity's segment, when the model has any."""
    return f" (+{len(champions.segments)} segment champions)" if champions.segments else ""


def print_whatif(console: Console, answer: WhatIf, model: str) -> None:
    """The proposed actions best first, with the factors each moved, then the skipped ones and why."""
    stage = f", stage {answer.stage}" if answer.stage else ""
    segment = f", scored by the {answer.segment} segment's model" if answer.segment else ""
    table = Table(
        title=f"What-if for {answer.entity_id} as of {answer.as_of:%Y-%m-%d %H:%M} UTC ({model}): "
        f"p now {answer.p_now:.1%}{stage}{segment}"
    )
    for name in ("#", "action", "at (UTC)", "p without", "p with", "change", "factors moved"):
        table.add_column(name, justify="left" if name in ("action", "at (UTC)", "factors moved") else "right")
    for rank, o in enumerate(answer.options, 1):
        moved = "; ".join(f"{m.name} {m.change:+.1%}" for m in o.moved[:SHOWN_FACTORS])
        table.add_row(
            str(rank),
            o.name,
            f"{o.occurs_at:%Y-%m-%d %H:%M}",
            f"{o.p_before:.1%}",
            f"{o.p_after:.1%}",
            f"{o.change:+.1%}",
            moved or "-",
        )
    console.print(table)
    for s in answer.skipped:
        console.print(f"skipped {s.name} ({s.action}): {s.reason}")
    console.print(
        "Each action is scored a second after it happens, against the same time without it; an association the model "
        "learned from past deals, not a measured causal effect."
    )
