"""The forecast section: the team fan chart for the next three months and the current month's target board."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from features.cli import money
from features.crm.dataset import Dataset
from features.errors import DataError
from features.insights.forecast import model_forecast
from features.insights.targets import attainment
from training.forecasting import fan_chart
from training.report import charts
from training.report.champions import Champion
from training.report.section import Section, pct

COLOR_CLASS = {"green": "ok", "yellow": "watch", "red": "bad"}


def forecast_section(
    ds: Dataset, champion: Champion | None, at: pd.Timestamp, t: dict[str, str], folder: Path
) -> Section:
    """The fan chart and the board; what could not be computed (no champion, no targets) is said instead."""
    section = Section("forecast", t["forecast"])
    if champion is None:
        section.notes.append(t["no_model"].format(name="close_probability"))
        return section
    try:
        fc = model_forecast(ds, champion.scorer, at, "month", "team", 3)
    except DataError as error:
        section.notes.append(f"{t['skipped']}: {error}")
        return section
    section.pictures.append({"title": t["fan"], "uri": charts.png_file(fan_chart(fc, folder / "forecast.png"))})
    try:
        board = attainment(ds, fc)
    except DataError as error:
        section.notes.append(f"{t['board']} {t['skipped']}: {error}")
        return section
    board = board[board["period"] == fc.windows[0].label]
    section.tables.append(
        {
            "caption": f"{t['board']} {fc.windows[0].label}. {t['board_note']}",
            "header": [
                t["team"],
                t["won"],
                "P50",
                t["red"],
                t["yellow"],
                t["green"],
                f"{t['p_line']} ({t['yellow']})",
                t["color"],
                t["early_warning"],
            ],
            "rows": [_row(r, t) for r in board.itertuples()],
        }
    )
    return section


def _row(r: Any, t: dict[str, str]) -> list[tuple[str, str]]:
    """One team's cells: won so far, the median forecast, the three lines, the chance of the yellow one, the color
    and the warning."""
    amounts = [(money(amount), "") for amount in (r.won_to_date, r.p50, r.red, r.yellow, r.green)]
    warning = (t["yes"] if r.early_warning else "", "bad" if r.early_warning else "")
    return [(r.key, ""), *amounts, (pct(r.p_yellow), ""), (t[r.color], COLOR_CLASS[r.color]), warning]
