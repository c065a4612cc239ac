"""MLflow's info lines and artifact progress bars are off in salesml's commands unless ``MLFLOW_LOGGING_LEVEL`` is
set."""

from __future__ import annotations

import logging

import pytest
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR

from features.store import quiet_mlflow


@pytest.fixture
def mlflow_logger() -> logging.Logger:
    logger = logging.getLogger("mlflow")
    level = logger.level
    yield logger
    logger.setLevel(level)


def test_mlflow_shows_warnings_only_and_no_progress_bars(
    mlflow_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    mlflow_logger.setLevel(logging.INFO)
    quiet_mlflow()
    assert mlflow_logger.getEffectiveLevel() == logging.WARNING
    assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is False


def test_with_mlflows_log_level_set_mlflow_decides(
    mlflow_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_LOGGING_LEVEL", "INFO")
    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    mlflow_logger.setLevel(logging.INFO)
    quiet_mlflow()
    assert mlflow_logger.getEffectiveLevel() == logging.INFO
    assert MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.get() is True  # MLflow's default
