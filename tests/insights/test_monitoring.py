"""Monitoring's statistics on planted data: the CBPE estimate against realised figures, drift beyond a trend, and
slice flags that fire on a broken slice and not on noise; and the command's refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.insights.monitoring.drift import categorical_drift, drift, numeric_drift
from features.insights.monitoring.outcomes import SHADOW, scored
from features.insights.monitoring.quality import estimated, realised, slices
from features.insights.monitoring.thresholds import MonitorThresholds
from tests.helpers import assert_one_line_error, salesml


def _calibrated(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 8.0, n)
    return p, (rng.random(n) < p).astype(int)


def test_estimate_matches_realised_when_calibrated() -> None:
    p, y = _calibrated(40_000, 1)
    guess, truth = estimated(p), realised(y, p)
    assert abs(guess["roc_auc"] - truth["roc_auc"]) < 0.01
    assert abs(guess["brier"] - truth["brier"]) < 0.002
    assert abs(guess["expected_positives"] - y.sum()) < 4 * np.sqrt((p * (1 - p)).sum())


def test_estimate_misses_what_calibration_hides() -> None:
    """The estimate reads the probabilities only: labels that no longer follow them leave it where it was."""
    p, _ = _calibrated(40_000, 2)
    flipped = (np.random.default_rng(3).random(len(p)) < 1 - p).astype(int)
    assert estimated(p)["roc_auc"] > 0.65 > realised(flipped, p)["roc_auc"]


def test_drift_beyond_the_training_trend() -> None:
    rng = np.random.default_rng(4)
    older, newer = pd.Series(rng.normal(0, 1, 3000)), pd.Series(rng.normal(0.3, 1, 3000))
    steady = drift(numeric_drift, older, newer, pd.Series(rng.normal(0.6, 1, 3000)), 0.1)
    jumped = drift(numeric_drift, older, newer, pd.Series(rng.normal(1.5, 1, 3000)), 0.1)
    assert steady is not None and not steady["drifted"]
    assert jumped is not None and jumped["drifted"] and jumped["excess"] > 0.5
    mix = list("abc")
    same = pd.Series(rng.choice(mix, 3000, p=[0.5, 0.3, 0.2]))
    moved = pd.Series(rng.choice(mix, 3000, p=[0.1, 0.2, 0.7]))
    assert not drift(categorical_drift, same, same.sample(frac=1, random_state=0), same, 0.1)["drifted"]
    assert drift(categorical_drift, same, same.sample(frac=1, random_state=0), moved, 0.1)["drifted"]


def test_slices_flag_a_broken_slice_not_noise() -> None:
    p, y = _calibrated(12_000, 5)
    rows = pd.DataFrame({"entity_id": [f"L{i}" for i in range(len(p))], "probability": p, "label": y.astype(float)})
    rows["team"] = np.repeat(["t1", "t2", "t3", "t4"], len(p) // 4)
    broken = rows["team"].eq("t4").to_numpy()
    rows.loc[broken, "probability"] = np.random.default_rng(6).permutation(p[broken])
    whole = realised(y, rows["probability"].to_numpy())["roc_auc"]
    found = {r["value"]: r["flags"] for r in slices(rows, ("team",), whole, MonitorThresholds())}
    assert found == {"t1": [], "t2": [], "t3": [], "t4": ["auc", "ece"]}  # shuffled: neither ranks nor calibrated


def test_shadow_scores_are_kept_apart() -> None:
    """A challenger's shadow records carry the model's name: monitoring must not count them as answers."""
    head = {"model": "lead_score", "entity_id": "L1", "as_of": "2025-01-01T00:00:00+00:00", "inputs": {}}
    records = [
        {**head, "request_id": "r", "model_version": "1", "probability": 0.2, "grade": "C"},
        {**head, "request_id": "r", "model_version": "2", "probability": 0.7, "grade": "A", SHADOW: True},
    ]
    assert scored(records, "lead_score")["model_version"].tolist() == ["1"]
    assert scored(records, "lead_score", shadow=True)["model_version"].tolist() == ["2"]


@pytest.mark.slow  # salesml processes, one per mistake
def test_monitor_refuses_bad_input_in_one_line(small_data: Path, tmp_path: Path) -> None:
    assert_one_line_error(salesml("monitor", "--data", small_data, "--log", tmp_path / "nowhere"), "--log")
    proc = salesml("monitor", "--data", small_data, "--log", tmp_path, "--since", "last spring")
    assert_one_line_error(proc, "--since 'last spring'")
