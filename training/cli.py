"""``salesml train`` and ``salesml score`` commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from features.cli import money, user_errors
from features.errors import DataError
from features.outputs import output_dir, output_file


@user_errors
def train_cmd(
    model: Annotated[str, typer.Option(help="A built-in spec by name (lead_score) or a path to a spec YAML.")],
    data: Annotated[Path, typer.Option(help="A canonical dataset directory.")],
    trials: Annotated[int | None, typer.Option(min=1, help="Optuna trials (default: the spec's).")] = None,
    timeout: Annotated[float | None, typer.Option(min=1, help="Tuning time limit in seconds (default: spec).")] = None,
    promote: Annotated[bool, typer.Option(help="Make this version champion whatever the gate says.")] = False,
) -> None:
    """Tune, calibrate, evaluate beside the baselines, and register a model version (alias challenger)."""
    from training.summary import CANDIDATE_NAMES, summary_table
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
    if result.report["horizon_days"]:
        console.print(f"label horizon: {result.report['horizon_note']}")
    refit = result.report["refit"]
    console.print(
        f"served: {CANDIDATE_NAMES[result.report['chosen']]} (chosen on calib), refit on "
        f"{refit['rows']:,} rows up to {refit['trained_until']}"
    )
    for blocker in result.report["gate"]["blockers"]:
        console.print(f"[yellow]held back:[/yellow] {blocker}")
    flags = [f["feature"] for f in result.report["leakage_flags"] if not f["allowed"]]
    if flags:
        console.print(f"[yellow]leakage guard excluded:[/yellow] {', '.join(flags)}")
    status = "champion" if result.promoted else "challenger (champion unchanged: gate not met)"
    if result.promoted and result.report["gate"]["forced"]:
        status = "champion (--promote: the gate was not met)"
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

    output_file(out)  # before scoring: a path that cannot be written fails now, not after the work
    scores = score_open(model, data, as_of=as_of, locale=locale, top=top)
    scores.to_csv(out, index=False, encoding="utf-8-sig")
    console = Console()
    preview = Table(title=f"{model} v{scores['model_version'].iloc[0]}: highest scores")
    for column in ("entity_id", "probability", "score", "grade", "top_positive", "top_negative"):
        preview.add_column(column, overflow="fold")
    for row in scores.nlargest(show, "probability").itertuples():
        preview.add_row(
            row.entity_id, f"{row.probability:.1%}", str(row.score), row.grade, row.top_positive, row.top_negative
        )
    if show:
        console.print(preview)
    console.print(f"scored {len(scores):,} open rows with {model} -> {out}")


def wide_console() -> Console:
    """A console that does not squeeze wide tables to 80 columns when the output is piped (make demo, logs)."""
    return Console() if sys.stdout.isatty() else Console(width=150)


@user_errors
def forecast_cmd(
    data: Annotated[Path, typer.Option(help="A canonical dataset directory.")],
    as_of: Annotated[
        str | None, typer.Option(help="Forecast as of this time (ISO 8601); default: the export time.")
    ] = None,
    period: Annotated[str, typer.Option(help="week, month or quarter.")] = "month",
    by: Annotated[str, typer.Option(help="Group by rep, team, region, product or all.")] = "team",
    periods: Annotated[int, typer.Option(min=1, max=24, help="Periods to forecast, the first holding --as-of.")] = 3,
    out: Annotated[
        Path | None, typer.Option(help="Directory for forecast.csv and forecast.png (default DATA/forecast).")
    ] = None,
    sims: Annotated[int, typer.Option(min=100, help="Monte Carlo draws for the intervals.")] = 4000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same intervals.")] = 0,
) -> None:
    """Expected won revenue per period and group with P10/P50/P90: open pipeline plus deals not yet created."""
    from rich.table import Table

    from training.forecasting import fan_chart, run_forecast, totals

    fc, version = run_forecast(data, as_of, period, by, periods, sims=sims, seed=seed)
    folder = output_dir(out or data / "forecast")
    fc.table.to_csv(folder / "forecast.csv", index=False)
    chart = fan_chart(fc, folder / "forecast.png")
    table = Table(
        title=f"Won revenue forecast as of {fc.as_of:%Y-%m-%d %H:%M} UTC by {by} (close_probability v{version})"
    )
    for column in ("period", by, "won", "expected", "P10", "P50", "P90", "open"):
        table.add_column(column, justify="left" if column in ("period", by) else "right")
    for row in fc.table.itertuples():
        table.add_row(
            row.period,
            row.group,
            money(row.won_to_date),
            money(row.expected),
            money(row.p10),
            money(row.p50),
            money(row.p90),
            str(row.open_deals),
        )
    for row in totals(fc).itertuples():
        table.add_row(
            row.period,
            "[bold]total[/bold]",
            "",
            money(row.expected),
            money(row.p10),
            money(row.p50),
            money(row.p90),
            "",
        )
    console = wide_console()
    console.print(table)
    console.print(f"wrote {folder / 'forecast.csv'} and the fan chart {chart}")


COLORS = {"green": "[green]green[/green]", "yellow": "[yellow]yellow[/yellow]", "red": "[red]red[/red]"}


@user_errors
def targets_cmd(
    data: Annotated[Path, typer.Option(help="A canonical dataset directory with a targets table.")],
    as_of: Annotated[str | None, typer.Option(help="As of this time (ISO 8601); default: the export time.")] = None,
    level: Annotated[str, typer.Option(help="rep, team or region.")] = "team",
    period: Annotated[str, typer.Option(help="The targets' period: week, month or quarter.")] = "month",
    out: Annotated[
        Path | None, typer.Option(help="CSV to write the board to (default DATA/forecast/targets.csv).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the forecast's simulation.")] = 0,
) -> None:
    """The target board: chance of reaching the red, yellow and green lines, the color, and early warnings."""
    from rich.table import Table

    from features.crm.dataset import read_dataset
    from features.insights.targets import attainment
    from training.forecasting import run_forecast

    fc, version = run_forecast(data, as_of, period, level, 1, seed=seed)
    board = attainment(read_dataset(data), fc)
    path = output_file(out or data / "forecast" / "targets.csv")
    board.to_csv(path, index=False)
    table = Table(
        title=f"Target board {fc.windows[0].label} as of {fc.as_of:%Y-%m-%d %H:%M} UTC (close_probability v{version})"
    )
    for column in (level, "won", "P50", "red", "yellow", "green", "P(red)", "P(yel)", "P(grn)", "color", "warning"):
        table.add_column(column, justify="left" if column in (level, "color", "warning") else "right")
    for r in board.itertuples():
        table.add_row(
            r.key,
            money(r.won_to_date),
            money(r.p50),
            money(r.red),
            money(r.yellow),
            money(r.green),
            f"{r.p_red:.0%}",
            f"{r.p_yellow:.0%}",
            f"{r.p_green:.0%}",
            COLORS[r.color],
            "[red]yes[/red]" if r.early_warning else "",
        )
    console = wide_console()
    console.print(table)
    console.print(
        "P(line): chance of reaching it; color: the highest line the median forecast (P50) reaches; warn: won so"
    )
    console.print("far below 85% of the pro-rated yellow line at the as-of time and a week before (early warning).")
    console.print(f"wrote {path}")


@user_errors
def backtest_cmd(
    data: Annotated[Path, typer.Option(help="A canonical dataset directory with closed deals.")],
    from_: Annotated[str, typer.Option("--from", help="First as-of date (ISO 8601): the first period starting then.")],
    to: Annotated[str, typer.Option(help="Last as-of date (ISO 8601).")],
    period: Annotated[str, typer.Option(help="week, month or quarter.")] = "month",
    by: Annotated[str, typer.Option(help="Group by rep, team, region, product or all.")] = "team",
    model: Annotated[
        str, typer.Option(help="The close-probability spec trained at each origin.")
    ] = "close_probability",
    out: Annotated[Path | None, typer.Option(help="Report directory (default DATA/backtest).")] = None,
    sims: Annotated[int, typer.Option(min=100, help="Monte Carlo draws for the intervals.")] = 4000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Forecast each past period with only what was known at its start, beside the baselines, against actuals."""
    from rich.table import Table

    from training.backtest import backtest

    result = backtest(data, from_, to, period=period, by=by, model=model, out=out, sims=sims, seed=seed)
    m = result.metrics
    table = Table(title=f"Backtest {result.cells['period'].min()}..{result.cells['period'].max()}: {period} by {by}")
    for column in ("method", "accuracy", "WAPE", "bias", "P10-P90 coverage", "accuracy (total)", "WAPE (total)"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for method in m["method"].unique():
        g = m[(m["method"] == method) & (m["scope"] == "all groups")].iloc[0]
        t = m[(m["method"] == method) & (m["scope"] == "total")].iloc[0]
        coverage = "-" if g.coverage != g.coverage else f"{g.coverage:.0%}"
        table.add_row(
            method,
            f"{g.accuracy:.1%}",
            f"{g.wape:.1%}",
            f"{g.bias:+.1%}",
            coverage,
            f"{t.accuracy:.1%}",
            f"{t.wape:.1%}",
        )
    console = wide_console()
    console.print(table)
    for note in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {note}")
    console.print(f"report: {result.out / 'report.md'} (MLflow run {result.run_id})")


@user_errors
def report_cmd(
    data: Annotated[Path, typer.Option(help="A canonical dataset directory (champions from the MLflow registry).")],
    out: Annotated[Path, typer.Option(help="The HTML file to write (self-contained: pictures embedded).")] = Path(
        "report.html"
    ),
    locale: Annotated[str, typer.Option(help="Language of the page: zh-CN or en.")] = "zh-CN",
    as_of: Annotated[str | None, typer.Option(help="As of this time (ISO 8601); default: the export time.")] = None,
) -> None:
    """The manager report: model card, key deal factors, per-rep process health, forecast and target board, note
    keyword heat maps; also kept as the latest report the service serves at GET /v1/report."""
    from features.config import latest_report
    from training.report.manager import write_report

    path = write_report(data, out, locale, as_of, progress=True)
    wide_console().print(
        f"wrote the {locale} report {path} ({path.stat().st_size / 2**20:.1f} MiB); served as {latest_report(locale)}"
    )


@user_errors
def route_cmd(
    data: Annotated[Path, typer.Option(help="A canonical dataset directory.")],
    lead: Annotated[str | None, typer.Option(help="The lead to route (its id in the dataset).")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="Route as of this time (ISO 8601); default: when the lead was created.")
    ] = None,
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
    locale: Annotated[str, typer.Option(help="Language of the reasons: zh-CN or en.")] = "zh-CN",
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
    from training.routing import print_backtest, print_routing, route_one, run_backtest

    console = wide_console()
    cap = load_cap or None
    if backtest:
        print_backtest(console, run_backtest(data, from_, to, cap), data.name)
        return
    if lead is None:
        raise DataError("give --lead LEAD_ID to route one lead, or --backtest")
    if locale not in ("zh-CN", "en"):
        raise DataError(f"--locale {locale!r}: use zh-CN or en")
    routing, version = route_one(data, lead, as_of, preferred_rep, failed_routings, candidate, cap, locale)  # type: ignore[arg-type]
    print_routing(console, routing, version, top)
