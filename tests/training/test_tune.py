"""Tuning runs in memory but keeps its study in the SQLite store: every finished trial is there after a run, with the
rounds its pruner saw, and a second run on the same study continues it."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import optuna
import pandas as pd
import pytest

from features.config import optuna_storage
from training.tune import tune


def _data(rng: np.random.Generator, rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    x = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows)})
    y = (x["a"] + rng.normal(scale=1.5, size=rows) > 0.8).to_numpy(dtype=int)
    return x, y


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SALESML_STORE", str(tmp_path))
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("tuning")  # not the experiment an earlier test in this process left active
    yield tmp_path
    mlflow.set_tracking_uri(None)


def test_a_study_is_kept_in_the_store_and_a_second_run_continues_it(store: Path) -> None:
    rng = np.random.default_rng(0)
    (x_train, y_train), (x_valid, y_valid) = _data(rng, 800), _data(rng, 400)

    def run(trials: int):
        return tune(
            x_train, y_train, x_valid, y_valid, study_name="s", trials=trials, timeout_s=600, seed=1, progress=False
        )

    first = run(6)
    kept = optuna.load_study(study_name="s", storage=optuna_storage())
    assert [t.number for t in kept.trials] == list(range(6))
    assert all(t.state.is_finished() for t in kept.trials)
    completed = [t for t in kept.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert completed and all(len(t.intermediate_values) > 20 for t in completed)  # every round the pruner saw
    assert kept.best_value == pytest.approx(first.valid_log_loss)

    second = run(3)
    kept = optuna.load_study(study_name="s", storage=optuna_storage())
    assert [t.number for t in kept.trials] == list(range(9))
    assert second.trials == 9
    assert second.valid_log_loss <= first.valid_log_loss  # the earlier trials count towards the best
    assert kept.best_value == pytest.approx(second.valid_log_loss)
