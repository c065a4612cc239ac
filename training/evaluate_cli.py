"""``salesml evaluate``: one model version's quality month by month on later data, to see how fast it goes stale."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import DataDir, ModelName, user_errors

if TYPE_CHECKING:
    from training.staleness import Staleness


@user_errors
def evaluate_cmd(
    model: ModelName,
    data: DataDir,
    start: Annotated[str, typer.Option("--from", help="First month to evaluate (a date in it, YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last month to evaluate (a date in it, YYYY-MM-DD).")],
    version: Annotated[
        str | None, typer.Option(show_default=False, help="Model version to judge; default: the champion.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score each month's snapshots (features as of each cutoff, labels as training makes them) with one version
    and print ROC AUC, calibration error and top-decile lift by month since the end of its training data."""
    from training.staleness import evaluate_version

    result = evaluate_version(model, data, start, end, version)
    if as_json:
        print(json.dumps(result.as_dict(), indent=1))
    else:
        Console().print(staleness_table(result))


def staleness_table(result: Staleness) -> Table:
    table = Table(
        title=f"{result.model} v{result.version} (trained until {result.trained_until[:10]}) by month of cutoff"
    )
    for column in ("month", "months since training", "rows", "positives", "ROC AUC", "ECE", "lift top 10%"):
        table.add_column(column, justify="left" if column == "month" else "right")
    for m in result.months:
        table.add_row(
            m.month,
            f"{m.months_since_training:+d}",
            f"{m.n:,}",
            f"{m.positives:,}",
            _figure(m.roc_auc, "{:.3f}"),
            _figure(m.ece, "{:.3f}"),
            _figure(m.lift_top_decile, "{:.2f}"),
        )
    return table


def _figure(value: float, form: str) -> str:
    return form.format(value) if value == value else "-"  # NaN: one class, or no rows, that month
