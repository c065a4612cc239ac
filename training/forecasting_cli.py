"""``salesml forecast``, ``salesml targets`` and ``salesml backtest``: won revenue ahead, the target board, and the
forecast held against the past."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from features.cli import AsOf, DataDir, GroupBy, Period, Seed, Sims, data_option, money, user_errors, wide_console
from features.crm.dataset import read_manifest
from features.outputs import output_dir, output_file

if TYPE_CHECKING:
    import pandas as pd

    from features.insights.drivers import Drivers
    from features.insights.forecast import Forecast
    from training.backtest import BacktestResult

COLORS = {"green": "[green]green[/green]", "yellow": "[yellow]yellow[/yellow]", "red": "[red]red[/red]"}


@user_errors
def forecast_cmd(
    data: DataDir,
    as_of: AsOf = None,
    period: Period = "month",
    by: GroupBy = "team",
    periods: Annotated[int, typer.Option(min=1, max=24, help="Periods to forecast, the first holding --as-of.")] = 3,
    out: Annotated[
        Path | None, typer.Option(help="Directory for forecast.csv and forecast.png (default DATA/forecast).")
    ] = None,
    sims: Sims = 4000,
    seed: Seed = 0,
    explain: Annotated[
        bool, typer.Option(help="Also what moved the first period's P50 since --since, deal by deal (drivers.csv).")
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="With --explain: the earlier forecast's time (default: a week before --as-of).")
    ] = None,
) -> None:
    """Expected won revenue per period and group with P10/P50/P90: open pipeline plus deals not yet created."""
    from features.errors import DataError
    from features.insights.forecast import check_grouping
    from features.insights.periods import check_period

    check_period(period)  # the options first: a typo answers before the model loads
    check_grouping(by)
    if since is not None and not explain:
        raise DataError("--since is the earlier time of --explain; add --explain")
    read_manifest(data)  # and a wrong --data
    from training.forecasting import fan_chart, forecast_with_drivers

    fc, drivers, version = forecast_with_drivers(
        data, as_of, period, by, periods, sims=sims, seed=seed, explain=explain, since=since
    )
    folder = output_dir(out or data / "forecast")
    fc.table.to_csv(folder / "forecast.csv", index=False)
    chart = fan_chart(fc, folder / "forecast.png")
    console = wide_console()
    console.print(forecast_table(fc, by, version))
    console.print(f"wrote {folder / 'forecast.csv'} and the fan chart {chart}")
    if drivers is not None:
        from training.report.text import report_words

        words = report_words("en")
        console.print(drivers_table(drivers, words))
        console.print(words["drivers_def"])
        console.print(f"wrote {write_drivers(drivers, folder)} and {folder / 'driver_deals.csv'}")


def drivers_table(drivers: Drivers, t: dict[str, str]) -> Table:
    """Each part of the P50 change (``t``: the report's words): the change, the deals in it and the largest."""
    from training.report.sections.drivers import driver_rows, signed_money

    before, after = drivers.p50
    table = Table(
        title=f"What moved the {drivers.window.label} forecast from {drivers.since:%Y-%m-%d %H:%M} to"
        f" {drivers.as_of:%Y-%m-%d %H:%M} UTC: P50 {money(before)} -> {money(after)}"
    )
    for column in (t["driver"], t["change"], t["deals"], t["largest_deals"]):
        table.add_column(column, justify="right" if column in (t["change"], t["deals"]) else "left")
    for row in driver_rows(drivers, t):
        table.add_row(*row)
    table.add_row(f"[bold]{t['drivers_total']}[/bold]", f"[bold]{signed_money(drivers.change)}[/bold]")
    return table


def write_drivers(drivers: Drivers, folder: Path) -> Path:
    """drivers.json (both P50s, expected values and the parts with their largest deals) and driver_deals.csv (every
    deal's part and contributions)."""
    import pandas as pd

    figures = {
        "period": drivers.window.label,
        "since": drivers.since.isoformat(),
        "as_of": drivers.as_of.isoformat(),
        "p50": {"since": drivers.p50[0], "as_of": drivers.p50[1], "change": drivers.change},
        "expected": {"since": drivers.expected[0], "as_of": drivers.expected[1]},
        "parts": [
            {
                "part": r.part,
                "change": r.change,
                "deals": None if pd.isna(r.deals) else int(r.deals),
                "largest_deals": [{"opportunity_id": d, "amount": a} for d, a in r.top],
            }
            for r in drivers.parts.itertuples()
        ],
    }
    (folder / "drivers.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    drivers.deals.to_csv(folder / "driver_deals.csv", index=False)
    return folder / "drivers.json"


def forecast_table(fc: Forecast, by: str, version: str) -> Table:
    """Each period and group, then each period's total across groups."""
    from training.forecasting import totals

    table = Table(
        title=f"Won revenue forecast as of {fc.as_of:%Y-%m-%d %H:%M} UTC by {by} (close_probability v{version})"
    )
    for column in ("period", by, "won", "expected", "P10", "P50", "P90", "open"):
        table.add_column(column, justify="left" if column in ("period", by) else "right")
    for row in fc.table.itertuples():
        amounts = (money(row.expected), money(row.p10), money(row.p50), money(row.p90))
        table.add_row(row.period, row.group, money(row.won_to_date), *amounts, str(row.open_deals))
    for row in totals(fc).itertuples():
        amounts = (money(row.expected), money(row.p10), money(row.p50), money(row.p90))
        table.add_row(row.period, "[bold]total[/bold]", "", *amounts, "")
    return table


@user_errors
def targets_cmd(
    data: Annotated[Path, data_option("with a targets table")],
    as_of: AsOf = None,
    level: Annotated[str, typer.Option(help="rep, team or region.")] = "team",
    period: Period = "month",
    out: Annotated[
        Path | None, typer.Option(help="CSV to write the board to (default DATA/forecast/targets.csv).")
    ] = None,
    seed: Seed = 0,
) -> None:
    """The target board: chance of reaching the red, yellow and green lines, the color, and early warnings."""
    from features.crm.dataset import read_dataset
    from features.insights.periods import check_period
    from features.insights.targets import WARNING_SHARE, attainment, check_level

    check_period(period)  # the options first: a typo answers before the model loads
    check_level(level)
    read_manifest(data)
    from training.forecasting import run_forecast

    fc, version = run_forecast(data, as_of, period, level, 1, seed=seed)
    board = attainment(read_dataset(data), fc)
    path = output_file(out or data / "forecast" / "targets.csv")
    board.to_csv(path, index=False)
    title = f"Target board {fc.windows[0].label} as of {fc.as_of:%Y-%m-%d %H:%M} UTC (close_probability v{version})"
    console = wide_console()
    console.print(board_table(board, level, title))
    console.print(
        "P(line): chance of reaching it; color: the highest line the median forecast (P50) reaches; warn: won so"
    )
    share = f"{WARNING_SHARE:.0%}"
    console.print(
        f"far below {share} of the pro-rated yellow line at the as-of time and a week before (early warning)."
    )
    console.print(f"wrote {path}")


def board_table(board: pd.DataFrame, level: str, title: str) -> Table:
    """Per key: won so far, the median forecast, the three lines, the chance of each, the color and the warning."""
    table = Table(title=title)
    for column in (level, "won", "P50", "red", "yellow", "green", "P(red)", "P(yel)", "P(grn)", "color", "warning"):
        table.add_column(column, justify="left" if column in (level, "color", "warning") else "right")
    for r in board.itertuples():
        table.add_row(
            r.key,
            *(money(amount) for amount in (r.won_to_date, r.p50, r.red, r.yellow, r.green)),
            *(f"{chance:.0%}" for chance in (r.p_red, r.p_yellow, r.p_green)),
            COLORS[r.color],
            "[red]yes[/red]" if r.early_warning else "",
        )
    return table


@user_errors
def backtest_cmd(
    data: Annotated[Path, data_option("with closed deals")],
    from_: Annotated[str, typer.Option("--from", help="First as-of date (ISO 8601): the first period starting then.")],
    to: Annotated[str, typer.Option(help="Last as-of date (ISO 8601).")],
    period: Period = "month",
    by: GroupBy = "team",
    model: Annotated[
        str, typer.Option(help="The close-probability spec trained at each origin.")
    ] = "close_probability",
    out: Annotated[Path | None, typer.Option(help="Report directory (default DATA/backtest).")] = None,
    sims: Sims = 4000,
    seed: Seed = 0,
) -> None:
    """Forecast each past period with only what was known at its start, beside the baselines, against actuals."""
    from training.backtest import backtest

    result = backtest(data, from_, to, period=period, by=by, model=model, out=out, sims=sims, seed=seed)
    console = wide_console()
    console.print(backtest_table(result, period, by))
    for note in result.skipped:
        console.print(f"[yellow]skipped[/yellow] {note}")
    console.print(f"report: {result.out / 'report.md'} (MLflow run {result.run_id})")


def backtest_table(result: BacktestResult, period: str, by: str) -> Table:
    """Each method's accuracy, WAPE, bias and interval coverage over the groups, and on the totals."""
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
    return table
