"""salesml's local store (MLflow's SQLite database and artifacts, the Optuna studies), opened checked: a damaged
file is one line naming it and how to rebuild the store, not an SQLAlchemy traceback from deep inside MLflow."""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from pathlib import Path

import mlflow
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

from features import settings
from features.config import optuna_storage, store_dir, tracking_uri
from features.errors import StoreError

SQLITE = "sqlite:///"
#: How to rebuild a damaged store: a new one is made by training again.
REBUILD = "move it aside and run salesml train again"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for a tracking server or another database."""
    return Path(uri.removeprefix(SQLITE)) if uri.startswith(SQLITE) else None


def readable(uri: str, what: str) -> bool:
    """Whether the database behind ``uri`` exists (a server is taken to); StoreError when it exists but cannot be
    read (SQLite's quick check, without writing to it)."""
    db = sqlite_file(uri)
    if db is None:
        return True
    if not db.exists():
        return False
    try:
        with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            verdict = str(conn.execute("PRAGMA quick_check").fetchone()[0])
    except sqlite3.Error as exc:
        verdict = str(exc)
    if verdict != "ok":
        raise StoreError(f"the {what} at {db} is unreadable ({verdict}): {REBUILD}")
    return True


def open_store(*, create: bool) -> bool:
    """Point MLflow at salesml's store once it reads (training also tunes in the Optuna studies beside it); False
    when there is none and ``create`` is off, with nothing created (MLflow would make an empty database just to
    find no model in it)."""
    uri = tracking_uri()
    exists = readable(uri, "MLflow store")
    if create:
        readable(optuna_storage(), "Optuna store")
        store_dir().mkdir(parents=True, exist_ok=True)
    elif not exists:
        return False
    quiet_mlflow()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return True


def quiet_mlflow() -> None:
    """MLflow's info lines and artifact progress bars off: each command says itself what it did (the version it
    registered) and shows its own progress. MLflow's warnings stay; with ``MLFLOW_LOGGING_LEVEL`` set, MLflow
    decides."""
    if settings.MLFLOW_LOG_LEVEL.get() is None:
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)


def lost_model_files(name: str, version: str, why: str) -> StoreError:
    """A registered version whose files are gone from the store's artifacts (the folder deleted or moved)."""
    return StoreError(
        f"the MLflow store at {store_dir()} has lost the files of {name} version {version} ({why}): {REBUILD}, then"
        " salesml export"
    )
