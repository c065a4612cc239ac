"""The champion models the manager report describes, with their training runs' reports and calibration plots."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.tracking import MlflowClient

from features.errors import DataError
from features.scoring.pyfunc import CHAMPION
from features.scoring.scorer import Scorer
from training.registry import load_scorer


@dataclass
class Champion:
    """A champion model: its version, its training run's report and calibration plot."""

    name: str
    version: str
    report: dict[str, Any]
    calibration_png: Path | None
    scorer: Scorer


def load_champion(name: str, folder: Path) -> Champion | None:
    """The champion of ``name`` in salesml's registry with its run's artifacts (downloaded under ``folder``); None
    when there is none, which the sections say."""
    try:
        scorer, version = load_scorer(name, CHAMPION)
    except DataError:
        return None
    run_id = MlflowClient().get_model_version(name, version).run_id
    target = folder / name
    target.mkdir(parents=True, exist_ok=True)
    report = json.loads(
        Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/report.json", dst_path=str(target))).read_text()
    )
    try:
        calibration = Path(mlflow.artifacts.download_artifacts(f"runs:/{run_id}/calibration.png", dst_path=str(target)))
    except mlflow.exceptions.MlflowException:
        calibration = None
    return Champion(name, version, report, calibration, scorer)
