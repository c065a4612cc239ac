"""Lead-score quality on a simulated CRM, judged against the truth the simulator kept, and behavioural tests.

The oracle is the simulator's own probability that a lead still open at a snapshot converts within the horizon
(``lead_snapshot_oracle``): it knows the latent buyer intent, the noise and the lead's future, so no model can
beat it. The target (within 0.02 ROC AUC) is measured on the snapshots taken once the planted drivers are in
the past: 7 days or more after creation, when the first response (or a week without one) and the 7-day
activation window have happened.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from features.crm.dataset import Dataset, read_dataset
from features.pit.build import build_features
from features.scoring.scorer import Scorer
from features.synth import synthesize
from features.synth.truth import lead_snapshot_oracle
from tests.conftest import SMALL
from tests.helpers import Stores, train_in_store
from training.train import TrainResult

LEADS = 60_000  # about 5,000 test leads: enough for the AUC gap to be measured to about +/- 0.005
TRIALS = 4  # each a tuning trial on 60,000 leads: the default spec runs more, so this is the harder test
DRIVERS_SEEN_AFTER = pd.Timedelta(days=7)
pytestmark = pytest.mark.slow  # both models tuned on 60,000 leads


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quality") / "data"
    synthesize(out, leads=LEADS, seed=7)
    return out


@pytest.fixture(scope="module")
def trained(crm: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train_in_store(tmp_path_factory.mktemp("store"), "lead_score", crm, TRIALS)


@pytest.fixture(scope="module")
def dataset(crm: Path) -> Dataset:
    return read_dataset(crm)


def _ages(dataset: Dataset, rows: pd.DataFrame) -> pd.TimedeltaIndex:
    created = dataset.tables["leads"].set_index("lead_id")["created_at"]
    return pd.DatetimeIndex(rows["cutoff_time"]) - pd.DatetimeIndex(created.loc[rows["entity_id"]])


def _oracle(crm: Path, rows: pd.DataFrame, ages: pd.TimedeltaIndex, horizon_days: int) -> np.ndarray:
    truth = pd.read_parquet(crm / "_truth" / "leads.parquet").set_index("lead_id").loc[rows["entity_id"]]
    days = ages.total_seconds().to_numpy() / 86_400
    return lead_snapshot_oracle(
        truth["p_convert"].to_numpy(), truth["first_response_days"].to_numpy(), days, horizon_days
    )


def test_oracle_is_calibrated_on_the_test_rows(crm: Path, dataset: Dataset, trained: TrainResult) -> None:
    """The ceiling itself is right: its mean matches the labels' rate (else the comparison means nothing)."""
    rows = trained.test_rows
    oracle = _oracle(crm, rows, _ages(dataset, rows), trained.report["horizon_days"])
    assert abs(oracle.mean() - rows["label"].mean()) < 0.01


def test_lead_auc_within_002_of_the_oracle(crm: Path, dataset: Dataset, trained: TrainResult) -> None:
    rows = trained.test_rows
    ages = _ages(dataset, rows)
    oracle = _oracle(crm, rows, ages, trained.report["horizon_days"])
    past = np.asarray(ages >= DRIVERS_SEEN_AFTER)
    y, p = rows["label"].to_numpy(), rows["probability"].to_numpy()
    assert y[past].sum() >= 300, "too few positives to measure the gap"
    ours, best = roc_auc_score(y[past], p[past]), roc_auc_score(y[past], oracle[past])
    print(f"snapshots at 7 days or later: salesml {ours:.4f}, oracle {best:.4f} (n={past.sum()})")
    print(f"all snapshots: salesml {roc_auc_score(y, p):.4f}, oracle {roc_auc_score(y, oracle):.4f}")
    assert ours >= best - 0.02


def test_calibration_error_at_most_003(trained: TrainResult) -> None:
    assert trained.report["test"]["metrics"]["ece"] <= 0.03


def test_grades_convert_in_order(trained: TrainResult) -> None:
    rates = {g["grade"]: g["conversion_rate"] for g in trained.report["test"]["grades"]}
    assert rates["A"] > rates["B"] > rates["C"]


def _planted(crm: Path, entity: str) -> set[str]:
    drivers = yaml.safe_load((crm / "_truth" / "drivers.yaml").read_text(encoding="utf-8"))["drivers"]
    return {d["concept"] for d in drivers if d["entity"] == entity}


def test_planted_drivers_lead_the_global_factors(crm: Path, trained: TrainResult) -> None:
    planted = _planted(crm, "lead")
    top5 = [f["factor"] for f in trained.report["global_factors"][:5]]
    assert len(planted & set(top5)) >= 3, top5


def _open_leads_at(dataset: Dataset, age: pd.Timedelta) -> pd.DataFrame:
    leads = dataset.tables["leads"]
    cutoff = leads["created_at"] + age
    still_open = ~(leads["converted_at"] <= cutoff) & ~(leads["disqualified_at"] <= cutoff)
    exported = pd.Timestamp(dataset.manifest.exported_at)
    keep = still_open & (cutoff <= exported)
    return pd.DataFrame({"entity_id": leads.loc[keep, "lead_id"], "cutoff_time": cutoff[keep]}).reset_index(drop=True)


def _answered_after(dataset: Dataset, lead_ids: pd.Index, delay: pd.Timedelta) -> Dataset:
    """The same leads with every rep touch before ``delay`` after creation moved to ``delay`` (order kept)."""
    acts = dataset.tables["activities"].copy()
    created = dataset.tables["leads"].set_index("lead_id")["created_at"]
    mine = acts["entity_type"].eq("lead") & acts["entity_id"].isin(lead_ids) & acts["direction"].eq("outbound")
    answered = acts["entity_id"].map(created) + delay
    early = mine & (acts["occurred_at"] < answered)
    shift = answered - acts["occurred_at"]
    for column in ("occurred_at", "recorded_at"):
        acts.loc[early, column] = acts.loc[early, column] + shift[early]
    return replace(dataset, tables={**dataset.tables, "activities": acts})


def test_a_lead_answered_within_the_hour_scores_higher_than_after_two_days(
    dataset: Dataset, trained: TrainResult
) -> None:
    frame = _open_leads_at(dataset, pd.Timedelta(days=7))
    acts = dataset.tables["activities"]
    created = dataset.tables["leads"].set_index("lead_id")["created_at"]
    outbound = acts[acts["entity_type"].eq("lead") & acts["direction"].eq("outbound")]
    first = outbound.groupby("entity_id")["occurred_at"].min()
    fast = first[(first - created.reindex(first.index)) <= pd.Timedelta(hours=1)].index
    frame = frame[frame["entity_id"].isin(fast)].head(400).reset_index(drop=True)
    assert len(frame) >= 100
    slow = _answered_after(dataset, pd.Index(frame["entity_id"]), pd.Timedelta(days=2))
    p_fast = trained.scorer.predict(build_features(dataset, "lead", frame))["probability"].to_numpy()
    p_slow = trained.scorer.predict(build_features(slow, "lead", frame))["probability"].to_numpy()
    assert p_fast.mean() > p_slow.mean()
    assert (p_fast > p_slow).mean() >= 0.8, (p_fast > p_slow).mean()


def _renamed(dataset: Dataset) -> tuple[Dataset, callable]:
    """Every id replaced by an unrelated string (a hash), the same everywhere it appears."""

    def new(value: object) -> object:
        return value if pd.isna(value) else "x" + hashlib.sha1(str(value).encode()).hexdigest()[:12]

    tables = {}
    for name, table in dataset.tables.items():
        table = table.copy()
        for column in [c for c in table.columns if c.endswith("_id")]:
            table[column] = table[column].map(new).astype(table[column].dtype)
        tables[name] = table
    return replace(dataset, tables=tables), new


def test_renaming_ids_changes_no_score(dataset: Dataset, trained: TrainResult) -> None:
    frame = _open_leads_at(dataset, pd.Timedelta(days=3)).tail(1000).reset_index(drop=True)
    renamed, new = _renamed(dataset)
    theirs = frame.assign(entity_id=frame["entity_id"].map(new))
    before = trained.scorer.predict(build_features(dataset, "lead", frame))
    after = trained.scorer.predict(build_features(renamed, "lead", theirs))
    np.testing.assert_allclose(after["probability"], before["probability"], rtol=0, atol=1e-12)
    assert after["grade"].tolist() == before["grade"].tolist()


def test_scores_are_reproducible_for_a_seed(small_crm: Stores, tmp_path: Path) -> None:
    """Trained again into a fresh store, the small CRM's lead model scores its test rows the same."""
    first = small_crm.trained["lead_score"]
    second = train_in_store(tmp_path / "store", "lead_score", small_crm.data, SMALL.trials)
    pd.testing.assert_frame_equal(first.test_rows, second.test_rows)


@pytest.fixture(scope="module")
def deals_trained(crm: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train_in_store(tmp_path_factory.mktemp("deal-store"), "close_probability", crm, TRIALS)


def test_close_probability_finds_the_planted_deal_drivers(crm: Path, deals_trained: TrainResult) -> None:
    planted = _planted(crm, "opportunity")
    top5 = [f["factor"] for f in deals_trained.report["global_factors"][:5]]
    assert len(planted & set(top5)) >= 3, top5
    rates = [g["conversion_rate"] for g in deals_trained.report["test"]["grades"]]
    assert rates[0] > rates[1] > rates[2]
    truth = pd.read_parquet(crm / "_truth" / "opportunities.parquet").set_index("opportunity_id")
    rows = deals_trained.test_rows
    best = roc_auc_score(rows["label"], truth.loc[rows["entity_id"], "p_win"])
    ours = roc_auc_score(rows["label"], rows["probability"])
    print(f"close_probability: salesml {ours:.4f}, oracle (knows the deal's future) {best:.4f}")
    assert ours >= best - 0.05


def test_close_probability_time_windows_are_consistent_and_skilled(
    crm: Path, deals_trained: TrainResult, tmp_path: Path
) -> None:
    windows = deals_trained.report["test"]["windows"]
    assert set(windows) == {"30d", "60d", "90d"}
    for metrics in windows.values():
        assert metrics["roc_auc"] >= 0.65 and metrics["n"] > 100, windows
    rows = deals_trained.test_rows[["entity_id", "cutoff_time"]]
    table = build_features(read_dataset(crm), "opportunity", rows)
    scored = deals_trained.scorer.predict(table)
    assert (scored["p_30d"] <= scored["p_60d"]).all() and (scored["p_60d"] <= scored["p_90d"]).all()
    assert (scored["p_90d"] <= scored["probability"]).all()
    assert scored["p_30d"].std() > 0.01  # the heads say something about timing, not a constant
    deals = read_dataset(crm).get("opportunities").set_index("opportunity_id").loc[rows["entity_id"]]
    won = deals["outcome"].eq("won").to_numpy(dtype=bool, na_value=False)
    took = (deals["closed_at"].reset_index(drop=True) - rows["cutoff_time"].reset_index(drop=True)).dt.days
    expected = scored["expected_days"].fillna(10_000)  # past the longest window: later than any within it
    rho = spearmanr(expected[won], took[won]).statistic
    print(f"expected close vs actual days to a win: Spearman {rho:.2f} over {won.sum()} won rows")
    assert rho >= 0.3
    reloaded = Scorer.load(deals_trained.scorer.save(tmp_path / "scorer"))
    pd.testing.assert_frame_equal(reloaded.predict(table), scored)
