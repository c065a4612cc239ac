"""Routing quality on a simulated CRM, judged by the truth: does the model's choice of rep convert more leads?

The simulator plants each rep's skill and fit with industries and sources (``features.synth.world.RepFit``) and
keeps them in ``_truth/reps.parquet``, so a lead's true conversion probability can be computed with any rep: its
own log-odds, less what its actual owner added, plus what the other rep would add (skill net of ramp-up, fit), the
lead's behaviour held as it was. Each lead of the last months is routed as of its creation by the lead-score model
(trained here) and by the field's rule; the mean true probability of each one's first choice is compared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset
from features.insights.routing import LOAD_CAP_FACTOR
from features.insights.routing_backtest import backtest
from features.synth.fit import TRUTH_FILE, rep_logit
from tests.helpers import Stores, assert_one_line_error, salesml
from training.train import TrainResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crm(medium_crm: Stores) -> Path:
    """The session's medium CRM (9,000 leads): about 2,500 leads routed in the window."""
    return medium_crm.data


@pytest.fixture(scope="module")
def store(medium_crm: Stores) -> Path:
    return medium_crm.store


@pytest.fixture(scope="module")
def trained(medium_crm: Stores) -> TrainResult:
    return medium_crm.trained["lead_score"]


@pytest.fixture(scope="module")
def dataset(crm: Path) -> Dataset:
    return read_dataset(crm)


def _true_probability(crm: Path, ds: Dataset, per_lead: pd.DataFrame, choice: str) -> np.ndarray:
    """Each lead's true conversion probability had the rep in ``choice`` owned it."""
    truth = pd.read_parquet(crm / "_truth" / "leads.parquet").set_index("lead_id").loc[per_lead["lead_id"]]
    reps = pd.read_parquet(crm / "_truth" / TRUTH_FILE).set_index("rep_id")
    leads = ds.tables["leads"].set_index("lead_id").loc[per_lead["lead_id"]]
    hired = ds.tables["reps"].set_index("rep_id")["hired_at"]

    def added(rep: pd.Series) -> np.ndarray:
        tenure = (per_lead["created_at"].to_numpy() - hired.loc[rep].to_numpy()) / pd.Timedelta(days=1)
        return rep_logit(reps, rep, leads["industry"], leads["source"], tenure.astype(float))

    p = truth["p_convert"].to_numpy()
    logit = np.log(p / (1 - p)) - added(per_lead["owner_rep_id"]) + added(per_lead[choice])
    return 1 / (1 + np.exp(-logit))


def _routed(crm: Path, ds: Dataset, trained: TrainResult, cap: float | None) -> pd.DataFrame:
    """The leads of the last 180 days with a known outcome, routed as of their creation (planted duplicates, which
    have no truth of their own, left out)."""
    end = pd.Timestamp(ds.manifest.exported_at) - pd.Timedelta(days=30)
    per_lead = backtest(ds, trained.scorer, end - pd.Timedelta(days=180), end, cap)
    known = pd.read_parquet(crm / "_truth" / "leads.parquet")["lead_id"]
    return per_lead[per_lead["lead_id"].isin(known)].reset_index(drop=True)


def test_model_routing_beats_the_field_rule_on_true_conversion(
    crm: Path, dataset: Dataset, trained: TrainResult
) -> None:
    per_lead = _routed(crm, dataset, trained, cap=None)
    assert len(per_lead) > 2000
    mean = {
        c: _true_probability(crm, dataset, per_lead, c).mean() for c in ("owner_rep_id", "model_first", "rule_first")
    }
    print({c: round(float(v), 4) for c, v in mean.items()})
    assert mean["model_first"] > mean["rule_first"] + 0.005, mean
    assert mean["model_first"] > mean["owner_rep_id"] + 0.01, mean  # the history's own routing (capacity-weighted)


def test_under_the_load_cap_the_model_still_beats_how_leads_were_routed(
    crm: Path, dataset: Dataset, trained: TrainResult
) -> None:
    per_lead = _routed(crm, dataset, trained, cap=LOAD_CAP_FACTOR)
    model = _true_probability(crm, dataset, per_lead, "model_first").mean()
    owner = _true_probability(crm, dataset, per_lead, "owner_rep_id").mean()
    assert model > owner + 0.005, (model, owner)


def test_the_route_command_prints_the_ranking_the_decision_and_the_backtest(
    crm: Path, dataset: Dataset, store: Path, trained: TrainResult
) -> None:
    env = {"SALESML_STORE": str(store), "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}
    lead = dataset.tables["leads"].sort_values("created_at")["lead_id"].iloc[-1]
    one = salesml("route", "--data", crm, "--lead", lead, "--locale", "en", "--top", 3, env=env)
    assert one.returncode == 0, one.stderr
    assert f"Routing of {lead}" in one.stdout and "eligible reps" in one.stdout and "decision: " in one.stdout
    manual = salesml("route", "--data", crm, "--lead", lead, "--failed-routings", 3, "--locale", "en", env=env)
    assert "decision: manual (rule failed_routings" in manual.stdout
    assert_one_line_error(salesml("route", "--data", crm, "--lead", "L-NONE", env=env), "no such lead")
    end = pd.Timestamp(dataset.manifest.exported_at) - pd.Timedelta(days=30)
    window = ("--from", (end - pd.Timedelta(days=45)).date(), "--to", end.date())
    backtested = salesml("route", "--data", crm, "--backtest", *window, env=env)
    assert backtested.returncode == 0, backtested.stderr
    assert "Routing backtest" in backtested.stdout and "field rule" in backtested.stdout
    assert "Observational" in backtested.stdout
