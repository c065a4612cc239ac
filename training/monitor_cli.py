"""``salesml monitor``: the champions' live quality from the prediction log and a newer export's outcomes, as one
HTML page and a JSON summary; exit code 1 when an alert fires, so that cron or CI can act on it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from features.cli import DataDir, Language, user_errors
from features.config import prediction_log_dir
from features.errors import DataError
from features.messages import locale_of
from features.outputs import output_file
from features.scoring import MODELS

if TYPE_CHECKING:
    import pandas as pd

    from features.scoring.scorer import Scorer

#: Exit code when an alert fires (2 stays a user's error).
ALERT_EXIT = 1


@user_errors
def monitor_cmd(
    data: DataDir,
    log: Annotated[
        Path | None, typer.Option(show_default=False, help="Prediction log folder; default: the service's.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(show_default=False, help="Only predictions for this time on (YYYY-MM-DD).")
    ] = None,
    out: Annotated[Path, typer.Option(help="The HTML page to write.")] = Path("monitor.html"),
    locale: Language = "zh-CN",
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON summary.")] = False,
) -> None:
    """Join the logged predictions with the outcomes the export now shows (the training label rule), and report
    realised and estimated quality per month, week and version, slices, drift against the training reference,
    model age and warnings. Exits 1 when an alert fires (thresholds in the model spec's ``monitoring``)."""
    language = locale_of(locale)
    start = _since(since)  # the options first: a typo answers before the libraries load
    from features.crm.dataset import read_dataset
    from features.insights.monitoring.outcomes import NO_LOG, read_log

    folder = log or prediction_log_dir()
    if not folder.is_dir():
        raise DataError(NO_LOG.format(folder=folder))
    ds = read_dataset(data)  # and the inputs: a wrong one answers before the models and charts load
    from features.insights.monitoring.summary import monitor, plain
    from training.report.monitor import render_monitor

    summary = plain(monitor(ds, read_log(folder), _champions(), start))
    output_file(out).write_text(render_monitor(summary, language), encoding="utf-8")
    if as_json:
        print(json.dumps(summary, ensure_ascii=False, indent=1))
    if summary["alerts"]:
        raise typer.Exit(ALERT_EXIT)


def _since(value: str | None) -> pd.Timestamp | None:
    """``--since`` as a UTC time; DataError for what is not one."""
    from features.crm.dataset import option_time

    return None if value is None else option_time(value, "--since")


def _champions() -> list[tuple[Scorer, str]]:
    """Each built-in model's champion in the registry and its segment champions, each with its version (a segment
    champion is judged on the rows routed to it); DataError when there is none."""
    from features.scoring.pyfunc import CHAMPION, segment_champions
    from training.registry import load_scorer

    found, missing = [], []
    for name in MODELS:
        try:
            found.append(load_scorer(name, CHAMPION))
            found.extend((scorer, version) for _, scorer, version in segment_champions(name))
        except DataError as why:
            missing.append(str(why))
    if not found:
        raise DataError("; ".join(missing))
    return found
