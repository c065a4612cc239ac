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
from features.errors import DataError, one_line
from features.scoring.aliases import CHALLENGER, CHAMPION, GATE_TAG, alias_version
from features.scoring.scorer import Scorer
from features.scoring.segments import AnyScorer, Segmented, segment_prefix
from features.store import lost_model_files, open_store

SCORER_ARTIFACT = "scorer"


class ScorerModel(mlflow.pyfunc.PythonModel):
    """Loads the scorer directory logged as the ``scorer`` artifact; predicts probability, score and grade."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.scorer = Scorer.load(Path(context.artifacts[SCORER_ARTIFACT]))

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.scorer.predict(model_input)


def load_registered(name: str, alias: str) -> tuple[Scorer, str]:
    """The scorer behind ``name@alias`` in salesml's registry and its version; DataError when there is none yet
    (an empty store is left as it is), StoreError when the store or the version's files are damaged."""
    if not open_store(create=False):
        raise DataError(_untrained(f"{name}@{alias}"))
    version = alias_version(name, alias)
    if version is None:
        raise DataError(_missing(name, alias))
    return _load(name, version), version


def segment_champions(name: str) -> list[tuple[str, Scorer, str]]:
    """Each segment model of ``name`` (``features.scoring.segments``) that has a champion: its registered name,
    scorer and version, by name."""
    if not open_store(create=False):
        return []
    prefix = segment_prefix(name)
    found = MlflowClient().search_registered_models(filter_string=f"name LIKE '{prefix}%'")
    out = []
    for model in sorted(found, key=lambda m: m.name):
        version = alias_version(model.name, CHAMPION) if model.name.startswith(prefix) else None
        if version is not None:
            out.append((model.name, _load(model.name, version), version))
    return out


def with_segments(name: str, scorer: Scorer) -> AnyScorer:
    """``name``'s champion ``scorer`` routing each row to its segment's champion, when ``name`` has any."""
    segments = tuple(found for _, found, _ in segment_champions(name))
    return Segmented(scorer, segments) if segments else scorer


def load_version(name: str, version: str) -> Scorer:
    """The scorer of one version of ``name`` (an older one, to see how it fares on later data); DataError naming
    the versions there are when there is no such version."""
    if not open_store(create=False):
        raise DataError(_untrained(f"{name} version {version}"))
    known = sorted((str(v.version) for v in MlflowClient().search_model_versions(f"name='{name}'")), key=int)
    if version not in known:
        there = f"versions: {', '.join(known)}" if known else "train it first (salesml train)"
        raise DataError(f"no version {version!r} of {name} in the registry at {tracking_uri()}; {there}")
    return _load(name, version)


def _load(name: str, version: str) -> Scorer:
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    except (MlflowException, OSError) as exc:
        raise lost_model_files(name, version, one_line(exc)) from exc
    return model.unwrap_python_model().scorer


def _untrained(what: str) -> str:
    return f"no {what} in the registry at {tracking_uri()}; train it first (salesml train)"


def _missing(name: str, alias: str) -> str:
    """Why there is no ``name@alias``: nothing trained yet, or a challenger held back by the gate."""
    challenger = alias_version(name, CHALLENGER) if alias == CHAMPION else None
    if challenger is None:
        return _untrained(f"{name}@{alias}")
    blockers = MlflowClient().get_model_version(name, challenger).tags.get(GATE_TAG) or "the gate was not met"
    return (
        f"no {name}@{alias}: version {challenger} stays challenger ({blockers}); train on more or better data, or"
        " make it champion anyway with salesml train --promote"
    )
