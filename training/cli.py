"""``salesml train`` and ``salesml score`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from features.cli import user_errors


@user_errors
def train_cmd(
    model: Annotated[str, typer.Option(help="A spec in models/ by name (lead_score) or a path to a spec YAML.")],
    data: Annotated[Path, typer.Option(help="A canonical dataset directory.")],
    trials: Annotated[int | None, typer.Option(min=1, help="Optuna trials (default: the spec's).")] = None,
    timeout: Annotated[float | None, typer.Option(min=1, help="Tuning time limit in seconds (default: spec).")] = None,
    promote: Annotated[bool, typer.Option(help="Make this version champion whatever the gate says.")] = False,
) -> None:
    """Tune, calibrate, evaluate beside the baselines, and register a model version (alias challenger)."""
    from training.report import summary_table
    from training.train import train

    result = train(model, data, trials=trials, timeout_s=timeout, promote=promote, progress=True)
    console = Console()
    console.print(summary_table(result.report))
    grades = ", ".join(
        f"{g['grade']} {g['share']:.0%} of rows convert {g['conversion_rate']:.1%}"
        for g in result.report["test"]["grades"]
    )
    console.print(f"grades on test: {grades}")
    console.print(f"skill: {result.report['test']['skill']['verdict']}")
    flags = [f["feature"] for f in result.report["leakage_flags"] if not f["allowed"]]
    if flags:
        console.print(f"[yellow]leakage guard excluded:[/yellow] {', '.join(flags)}")
    status = "champion" if result.promoted else "challenger (champion unchanged: gate not met)"
    console.print(f"registered {result.spec.name} version {result.version} as {status}; MLflow run {result.run_id}")


@user_errors
def score_cmd(
    model: Annotated[str, typer.Option(help="Registered model name: lead_score or close_probability.")],
    data: Annotated[Path, typer.Option(help="A canonical dataset directory.")],
    out: Annotated[Path, typer.Option(help="CSV file to write the scores to.")],
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this time (ISO 8601); default: the export time.")
    ] = None,
    locale: Annotated[str, typer.Option(help="Language of the factors: zh-CN or en.")] = "zh-CN",
    top: Annotated[int, typer.Option(min=1, max=20, help="Factors to list each way.")] = 3,
    show: Annotated[int, typer.Option(min=0, help="Print this many of the highest scores.")] = 3,
) -> None:
    """Score every open lead or opportunity as of a time with the champion model."""
    from rich.table import Table

    from training.scoring import score_open

    scores = score_open(model, data, as_of=as_of, locale=locale, top=top)
    out.parent.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out, index=False, encoding="utf-8-sig")
    console = Console()
    preview = Table(title=f"{model} v{scores['model_version'].iloc[0] if len(scores) else '?'}: highest scores")
    for column in ("entity_id", "probability", "score", "grade", "top_positive", "top_negative"):
        preview.add_column(column, overflow="fold")
    for row in scores.nlargest(show, "probability").itertuples():
        preview.add_row(
            row.entity_id, f"{row.probability:.1%}", str(row.score), row.grade, row.top_positive, row.top_negative
        )
    if show:
        console.print(preview)
    console.print(f"scored {len(scores):,} open rows with {model} -> {out}")
