"""``salesml report``: the manager report written as one HTML page and kept for the service."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from features.cli import AsOf, Language, data_option, user_errors, wide_console


@user_errors
def report_cmd(
    data: Annotated[Path, data_option("(champions from the MLflow registry)")],
    out: Annotated[Path, typer.Option(help="The HTML file to write (self-contained: pictures embedded).")] = Path(
        "report.html"
    ),
    locale: Language = "zh-CN",
    as_of: AsOf = None,
) -> None:
    """The manager report: model card, key deal factors, per-rep process health, forecast and target board, note
    keyword heat maps; also kept as the latest report the service serves at GET /v1/report."""
    from features.config import latest_report
    from features.crm.dataset import read_manifest
    from features.messages import locale_of

    locale_of(locale)  # the options first: a typo answers before the charts and the models load
    read_manifest(data)
    from training.report.manager import write_report

    path = write_report(data, out, locale, as_of, progress=True)
    wide_console().print(
        f"wrote the {locale} report {path} ({path.stat().st_size / 2**20:.1f} MiB); served as {latest_report(locale)}"
    )
