"""``GET /v1/monitoring`` and the monitoring gauges in ``/metrics``: the served models judged from the prediction log
and the history the service holds, by the code ``salesml monitor`` runs (``features.insights.monitoring``).

Outcomes are those of the history the service was exported with: a newer ``salesml export`` brings the labels in.
The gauges hold the figures of the latest ``/v1/monitoring`` call (a scheduled call keeps them fresh); reading the
whole log on every scrape would make ``/metrics`` as slow as the log is long.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import bentoml
from fastapi.responses import JSONResponse

from features.crm.dataset import Dataset, to_utc_scalar
from features.insights.monitoring.outcomes import read_log
from features.insights.monitoring.summary import monitor, plain
from serving.store import Exported

#: Gauge name -> its help; one series per model (``figures`` reads the values off a model summary).
GAUGES = {
    "salesml_model_age_days": "Days from the end of the model's training data to the service's history export.",
    "salesml_live_auc": "Realised ROC AUC of the model's logged predictions whose labels have arrived.",
    "salesml_drift_alerts": "Inputs and scores of the model drifted beyond their training trend.",
}
DRIFT_ALERTS = ("feature_drift", "score_drift")


@cache
def _gauges() -> dict[str, Any]:
    """Created on first use, in the worker: BentoML sets up multiprocess metrics only once its workers start."""
    return {
        name: bentoml.metrics.Gauge(
            name=name, documentation=doc, labelnames=["model"], multiprocess_mode="livemostrecent"
        )
        for name, doc in GAUGES.items()
    }


def figures(model: dict[str, Any]) -> dict[str, float | None]:
    """A model summary's gauge values (None: nothing to show yet, as no label has arrived)."""
    return {
        "salesml_model_age_days": model["age_days"],
        "salesml_live_auc": model["realised"].get("roc_auc"),
        "salesml_drift_alerts": sum(a["kind"] in DRIFT_ALERTS for a in model["alerts"]),
    }


def monitoring_answer(models: list[Exported], ds: Dataset, log_dir: Path, since: datetime | None) -> JSONResponse:
    """The summary ``salesml monitor --json`` prints, for the served models (each segment champion on the rows
    routed to it); the gauges set from it."""
    served = [(model.scorer, str(model.info["version"])) for model in models]
    start = to_utc_scalar(since) if since is not None else None
    summary = plain(monitor(ds, read_log(log_dir), served, start))
    gauges = _gauges()
    for model in summary["models"]:
        for name, value in figures(model).items():
            if value is not None:
                gauges[name].labels(model=model["model"]).set(value)
    return JSONResponse(summary)
