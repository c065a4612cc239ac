"""The MLflow side every user of a trained model shares: the pyfunc face of a ``Scorer`` (so the registry holds a
self-describing model with a signature) and reading a version back by alias (training and serving both do)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.config import tracking_uri
from features.errors import DataError
from features.scoring import Scorer

SCORER_ARTIFACT = "scorer"
CHALLENGER, CHAMPION = "challenger", "champion"  # registry aliases (never deprecated stages)


class ScorerModel(mlflow.pyfunc.PythonModel):
    """Loads the scorer directory logged as the ``scorer`` artifact; predicts probability, score and grade."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.scorer = Scorer.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.predict(model_input)


def alias_version(name: str, alias: str) -> str | None:
    """The version behind ``name@alias`` in the current registry, None when there is none."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def load_registered(name: str, alias: str) -> tuple[Scorer, str]:
    """The scorer behind ``name@alias`` in salesml's registry and its version; DataError when there is none yet."""
    mlflow.set_tracking_uri(tracking_uri())
    mlflow.set_registry_uri(tracking_uri())
    version = alias_version(name, alias)
    if version is None:
        raise DataError(f"no {name}@{alias} in the registry at {tracking_uri()}; train it first (salesml train)")
    model = mlflow.pyfunc.load_model(f"models:/{name}@{alias}")
    return model.unwrap_python_model().scorer, version
