"""What a training run logs to MLflow besides its model: the parameters and test figures, read from the training
report so that the run page and the report agree, and the artifacts (plots, the report in JSON and in words, the
spec, the features and the data hash)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from features.scoring.scorer import Scorer
from training.evaluate import beeswarm_plot, calibration_plot
from training.summary import render_markdown
from training.tune import BASE_PARAMS


def _log_finite(prefix: str, metrics: dict[str, float]) -> None:
    """The metrics that have a value (MLflow refuses NaN and infinity)."""
    mlflow.log_metrics({f"{prefix}{k}": v for k, v in metrics.items() if np.isfinite(v)})


def log_figures(report: dict[str, Any]) -> None:
    """The run's parameters (spec, split, chosen model, tuned LightGBM settings) and every test figure: the served
    model's, per window and grade, each baseline's and each candidate's."""
    tuning = report["tuning"]
    mlflow.log_params(
        {"spec": report["model"], "split": report["split"]["kind"], "n_features": len(report["features_used"])}
    )
    mlflow.log_params(
        {"model_kind": report["chosen"], "horizon_days": report["horizon_days"], "refit_rows": report["refit"]["rows"]}
    )
    mlflow.log_params({f"lgb_{k}": v for k, v in tuning["params"].items() if k not in BASE_PARAMS})
    mlflow.log_metric("best_iteration", tuning["best_iteration"])
    test = report["test"]
    _log_finite("test_", test["metrics"])
    for window, metrics in test["windows"].items():
        _log_finite(f"test_{window}_", metrics)
    for row in test["grades"]:
        mlflow.log_metrics({f"test_grade_{row['grade']}_share": row["share"]})
        if np.isfinite(row["conversion_rate"]):
            mlflow.log_metric(f"test_grade_{row['grade']}_conversion", row["conversion_rate"])
    for name, metrics in report["baselines"].items():
        _log_finite(f"baseline_{name}_", metrics)
    for name, summary in report["candidates"].items():
        _log_finite(f"candidate_{name}_", summary["test"])


def log_artifacts(
    report: dict[str, Any], spec_text: str, scorer: Scorer, x_test: pd.DataFrame, y_test: np.ndarray, p_test: np.ndarray
) -> None:
    """The calibration and SHAP plots of the tested model on test, the features used, the data hash, the spec as
    written and the report (``report.json``, ``report.md``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        calibration_plot(y_test, {"salesml": p_test}, out / "calibration.png")
        beeswarm_plot(scorer, x_test, out / "shap_beeswarm.png")
        (out / "features.json").write_text(json.dumps(report["features_used"], indent=1), encoding="utf-8")
        (out / "data_hash.txt").write_text(report["data_hash"] + "\n", encoding="utf-8")
        (out / "spec.yaml").write_text(spec_text, encoding="utf-8")
        (out / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
        (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
        mlflow.log_artifacts(str(out))
