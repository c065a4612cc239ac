"""A drifting simulation (``synthesize(..., drift=DATE)``): the lead-source mix and the planted effects change after
the date and not before, the truth records it, and without a drift the simulator writes what it always wrote."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from features.synth import synthesize
from features.synth.drift import TRUTH_FILE
from features.synth.output import TRUTH_DIR
from tests.helpers import assert_one_line_error, salesml

LEADS = 3_000
SEED = 4
DRIFT_DATE = "2025-01-01"
#: Content of the four streamed tables of ``synthesize(leads=500, seed=3)`` before drift existed: the default
#: simulation must stay exactly as it was (pandas' row hashes, so the Parquet writer's version does not matter).
DEFAULT_FINGERPRINT = "a992813e3e5ad415322f05fa54748ecd094918c5497e3bc599309b07405a348f"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("drift")
    synthesize(root / "steady", leads=LEADS, seed=SEED)
    synthesize(root / "drifting", leads=LEADS, seed=SEED, drift=DRIFT_DATE)
    return {"steady": root / "steady", "drifting": root / "drifting"}


def _leads(out: Path) -> pd.DataFrame:
    """Leads with their true probability, and whether they were created after the drift date."""
    leads = pd.read_parquet(out / "leads.parquet")
    truth = pd.read_parquet(out / TRUTH_DIR / "leads.parquet", columns=["lead_id", "p_convert"])
    frame = leads.astype({"lead_id": str}).merge(truth.astype({"lead_id": str}), on="lead_id", validate="one_to_one")
    return frame.assign(after=frame["created_at"] >= pd.Timestamp(DRIFT_DATE, tz="UTC"))


def _fingerprint(out: Path) -> str:
    digest = hashlib.sha256()
    for table in ("leads", "opportunities", "activities", "stage_changes"):
        rows = pd.util.hash_pandas_object(pd.read_parquet(out / f"{table}.parquet"), index=False)
        digest.update(rows.to_numpy().tobytes())
    return digest.hexdigest()


def test_without_drift_the_simulation_is_exactly_what_it_was(tmp_path: Path) -> None:
    synthesize(tmp_path / "default", leads=500, seed=3)
    synthesize(tmp_path / "off", leads=500, seed=3, drift=None, drift_strength=0.5)
    assert _fingerprint(tmp_path / "default") == DEFAULT_FINGERPRINT
    assert _fingerprint(tmp_path / "off") == DEFAULT_FINGERPRINT
    assert not (tmp_path / "default" / TRUTH_DIR / TRUTH_FILE).exists()


def test_the_source_mix_shifts_after_the_date_and_not_before(runs: dict[str, Path]) -> None:
    steady, drifting = _leads(runs["steady"]), _leads(runs["drifting"])
    before = drifting[~drifting["after"]]
    assert before["source"].tolist() == steady.loc[~steady["after"], "source"].tolist()
    share = {
        name: frame.loc[frame["after"], "source"].value_counts(normalize=True)
        for name, frame in (("steady", steady), ("drifting", drifting))
    }
    assert share["steady"]["ads"] < 0.25 < 0.4 < share["drifting"]["ads"]
    assert share["drifting"]["referral"] < 0.04 < share["steady"]["referral"]


def test_planted_effects_flip_after_the_date(runs: dict[str, Path]) -> None:
    """Ads leads overtake web-form leads, referrals lose their edge, small companies overtake large ones, and
    conversion overall stays level (true probabilities: no outcome noise)."""
    drifting = _leads(runs["drifting"])
    p = drifting.groupby(["after", "source"], observed=True)["p_convert"].mean()
    assert p[(False, "ads")] < p[(False, "web_form")] and p[(True, "ads")] > p[(True, "web_form")]
    assert p[(True, "referral")] < p[(False, "referral")] - 0.05
    size = drifting.groupby(["after", "company_size"], observed=True)["p_convert"].mean()
    assert size[(False, "1000+")] > size[(False, "1-49")] and size[(True, "1000+")] < size[(True, "1-49")]
    conversion = drifting.groupby("after")["p_convert"].mean()
    assert abs(conversion[True] - conversion[False]) < 0.03  # the mix and the relations change, not the level


def test_truth_records_the_date_the_shift_and_the_changed_drivers(runs: dict[str, Path]) -> None:
    truth = json.loads((runs["drifting"] / TRUTH_DIR / TRUTH_FILE).read_text(encoding="utf-8"))
    assert truth["date"].startswith(DRIFT_DATE) and truth["strength"] == 1.0
    assert truth["shifted_features"] == ["source"]
    assert truth["source_share"]["after"]["ads"] > 2 * truth["source_share"]["before"]["ads"]
    engagement = truth["effects_log_odds"]["web_engagement"]
    assert engagement["before"] > 0 > engagement["after"]
    assert set(truth["changed_drivers"]) >= {"source", "web_engagement"}


@pytest.mark.slow  # salesml processes, one per mistake
def test_cli_rejects_a_bad_or_outside_drift_date_and_a_strength_without_one(tmp_path: Path) -> None:
    for date, fragment in (("soon", "--drift must be a date"), ("2030-01-01", "must fall between")):
        proc = salesml("data", "synth", "--out", tmp_path / "x", "--leads", 100, "--drift", date)
        assert_one_line_error(proc, fragment)
    proc = salesml("data", "synth", "--out", tmp_path / "x", "--leads", 100, "--drift-strength", 0.5)
    assert_one_line_error(proc, "--drift-strength needs --drift")
    assert not (tmp_path / "x").exists()
