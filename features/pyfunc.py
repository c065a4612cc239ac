"""The MLflow pyfunc face of a ``Scorer``, so the registry holds a self-describing model with a signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd

from features.scoring import Scorer

SCORER_ARTIFACT = "scorer"


class ScorerModel(mlflow.pyfunc.PythonModel):
    """Loads the scorer directory logged as the ``scorer`` artifact; predicts probability, score and grade."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.scorer = Scorer.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.predict(model_input)
