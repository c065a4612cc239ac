"""Training end to end on a small simulated CRM: a real MLflow store, the registry aliases, batch scoring."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from tests.helpers import Stores, assert_one_line_error, salesml
from training.cli import print_training

TRIALS = 3


@pytest.fixture(scope="module")
def stores(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """A copy of the session's small CRM (this module trains in it), where lead_score version 1 was trained."""
    return small_crm.copy(tmp_path_factory.mktemp("train") / "stores")


@pytest.fixture(scope="module")
def store(stores: Stores) -> Path:
    return stores.store


@pytest.fixture(scope="module")
def demo(stores: Stores) -> Path:
    return stores.data


def run(store: Path, *args: object):
    return salesml(*args, env={"SALESML_STORE": str(store)})


@pytest.fixture(scope="module")
def trained(stores: Stores) -> dict:
    """Two trainings of lead_score: the first (the small CRM's) became champion, the second (``salesml train
    --promote``, on a copy) is compared with it and promoted."""
    proc = run(stores.store, "train", "--model", "lead_score", "--data", stores.data, "--trials", TRIALS, "--promote")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"second": proc.stdout}


def test_first_version_becomes_champion_and_report_shows_baselines(small_crm: Stores) -> None:
    """The small CRM's first lead_score version, its summary printed as ``salesml train`` prints it."""
    printed = io.StringIO()
    print_training(Console(file=printed, width=200), small_crm.trained["lead_score"])
    out = printed.getvalue()
    assert "as champion" in out
    for baseline in ("logistic", "odoo_naive_bayes", "points"):
        assert baseline in out
    assert "grades on test: A" in out


@pytest.mark.slow
def test_registry_runs_artifacts_and_aliases(store: Path, trained: dict) -> None:
    import json

    from mlflow.tracking import MlflowClient

    # an explicit client: mlflow.set_tracking_uri would leak MLFLOW_TRACKING_URI into later subprocesses
    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # in-process trainings set a global registry
    experiment = client.get_experiment_by_name("lead_score").experiment_id
    runs = client.search_runs([experiment], order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    nested = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(nested) >= TRIALS
    artifacts = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    expected = {"report.json", "report.md", "calibration.png", "shap_beeswarm.png", "features.json", "spec.yaml"}
    assert expected <= artifacts
    second = json.loads(Path(client.download_artifacts(parents[1].info.run_id, "report.json")).read_text())
    assert second["champion"]["champion_version"] == "1"  # compared with the champion on the same test rows
    assert np.isfinite(second["champion"]["gain"])
    assert str(client.get_model_version_by_alias("lead_score", "challenger").version) == "2"
    assert str(client.get_model_version_by_alias("lead_score", "champion").version) == "2"  # --promote


@pytest.mark.parametrize(
    ("champion", "gain", "promote", "expected"),
    [(None, None, False, True), ("1", 0.01, False, True), ("1", 0.001, False, False), ("1", -0.1, True, True)],
)
def test_gate(champion: str | None, gain: float | None, promote: bool, expected: bool) -> None:
    from training.gate import passes_gate
    from training.spec import load_spec

    spec, _ = load_spec("lead_score")  # gate: roc_auc, min_improvement 0.002
    assert passes_gate({"champion_version": champion, "gain": gain}, spec, promote) is expected


@pytest.mark.slow
def test_batch_scoring_of_open_leads(store: Path, demo: Path, trained: dict, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    proc = run(store, "score", "--model", "lead_score", "--data", demo, "--out", out, "--locale", "en")
    assert proc.returncode == 0, proc.stderr[-3000:]
    scores = pd.read_csv(out)
    assert len(scores) > 0
    assert scores["probability"].between(0, 1).all() and scores["score"].between(0, 100).all()
    assert set(scores["grade"]) <= {"A", "B", "C"}
    assert (scores["model_version"] == 2).all()
    assert scores["top_positive"].fillna("").str.len().gt(0).any()
    # grades follow scores: A's lowest score is at least B's highest
    a, b = scores.loc[scores.grade == "A", "score"], scores.loc[scores.grade == "B", "score"]
    assert a.empty or b.empty or a.min() >= b.max()


def test_unknown_spec_is_one_line(store: Path, demo: Path) -> None:
    proc = run(store, "train", "--model", "no_such_model", "--data", demo)
    assert_one_line_error(proc, "no such model spec")


def test_scores_without_a_champion_is_one_line(tmp_path: Path, demo: Path) -> None:
    proc = run(tmp_path / "empty-store", "score", "--model", "lead_score", "--data", demo, "--out", tmp_path / "s.csv")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no lead_score@champion")


def test_metrics_helpers_can_fail() -> None:
    from training.metrics import expected_calibration_error, lift_top_decile

    y = np.array([0, 0, 1, 1] * 50)
    assert expected_calibration_error(y, np.full(len(y), 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(len(y), 0.9)) == pytest.approx(0.4)
    assert lift_top_decile(y, y.astype(float)) == pytest.approx(2.0)
