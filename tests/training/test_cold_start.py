"""Cold start: a CRM too thin for an ML model still gets scores, from a prior model marked ``kind: prior`` in every
answer, until an ML model replaces it through the gate.

On a 150-lead simulated CRM the deal model has no honest split (too few settled deals), so ``train`` registers the
prior; the service and ``score`` answer with it; a later train on more data replaces it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset, write_dataset
from features.scoring import PRIOR
from features.synth import synthesize
from tests.helpers import Stores, assert_one_line_error, salesml, train_in_store
from tests.serving.server import Server
from training.data import labelled_snapshots
from training.prior import FIELD_BASE_RATE, LOG_ODDS_PER_POINT, fit_prior
from training.spec import load_spec

THIN_LEADS = 150
DEAL = "close_probability"


@pytest.fixture(scope="module")
def thin_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("thin") / "data"
    synthesize(out, leads=THIN_LEADS, seed=3)
    return out


@pytest.fixture(scope="module")
def thin(thin_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """The thin CRM with the deal model trained (a prior) and exported."""
    return Stores.trained_on(tmp_path_factory.mktemp("thin-stores"), thin_data, 1, True, (DEAL,))


@pytest.mark.slow  # trains and exports its own CRM
def test_a_thin_crm_registers_a_prior_champion(thin: Stores) -> None:
    report = thin.trained[DEAL].report
    assert report["kind"] == PRIOR and report["promoted"]
    assert "no honest time split" in report["prior"]["reason"]
    assert report["prior"]["method"] in ("points", "frequency")
    assert report["prior"]["inputs_used"] > 0


@pytest.mark.parametrize("command", ["train", "compare-baselines"])
def test_a_model_of_entities_the_export_lacks_is_one_line(thin_data: Path, tmp_path: Path, command: str) -> None:
    """A leads-only export has no deals: not even a prior can rank deals against none, so training says so."""
    leads_only = tmp_path / "leads-only"
    ds = read_dataset(thin_data)
    write_dataset(Dataset(ds.manifest, {"leads": ds.get("leads"), "activities": ds.get("activities")}), leads_only)
    proc = salesml(command, "--model", DEAL, "--data", leads_only, env={"SALESML_STORE": str(tmp_path / "store")})
    assert_one_line_error(proc, "close_probability scores opportunities, and the dataset has none")


def test_the_prior_ranks_by_the_field_rules_without_labels(thin_data: Path) -> None:
    """With no labelled row there is nothing to learn from: the points rules around the field's base rate, and a
    faster first response (20 points within the hour, 0 after a day) raises the probability by their log-odds."""
    spec, _ = load_spec("lead_score")
    labelled = labelled_snapshots(spec, read_dataset(thin_data))
    unlabelled = labelled.__class__(**{**vars(labelled), "table": labelled.table.iloc[:0], "y": labelled.y[:0]})
    scorer, method = fit_prior(unlabelled)
    assert method == "points" and scorer.model_kind == PRIOR
    rows = labelled.built.head(1).copy()
    fast, slow = rows.assign(first_response_h=0.5), rows.assign(first_response_h=30.0)
    p_fast, p_slow = (scorer.predict(r)["probability"].iloc[0] for r in (fast, slow))
    odds = np.log(p_fast / (1 - p_fast)) - np.log(p_slow / (1 - p_slow))
    assert odds == pytest.approx(20 * LOG_ODDS_PER_POINT)
    everyone = scorer.predict(labelled.built)["probability"]
    assert abs(everyone.mean() - FIELD_BASE_RATE["lead"]) < 0.05


@pytest.mark.slow  # trains and exports its own CRM
def test_score_answers_with_the_prior(thin: Stores, tmp_path: Path) -> None:
    deals = read_dataset(thin.data).tables["opportunities"]
    as_of = deals["created_at"].sort_values().iloc[len(deals) // 2] + pd.Timedelta(days=1)
    out = tmp_path / "scores.csv"
    done = salesml(
        "score", "--model", DEAL, "--data", thin.data, "--as-of", as_of.isoformat(), "--out", out, env=thin.env
    )
    assert done.returncode == 0, done.stderr
    scores = pd.read_csv(out)
    assert len(scores) and set(scores["model_kind"]) == {PRIOR}
    assert scores["probability"].between(0, 1).all()


@pytest.mark.slow  # trains and exports its own CRM
def test_the_service_answers_with_the_prior(thin: Stores, tmp_path: Path) -> None:
    example = json.loads((Path(__file__).parents[2] / "examples" / "score-opportunity.json").read_text())
    server = Server(thin, tmp_path / "log").start()
    try:
        with server.client() as client:
            models = client.get("/v1/models").json()["models"]
            assert [(m["name"], m["kind"]) for m in models] == [(DEAL, PRIOR)]
            answer = client.post("/v1/opportunities/score", json=example)
            assert answer.status_code == 200, answer.text
            assert {r["model_kind"] for r in answer.json()["results"]} == {PRIOR}
            assert client.post("/v1/leads/score", json={"leads": []}).status_code in (422, 503)
    finally:
        server.stop()


@pytest.mark.slow
def test_an_ml_model_replaces_the_prior_through_the_gate_and_never_the_reverse(
    thin: Stores, thin_data: Path, small_data: Path, tmp_path: Path
) -> None:
    stores = thin.copy(tmp_path / "stores")
    ml = train_in_store(stores.store, DEAL, small_data, 1)
    assert ml.report.get("kind") != PRIOR and ml.promoted, ml.report["gate"]
    assert ml.report["champion"]["champion_version"] == thin.trained[DEAL].version
    again = train_in_store(stores.store, DEAL, thin_data, 1)
    assert again.report["kind"] == PRIOR and not again.promoted
