"""``salesml insights``: each champion's top key factors by value, with the history's conversion or win rate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from features.cli import DataDir, Language, user_errors, wide_console
from features.errors import DataError
from features.messages import locale_of
from features.scoring import MODELS

if TYPE_CHECKING:
    from training.report.insights import FactorValues


@user_errors
def insights_cmd(
    data: DataDir,
    model: Annotated[
        str | None, typer.Option(show_default=False, help="lead_score or close_probability; default: both.")
    ] = None,
    top: Annotated[int, typer.Option(min=1, max=20, help="Key factors per model, by importance.")] = 5,
    locale: Language = "zh-CN",
) -> None:
    """Conversion (leads) or win rate (deals) by the value of each champion's top key factors: one case per lead or
    deal as last seen with its outcome known, numbers in quantile bands, 90% intervals, values under 30 cases
    pooled."""
    language = locale_of(locale)
    if model is not None and model not in MODELS:
        raise DataError(f"unknown model {model!r}: {' or '.join(MODELS)}")
    from training.report.insights import model_insights  # after the options are checked: a typo answers at once

    console = wide_console()
    for name in (model,) if model else MODELS:
        insights = model_insights(name, data, top, language)
        console.print(
            f"{insights.model} v{insights.version}: {insights.cases:,} cases with a known outcome "
            f"(label: {insights.label})"
        )
        for factor in insights.factors:
            console.print(factor_table(factor))


def factor_table(factor: FactorValues) -> Table:
    """One factor's values: cases, positives, the rate and its 90% interval."""
    table = Table(title=f"{factor.factor} ({factor.feature}; {factor.direction})", title_justify="left")
    for column in ("value", "cases", "positive", "rate", "90% interval"):
        table.add_column(column, justify="left" if column == "value" else "right")
    for row in factor.rates:
        interval = f"{row.low:.1%} .. {row.high:.1%}"
        table.add_row(row.value, f"{row.cases:,}", f"{row.positives:,}", f"{row.rate:.1%}", interval)
    return table
