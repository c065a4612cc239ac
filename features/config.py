"""Where salesml keeps its local stores: everything under the repository by default, nothing to set up.

Override with ``SALESML_STORE`` (a directory) or ``MLFLOW_TRACKING_URI`` (any MLflow tracking server).
Read at call time, so importing this module has no side effects.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def store_dir() -> Path:
    """The local store: MLflow's SQLite database and artifacts, the Optuna studies."""
    return Path(os.environ.get("SALESML_STORE", ROOT / ".mlflow")).resolve()


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_dir() / 'mlflow.db'}"


def artifact_location(experiment: str) -> str:
    return (store_dir() / "artifacts" / experiment).as_uri()


def optuna_storage() -> str:
    return f"sqlite:///{store_dir() / 'optuna.db'}"


def bentoml_home() -> Path:
    """BentoML's model and bento store: under the repository unless ``BENTOML_HOME`` says otherwise."""
    return Path(os.environ.get("BENTOML_HOME", ROOT / ".bentoml")).resolve()


def prediction_log_dir() -> Path:
    """Where the service appends what it answered (``SALESML_PREDICTION_LOG``; default under the repository)."""
    return Path(os.environ.get("SALESML_PREDICTION_LOG", ROOT / "logs" / "predictions")).resolve()


def report_dir() -> Path:
    """Where ``salesml report`` keeps the latest manager report per locale, for the service to serve
    (``SALESML_REPORT_DIR``; default under the repository)."""
    return Path(os.environ.get("SALESML_REPORT_DIR", ROOT / "reports")).resolve()


def latest_report(locale: str) -> Path:
    """The latest manager report in ``locale`` (zh-CN or en), written by ``salesml report``."""
    return report_dir() / f"latest.{locale}.html"
