"""``salesml train`` and ``salesml score``: a model version registered from a dataset, and the champion's scores."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from features.cli import AsOf, DataDir, Language, ModelName, ModelSpec, Trials, user_errors
from features.errors import DataError
from features.messages import text
from features.outputs import output_dir, output_file
from features.pit.cli import (
    DEFAULT_WORKERS,
    Engine,
    Partitions,
    Scheduler,
    Workers,
    check_engine,
    given_options,
    say_on_stderr,
)
from features.scoring import PRIOR

if TYPE_CHECKING:
    import pandas as pd

    from training.train import TrainResult


@user_errors
def train_cmd(
    ctx: typer.Context,
    model: ModelSpec,
    data: DataDir,
    trials: Trials = None,
    timeout: Annotated[float | None, typer.Option(min=1, help="Tuning time limit in seconds (default: spec).")] = None,
    promote: Annotated[bool, typer.Option(help="Make this version champion whatever the gate says.")] = False,
    engine: Engine = "local",
    workers: Workers = DEFAULT_WORKERS,
    scheduler: Scheduler = None,
    partitions: Partitions = None,
) -> None:
    """Tune, calibrate, evaluate beside the baselines, and register a model version (alias challenger)."""
    check_engine(ctx, engine, workers, partitions)
    from training.spec import load_spec, require_dask_trainable

    spec, _ = load_spec(model)  # a wrong name refused before LightGBM, scikit-learn and MLflow load: seconds each
    if engine == "dask":
        require_dask_trainable(spec)  # and before Dask loads
        from features.pit.distributed import DEFAULT_PARTITIONS
        from training.distributed_training import train_on_dask

        result = train_on_dask(
            model,
            data,
            workers=workers,
            scheduler=scheduler,
            partitions=partitions or DEFAULT_PARTITIONS,
            say=say_on_stderr(),
            trials=trials,
            timeout_s=timeout,
            promote=promote,
        )
    else:
        from training.train import train

        result = train(model, data, trials=trials, timeout_s=timeout, promote=promote, progress=True)
    print_training(Console(), result)


def print_training(console: Console, result: TrainResult) -> None:
    """The test split beside the baselines, the grades, what is served, what held it back, and where it went."""
    from training.gate import below_floor, floor_line
    from training.summary import CANDIDATE_NAMES

    report = result.report
    if report.get("kind") == PRIOR:
        print_prior(console, result)
        return
    console.print(summary_table(report))
    grades = ", ".join(
        f"{g['grade']} {g['share']:.0%} of rows convert {g['conversion_rate']:.1%}" for g in report["test"]["grades"]
    )
    console.print(f"grades on test: {grades}")
    for cut in report["test"].get("confusion", []):
        console.print(
            f"grades {cut['cut']} as 'will convert': {cut['tp']:,} of {cut['tp'] + cut['fn']:,} converters caught"
            f" (recall {cut['recall']:.0%}), {cut['tp']:,} of {cut['tp'] + cut['fp']:,} converted"
            f" (precision {cut['precision']:.0%})"
        )
    console.print(f"skill: {report['test']['skill']['verdict']}")
    if "calibration" in report["test"]:
        console.print(f"calibration: {report['test']['calibration']['verdict']}")
    floor = report["gate"]["floor"]
    if not below_floor(floor):  # below it, the line is why the version is held back
        console.print(f"baselines: {floor_line(floor)}")
    if report["horizon_days"]:
        console.print(f"label horizon: {report['horizon_note']}")
    refit = report["refit"]
    if refit.get("engine") == "dask":
        console.print(
            f"served: {CANDIDATE_NAMES[report['chosen']]} fitted on the Dask cluster on the {refit['rows']:,} train"
            f" rows up to {refit['trained_until']} (tuned on a sample of {refit['tuning_sample']:,})"
        )
    else:
        console.print(
            f"served: {CANDIDATE_NAMES[report['chosen']]} (chosen on calib), refit on "
            f"{refit['rows']:,} rows up to {refit['trained_until']}"
        )
    for blocker in report["gate"]["blockers"]:
        console.print(f"[yellow]held back:[/yellow] {blocker}")
    flags = [f["feature"] for f in report["leakage_flags"] if not f["allowed"]]
    if flags:
        console.print(f"[yellow]leakage guard excluded:[/yellow] {', '.join(flags)}")
    status = "champion" if result.promoted else "challenger (champion unchanged: gate not met)"
    if result.promoted and report["gate"]["forced"]:
        status = "champion (--promote: the gate was not met)"
    console.print(f"registered {result.spec.name} version {result.version} as {status}; MLflow run {result.run_id}")
    from training.segments import segment_lines

    for line in segment_lines(report.get("segments", [])):
        console.print(f"segment {line}")


def print_prior(console: Console, result: TrainResult) -> None:
    """Why no ML model was trained, and the prior registered in its place."""
    prior = result.report["prior"]
    console.print(f"[yellow]not enough data for an ML model:[/yellow] {prior['reason']}")
    what = text(f"report.prior_{prior['method']}", "en")
    console.print(
        f"prior model ({what}) on {prior['rows']:,} rows ({prior['labelled_rows']:,} labelled,"
        f" {prior['positives']:,} positive), {prior['inputs_used']} inputs used; scores are marked kind: prior"
    )
    status = "champion" if result.promoted else "challenger (an ML champion is served; a prior never replaces it)"
    console.print(f"registered {result.spec.name} version {result.version} as {status}; MLflow run {result.run_id}")


def summary_table(report: dict[str, Any]) -> Table:
    """salesml, its candidates and the baselines on the same test rows (the report's comparison, in a terminal)."""
    from training.summary import SHOWN, comparison_rows, metric_text

    table = Table(
        title=f"{report['model']} v{report.get('version', '?')}: test split ({report['split']['kind']} split)"
    )
    table.add_column("model")
    for k in SHOWN:
        table.add_column(k, justify="right")
    for name, metrics in comparison_rows(report):
        table.add_row(name, *(metric_text(metrics[k]) for k in SHOWN))
    return table


@user_errors
def score_cmd(
    ctx: typer.Context,
    model: ModelName,
    data: DataDir,
    out: Annotated[
        Path, typer.Option(help="CSV file to write the scores to; with --engine dask a directory of Parquet parts.")
    ],
    as_of: AsOf = None,
    locale: Language = "zh-CN",
    top: Annotated[int, typer.Option(min=1, max=20, help="Factors to list each way.")] = 3,
    show: Annotated[int, typer.Option(min=0, help="Print this many of the highest scores (--engine local).")] = 3,
    engine: Engine = "local",
    workers: Workers = DEFAULT_WORKERS,
    scheduler: Scheduler = None,
    partitions: Partitions = None,
) -> None:
    """Score every open lead or opportunity as of a time with the champion model."""
    from features.insights.trend import trend_rule
    from features.messages import locale_of

    check_engine(ctx, engine, workers, partitions)
    if engine == "dask":
        if given_options(ctx, ("show",)):
            raise DataError("--show applies only with --engine local (the scores stay on the workers)")
        _score_on_dask(model, data, out, as_of, locale, top, workers, scheduler, partitions)
        Console().print(f"trend: {trend_rule(locale_of(locale))}")
        return
    from training.scoring import score_open

    output_file(out)  # before scoring: a path that cannot be written fails now, not after the work
    scores = score_open(model, data, as_of=as_of, locale=locale, top=top)
    scores.to_csv(out, index=False, encoding="utf-8-sig")
    console = Console()
    if show:
        console.print(highest_scores(scores, model, show))
    console.print(f"scored {len(scores):,} open rows with {model} -> {out}")
    console.print(f"trend: {trend_rule(locale_of(locale))}")


def _score_on_dask(
    model: str,
    data: Path,
    out: Path,
    as_of: str | None,
    locale: str,
    top: int,
    workers: int,
    scheduler: str | None,
    partitions: int | None,
) -> None:
    """The scores written to ``out`` as Parquet parts by the workers of a Dask cluster."""
    from features.pit.cluster import dask_client
    from features.pit.distributed import DEFAULT_PARTITIONS
    from training.distributed_scoring import score_open_on_dask

    output_dir(out)  # before the cluster starts: a path that cannot be written fails now
    with dask_client(workers, scheduler, say_on_stderr()) as client:
        rows, parts = score_open_on_dask(
            client, model, data, out, as_of=as_of, locale=locale, top=top, partitions=partitions or DEFAULT_PARTITIONS
        )
    Console().print(f"scored {rows:,} open rows with {model} -> {out}/ ({parts} parts)", highlight=False)


def highest_scores(scores: pd.DataFrame, model: str, show: int) -> Table:
    """The ``show`` highest scores with their grade, trend and leading factors each way."""
    table = Table(title=f"{model} v{scores['model_version'].iloc[0]}: highest scores")
    for column in ("entity_id", "probability", "score", "grade", "trend", "top_positive", "top_negative"):
        table.add_column(column, overflow="fold")
    for row in scores.nlargest(show, "probability").itertuples():
        table.add_row(
            row.entity_id,
            f"{row.probability:.1%}",
            str(row.score),
            row.grade,
            row.trend if isinstance(row.trend, str) else "",  # none: younger than a week
            row.top_positive,
            row.top_negative,
        )
    return table
