"""The MLflow side: the local store, logging a scorer as a registered pyfunc model, and the aliases.

New versions get the alias ``challenger``; ``champion`` moves only through ``promote`` (never deprecated stages).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from features.config import artifact_location
from features.scoring.pyfunc import CHAMPION, GATE_TAG, SCORER_ARTIFACT, ScorerModel, load_registered
from features.scoring.scorer import Scorer
from features.store import open_store

PIP_REQUIREMENTS = ["lightgbm", "pandas", "numpy", "pyarrow", "mlflow"]


def use_local_store(experiment: str) -> str:
    """Point MLflow at salesml's store (SQLite in the local directory unless set); returns the experiment id."""
    open_store(create=True)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        mlflow.create_experiment(experiment, artifact_location=artifact_location(experiment))
    return mlflow.set_experiment(experiment).experiment_id  # nested trial runs land in it too


def log_scorer(scorer: Scorer, example: pd.DataFrame) -> str:
    """Log the scorer as a pyfunc model with signature and input example, registered under its name."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = scorer.save(Path(tmp) / SCORER_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ScorerModel(),
            artifacts={SCORER_ARTIFACT: str(directory)},
            signature=infer_signature(example, scorer.predict(example)),
            input_example=example,
            registered_model_name=scorer.model_name,
            pip_requirements=PIP_REQUIREMENTS,
        )
    return str(info.registered_model_version)


def set_alias(name: str, alias: str, version: str) -> None:
    MlflowClient().set_registered_model_alias(name, alias, version)


def set_gate_note(name: str, version: str, blockers: str) -> None:
    """Why a version may not be champion (empty: nothing), kept with the version for ``score`` and ``export``."""
    MlflowClient().set_model_version_tag(name, version, GATE_TAG, blockers)


def load_scorer(name: str, alias: str = CHAMPION) -> tuple[Scorer, str]:
    """The scorer behind ``name@alias`` and its version; DataError when there is none yet."""
    return load_registered(name, alias)
