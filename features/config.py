"""Where salesml keeps its local stores: in the local directory by default, nothing to set up.

The local directory is the checkout when salesml runs from one (an editable install: ``pyproject.toml`` beside the
packages), so a clone keeps everything beside its code; an installed salesml uses ``.salesml`` in the current
directory instead, never the installed package. Each path has its setting (``features.settings``), and
``MLFLOW_TRACKING_URI`` points at any MLflow tracking server. Read at call time, so importing this module has no
side effects.
"""

from __future__ import annotations

from pathlib import Path

from features import settings

ROOT = Path(__file__).resolve().parents[1]
INSTALLED_HOME = ".salesml"


def in_checkout() -> bool:
    """Whether salesml runs from a source checkout rather than an installed copy."""
    return (ROOT / "pyproject.toml").is_file()


def local_dir() -> Path:
    """Where stores, reports and logs go unless a setting says otherwise: the checkout, else ``./.salesml``."""
    return ROOT if in_checkout() else Path.cwd() / INSTALLED_HOME


def run_dir() -> Path:
    """Where the service's server runs: the checkout (its bentofile, its packages), else the current directory."""
    return ROOT if in_checkout() else Path.cwd()


def store_dir() -> Path:
    """The local store: MLflow's SQLite database and artifacts, the Optuna studies."""
    return (settings.STORE.get() or local_dir() / ".mlflow").resolve()


def tracking_uri() -> str:
    return settings.TRACKING_URI.get() or f"sqlite:///{store_dir() / 'mlflow.db'}"


def artifact_location(experiment: str) -> str:
    return (store_dir() / "artifacts" / experiment).as_uri()


def optuna_storage() -> str:
    return f"sqlite:///{store_dir() / 'optuna.db'}"


def bentoml_home() -> Path:
    """BentoML's model and bento store (``BENTOML_HOME``)."""
    return (settings.BENTOML_HOME.get() or local_dir() / ".bentoml").resolve()


def prediction_log_dir() -> Path:
    """Where the service appends what it answered (``SALESML_PREDICTION_LOG``)."""
    return (settings.PREDICTION_LOG.get() or local_dir() / "logs" / "predictions").resolve()


def report_dir() -> Path:
    """Where ``salesml report`` keeps the latest manager report per locale, for the service to serve
    (``SALESML_REPORT_DIR``)."""
    return (settings.REPORT_DIR.get() or local_dir() / "reports").resolve()


def latest_report(locale: str) -> Path:
    """The latest manager report in ``locale`` (zh-CN or en), written by ``salesml report``."""
    return report_dir() / f"latest.{locale}.html"
