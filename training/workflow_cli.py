"""``salesml sweep`` (silent leads) and ``salesml activities score`` (follow-up quality) with the champion models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from features.cli import AsOf, DataDir, Language, user_errors, wide_console
from features.outputs import output_file

activities_app = typer.Typer(help="Score the sales team's follow-up activities.", no_args_is_help=True)
DEFAULT_DAYS = 30


@user_errors
def sweep_cmd(
    data: DataDir,
    as_of: AsOf = None,
    since: Annotated[
        str | None, typer.Option(help="The previous sweep: the 'score then' time (default: 24 h before --as-of).")
    ] = None,
    lead: Annotated[list[str] | None, typer.Option(help="Sweep only these lead ids (repeat the option).")] = None,
    out: Annotated[Path | None, typer.Option(help="CSV to write (default DATA/workflow/sweep.csv).")] = None,
    locale: Language = "zh-CN",
    show: Annotated[int, typer.Option(min=0, help="Print this many of the listed leads.")] = 5,
) -> None:
    """Re-score every open lead: grade drops since the last sweep, one grade down per 24 h without an outbound
    action, and reassignment to the high-performer pool after 72 h, with the evidence."""
    from features.crm.dataset import read_dataset
    from features.insights.sweep import sweep
    from features.messages import locale_of
    from features.scoring.pyfunc import CHAMPION
    from training.registry import load_scorer

    language = locale_of(locale)
    scorer, version = load_scorer("lead_score", CHAMPION)
    result = sweep(read_dataset(data), scorer, as_of, since, lead, language)
    path = output_file(out or data / "workflow" / "sweep.csv")
    result.rows.assign(model_version=version).to_csv(path, index=False, encoding="utf-8-sig")
    counts = result.counts()
    table = Table(title=f"Silent-lead sweep {result.since:%Y-%m-%d %H:%M} -> {result.as_of:%Y-%m-%d %H:%M} UTC")
    for column in ("lead_id", "owner", "silent h", "score then", "score now", "grade", "effective", "action", "note"):
        table.add_column(column, overflow="fold")
    for r in result.rows.head(show).itertuples():
        then = "-" if pd.isna(r.score_then) else f"{r.score_then} {r.grade_then}"
        table.add_row(
            r.lead_id,
            str(r.owner_rep_id),
            str(int(r.silent_hours)),
            then,
            str(r.score_now),
            r.grade_now,
            r.effective_grade,
            r.action,
            r.note,
        )
    console = wide_console()
    if show:
        console.print(table)
    console.print(
        f"{counts['open_leads']:,} open leads (lead_score v{version}): {counts['grade_fell']:,} fell a grade, "
        f"{counts['silent_24h']:,} silent 24 h+, {counts['reassign']:,} to reassign (72 h+) -> {path}"
    )


@activities_app.command("score")
@user_errors
def activities_score_cmd(
    data: DataDir,
    as_of: AsOf = None,
    opportunity: Annotated[
        list[str] | None, typer.Option(help="Score this deal's activities (repeat the option).")
    ] = None,
    lead: Annotated[list[str] | None, typer.Option(help="Score this lead's activities (repeat the option).")] = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help=f"Activities entered in the last N days (default: {DEFAULT_DAYS} when no ids are named, else all).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="CSV to write (default DATA/workflow/activity_quality.csv).")] = None,
    show: Annotated[int, typer.Option(min=0, help="Print this many of the lowest scores.")] = 5,
) -> None:
    """Follow-up quality (0-100) of each rep action: how much it moved the deal's (or lead's) probability, call
    length, attachment, next step and note; below 60 it does not count."""
    from features.crm.dataset import read_dataset
    from features.insights.activity_quality import score_activities
    from features.scoring.pyfunc import CHAMPION
    from training.registry import load_scorer

    ds = read_dataset(data)
    named = {"close_probability": opportunity, "lead_score": lead}
    wanted = {model: ids for model, ids in named.items() if ids} or {"close_probability": None}
    window = days if days is not None else (None if opportunity or lead else DEFAULT_DAYS)
    parts = []
    for model, ids in wanted.items():
        scorer, version = load_scorer(model, CHAMPION)
        scored = score_activities(ds, scorer, as_of, ids, window)
        parts.append(scored.assign(entity=scorer.entity, model=model, model_version=version))
    result = pd.concat(parts, ignore_index=True)
    path = output_file(out or data / "workflow" / "activity_quality.csv")
    result.to_csv(path, index=False, encoding="utf-8-sig")
    table = Table(title="Follow-up quality: lowest scores")
    for column in ("activity", "entity", "type", "late h", "Δp", "duration", "attach", "next", "note", "score"):
        table.add_column(column, justify="right" if column in ("late h", "Δp", "score") else "left")
    for r in result.nsmallest(show, "score").itertuples():
        table.add_row(
            r.activity_id,
            r.entity_id,
            r.type,
            f"{r.recorded_late_hours:.0f}",
            f"{r.delta_probability:+.3f}",
            *(_mark(getattr(r, f"check_{c}")) for c in ("duration", "attachment", "next_step", "note")),
            str(r.score),
        )
    console = wide_console()
    if show and len(result):
        console.print(table)
    counting = float(result["counts"].mean()) if len(result) else 0.0
    console.print(
        f"{len(result):,} rep actions scored, {counting:.0%} count (score >= 60); mean score "
        f"{result['score'].mean() if len(result) else 0:.0f} -> {path}"
    )


def _mark(check: object) -> str:
    """A check as the table shows it: pass, FAIL, or - (not applicable)."""
    return "-" if pd.isna(check) else ("pass" if check else "FAIL")
