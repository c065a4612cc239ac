"""The MLflow side: the local store, logging a scorer as a registered pyfunc model, and the aliases.

New versions get the alias ``challenger``; ``champion`` moves when training passes the gate (or ``--promote``) and
through ``salesml models promote`` and ``rollback`` (never deprecated stages). Every alias move is kept, with who
made it, when and why, in the registered model's ``alias_history`` tag (a JSON list, oldest first): MLflow keeps no
history of aliases itself, and rollback needs to know the champions before.
"""

from __future__ import annotations

import getpass
import json
import logging
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import pandas as pd
from mlflow.models import ModelSignature, infer_signature
from mlflow.tracking import MlflowClient

from features.config import artifact_location
from features.scoring.aliases import CHAMPION, GATE_TAG, alias_version
from features.store import open_store

if TYPE_CHECKING:
    from features.scoring.scorer import Scorer

PIP_REQUIREMENTS = ["lightgbm", "pandas", "numpy", "pyarrow", "mlflow"]
HISTORY_TAG = "alias_history"
#: Moves kept in the history tag, newest last: MLflow caps a tag's value at 100,000 characters (about 400 moves).
KEPT_MOVES = 300
TRAIN, PROMOTE, ROLLBACK = "train", "promote", "rollback"  # the commands that move aliases
WINDOW_TAG = "data_window"  # a version's tag: the first and last cutoff time it was trained on


@dataclass(frozen=True)
class AliasMove:
    """One alias moved: from which version (None: it was unset) to which, by whom, when (UTC), why and through
    which command (train, promote, rollback)."""

    alias: str
    old: str | None
    new: str
    who: str
    when: str
    why: str
    command: str


def use_local_store(experiment: str) -> str:
    """Point MLflow at salesml's store (SQLite in the local directory unless set); returns the experiment id."""
    open_store(create=True)
    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        mlflow.create_experiment(experiment, artifact_location=artifact_location(experiment))
    return mlflow.set_experiment(experiment).experiment_id  # nested trial runs land in it too


def log_scorer(scorer: Scorer, example: pd.DataFrame) -> str:
    """Log the scorer as a pyfunc model with signature and input example, registered under its name."""
    from features.scoring.pyfunc import SCORER_ARTIFACT, ScorerModel  # the model code: only where one is logged

    example = _counts_as_floats(example)
    with tempfile.TemporaryDirectory() as tmp, _pickled_model_unremarked():
        directory = scorer.save(Path(tmp) / SCORER_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=ScorerModel(),
            artifacts={SCORER_ARTIFACT: str(directory)},
            signature=_signature(scorer, example),
            input_example=example,
            registered_model_name=scorer.model_name,
            pip_requirements=PIP_REQUIREMENTS,
        )
    return str(info.registered_model_version)


def _counts_as_floats(example: pd.DataFrame) -> pd.DataFrame:
    """The example with its integer columns (counts) as floats, so that the signature takes a missing count too: the
    model reads every number as a float, and MLflow would refuse a float where the signature says integer."""
    ints = [c for c in example.columns if pd.api.types.is_integer_dtype(example[c].dtype)]
    return example.astype(dict.fromkeys(ints, "float64")) if ints else example


def _signature(scorer: Scorer, example: pd.DataFrame) -> ModelSignature:
    """The pyfunc's signature, without MLflow's hint about integer columns for the one it has: the 0-100 score of
    the output, which is never missing (the inputs have none: ``_counts_as_floats``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        return infer_signature(example, scorer.predict(example))


@contextmanager
def _pickled_model_unremarked() -> Iterator[None]:
    """Without MLflow's warning that the pyfunc object is pickled: it is ``ScorerModel``, a class of this package
    with no state; the scorer itself is saved as files (``Scorer.save``)."""
    logger = logging.getLogger("mlflow.pyfunc")

    def remark(record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()

    logger.addFilter(remark)
    try:
        yield
    finally:
        logger.removeFilter(remark)


def set_alias(name: str, alias: str, version: str, why: str, command: str) -> AliasMove:
    """Point ``name@alias`` at ``version`` and add the move to the alias history."""
    client = MlflowClient()
    move = AliasMove(alias, alias_version(name, alias), version, _user(), _now(), why, command)
    client.set_registered_model_alias(name, alias, version)
    kept = [asdict(m) for m in alias_history(name)[-(KEPT_MOVES - 1) :]] + [asdict(move)]
    client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(kept, ensure_ascii=False))
    return move


def alias_history(name: str) -> list[AliasMove]:
    """Every recorded alias move of a registered model, oldest first (empty before the first)."""
    text = MlflowClient().get_registered_model(name).tags.get(HISTORY_TAG)
    return [AliasMove(**move) for move in json.loads(text)] if text else []


def set_data_window(name: str, version: str, window: list[str]) -> None:
    """The version's training window as a tag, in days (the scorer keeps the exact times), so that listing versions
    needs no model loaded."""
    MlflowClient().set_model_version_tag(name, version, WINDOW_TAG, " to ".join(str(t)[:10] for t in window))


def _user() -> str:
    """Who moved an alias: the OS user ("unknown" for a process whose user has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def set_gate_note(name: str, version: str, blockers: str) -> None:
    """Why a version may not be champion (empty: nothing), kept with the version for ``score`` and ``export``."""
    MlflowClient().set_model_version_tag(name, version, GATE_TAG, blockers)


def load_scorer(name: str, alias: str = CHAMPION) -> tuple[Scorer, str]:
    """The scorer behind ``name@alias`` and its version; DataError when there is none yet."""
    from features.scoring.pyfunc import load_registered

    return load_registered(name, alias)
