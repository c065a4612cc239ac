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
from training.evaluate import grade_confusion
from training.gate import baseline_floor, below_floor, floor_line, gate_blockers
from training.metrics import calibration_verdict
from training.spec import load_spec
from training.summary import render_markdown

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
    return {"second": proc.stdout, "stderr": proc.stderr}


def test_first_version_becomes_champion_and_report_shows_baselines(small_crm: Stores) -> None:
    """The small CRM's first lead_score version, its summary printed as ``salesml train`` prints it."""
    printed = io.StringIO()
    print_training(Console(file=printed, width=200), small_crm.trained["lead_score"])
    out = printed.getvalue()
    assert "as champion" in out
    for baseline in ("logistic", "odoo_naive_bayes", "points"):
        assert baseline in out
    assert "grades on test: A" in out
    assert "grades A as 'will convert': " in out and "grades A+B as 'will convert': " in out
    calibration = small_crm.trained["lead_score"].report["test"]["calibration"]
    assert calibration["ece"] == small_crm.trained["lead_score"].report["test"]["metrics"]["ece"]
    assert f"calibration: {calibration['verdict']}" in out
    assert f"Calibration: {calibration['verdict']}." in render_markdown(small_crm.trained["lead_score"].report)
    line = floor_line(small_crm.trained["lead_score"].report["gate"]["floor"])
    assert line in out  # the model against the best baseline, in one line
    assert line in render_markdown(small_crm.trained["lead_score"].report)


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

    spec, _ = load_spec("lead_score")  # gate: roc_auc, min_improvement 0.002
    assert passes_gate({"champion_version": champion, "gain": gain}, spec, promote) is expected


def _floor(model_noise: float, rows: int = 800, margin: float = 0.005) -> dict:
    """The model (the baseline's ranking plus ``model_noise``) against a strong baseline on ``rows`` test rows."""
    rng = np.random.default_rng(5)
    y = (rng.random(rows) < 0.3).astype(int)
    baseline = y + rng.normal(0, 0.8, len(y))
    model = baseline + rng.normal(0, model_noise, len(y))
    groups = np.arange(len(y)) // 2  # two snapshots per entity
    return baseline_floor(y, model, {"logistic": baseline, "points": rng.random(len(y))}, groups, margin)


def _blockers(floor: dict) -> list[str]:
    """The gate of a first version (no champion) with skill and enough distinct values: only the floor can block."""
    spec, _ = load_spec("lead_score")
    return gate_blockers({"skill": {"roc_auc_95": [0.6, 0.7]}}, {"champion_version": None}, floor, spec, 500)


def test_the_floor_holds_back_a_first_version_clearly_worse_than_a_baseline() -> None:
    floor = _floor(model_noise=1.5)
    assert floor["baseline"] == "logistic" and floor["difference_95"][1] < 0
    assert below_floor(floor)
    assert _blockers(floor) == [floor_line(floor)]
    assert floor_line(floor).startswith("the logistic baseline's test ROC AUC") and "beyond noise" in floor_line(floor)


def test_the_floor_passes_a_deficit_within_its_margin_that_many_rows_make_certain() -> None:
    """20,000 test rows make a 0.003 deficit certain: within the 0.005 margin it is served and says so; with no
    margin, or a deficit of 0.01, it is held back."""
    floor = _floor(model_noise=0.15, rows=20_000)
    low, high = floor["difference_95"]
    assert -0.005 < high < 0
    assert not below_floor(floor) and _blockers(floor) == []
    assert floor_line(floor) == (
        f"the logistic baseline's test ROC AUC {floor['baseline_auc']:.3f} is above this model's "
        f"{floor['model_auc']:.3f}, beyond noise but within the 0.005 margin (95% interval of the difference "
        f"{low:+.3f}..{high:+.3f})"
    )
    assert below_floor(_floor(model_noise=0.15, rows=20_000, margin=0.0))
    worse = _floor(model_noise=0.25, rows=20_000)
    assert below_floor(worse) and "beyond noise and the 0.005 margin" in floor_line(worse)


def test_the_floor_passes_a_tie_within_noise_and_says_so() -> None:
    floor = _floor(model_noise=0.05)
    low, high = floor["difference_95"]
    assert floor["baseline_auc"] > floor["model_auc"] and low < 0 < high
    assert not below_floor(floor) and _blockers(floor) == []
    assert floor_line(floor) == (
        f"the logistic baseline's test ROC AUC {floor['baseline_auc']:.3f} is above this model's "
        f"{floor['model_auc']:.3f}, within noise (95% interval of the difference {low:+.3f}..{high:+.3f})"
    )


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


@pytest.mark.slow
def test_training_prints_no_mlflow_chatter(trained: dict) -> None:
    """What ``salesml train`` writes on stderr besides its own output: MLflow's two lines naming the version it
    registered, no info lines, warnings, progress bars or the empty lines a bar leaves in a file."""
    lines = trained["stderr"].splitlines()
    assert lines and all(line.strip() for line in lines), lines
    for chatter in ("INFO mlflow", "Warning", "CloudPickle", "Downloading artifacts"):
        assert chatter not in trained["stderr"], trained["stderr"][-3000:]


@pytest.mark.slow
def test_the_registered_pyfunc_takes_counts_as_integers_floats_or_missing(store: Path, trained: dict) -> None:
    """An analyst's frame may hold counts as integers (``build_features``), floats or missing: the pyfunc's
    signature takes each and scores them alike."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{store / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    version = client.get_model_version_by_alias("lead_score", "champion").version
    model = mlflow.pyfunc.load_model(client.get_model_version_download_uri("lead_score", version))
    example = model.input_example
    numbers = example.select_dtypes("number")
    whole = [c for c in numbers.columns if numbers[c].notna().all() and (numbers[c] % 1 == 0).all()]
    assert whole, "the example has whole-number columns (counts)"
    floats = example.astype(dict.fromkeys(whole, "float64"))
    ints = example.astype(dict.fromkeys(whole, "int32"))
    pd.testing.assert_frame_equal(model.predict(ints), model.predict(floats))
    missing = floats.copy()
    missing.loc[0, whole] = np.nan
    assert model.predict(missing)["probability"].between(0, 1).all()


def test_unknown_spec_is_one_line(store: Path, demo: Path) -> None:
    proc = run(store, "train", "--model", "no_such_model", "--data", demo)
    assert_one_line_error(proc, "no such model spec")


def test_scores_without_a_champion_is_one_line(tmp_path: Path, demo: Path) -> None:
    proc = run(tmp_path / "empty-store", "score", "--model", "lead_score", "--data", demo, "--out", tmp_path / "s.csv")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: no lead_score@champion")


def test_metrics_helpers_can_fail() -> None:
    from features.scoring.metrics import expected_calibration_error, lift_top_decile

    y = np.array([0, 0, 1, 1] * 50)
    assert expected_calibration_error(y, np.full(len(y), 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, np.full(len(y), 0.9)) == pytest.approx(0.4)
    assert lift_top_decile(y, y.astype(float)) == pytest.approx(2.0)


def test_the_confusion_matrix_at_each_grade_cut() -> None:
    y = np.array([1, 1, 0, 1, 0, 0, 0, 1, 0, 0])
    grades = np.array(["A", "A", "A", "B", "B", "B", "C", "C", "C", "C"])
    a, ab = grade_confusion(y, grades)
    assert (a["cut"], a["tp"], a["fp"], a["fn"], a["tn"]) == ("A", 2, 1, 2, 5)
    assert (ab["cut"], ab["tp"], ab["fp"], ab["fn"], ab["tn"]) == ("A+B", 3, 3, 1, 3)
    assert a["precision"] == pytest.approx(2 / 3) and a["recall"] == pytest.approx(0.5)
    assert ab["recall"] == pytest.approx(0.75) and ab["recall"] >= a["recall"]  # a wider cut catches as many or more


def test_the_training_report_carries_the_confusion_at_each_cut(small_crm: Stores) -> None:
    test = small_crm.trained["lead_score"].report["test"]
    counts = {g["grade"]: g["n"] for g in test["grades"]}
    for row in test["confusion"]:
        assert row["tp"] + row["fp"] == sum(counts[g] for g in row["cut"].split("+"))
        assert row["tp"] + row["fp"] + row["fn"] + row["tn"] == sum(counts.values())


def test_the_calibration_verdict_says_by_how_much_and_why() -> None:
    assert calibration_verdict(0.02, 0.03, 0.05, 0.3, 0.3).startswith("calibrated: test ECE 0.020")
    chance = calibration_verdict(0.04, 0.03, 0.05, 0.3, 0.3)
    assert "0.010 above the 0.03 target" in chance and "by chance on these rows (0.050)" in chance
    shifted = calibration_verdict(0.08, 0.03, 0.02, 0.22, 0.32)
    assert "0.050 above" in shifted and "from 22.0% on the calibration rows to 32.0% on test" in shifted
    assert "does not carry over" in calibration_verdict(0.08, 0.03, 0.02, 0.30, 0.31)
