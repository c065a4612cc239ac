"""Leads-only exports shaped like two real ones (``features.synth.shapes``): what those exports showed, in a dataset
every command accepts, and no outcome shown before it happens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.crm.cli import data_app
from features.crm.dataset import Dataset, read_dataset
from features.synth.output import TRUTH_DIR
from features.synth.shapes import INDICATORS, synthesize_shape
from tests.helpers import salesml

GROWING_LEADS = 8_000  # the real export's size: enough conversions with their whole window seen for the quantiles
REGIME_LEADS = 12_000
SEED = 5
WINDOW_DAYS = {"growing": 160, "regime": 30}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shapes")
    for shape, leads in (("growing", GROWING_LEADS), ("regime", REGIME_LEADS)):
        synthesize_shape(root / shape, shape, leads=leads, seed=SEED)
    return {shape: root / shape for shape in WINDOW_DAYS}


@pytest.fixture(scope="module")
def growing(exports: dict[str, Path]) -> Dataset:
    return read_dataset(exports["growing"])


@pytest.fixture(scope="module")
def regime(exports: dict[str, Path]) -> Dataset:
    return read_dataset(exports["regime"])


def _months(leads: pd.DataFrame) -> pd.Series:
    return leads["created_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M")


def _delays(leads: pd.DataFrame) -> pd.Series:
    """Days from creation to conversion, of the leads shown converted."""
    return (leads["converted_at"] - leads["created_at"]).dt.total_seconds().dropna() / 86_400


@pytest.mark.parametrize("shape", list(WINDOW_DAYS))
def test_an_export_holds_the_leads_table_alone(exports: dict[str, Path], shape: str) -> None:
    out = exports[shape]
    assert {p.name for p in out.iterdir()} == {"leads.parquet", "manifest.yaml", TRUTH_DIR}
    ds = read_dataset(out)
    assert set(ds.tables) == {"leads"}
    leads = ds.get("leads")
    assert len(leads) == (GROWING_LEADS if shape == "growing" else REGIME_LEADS)
    assert leads["lead_id"].is_unique
    assert not {"owner_rep_id", "account_id", "preferred_rep_id", "company_name", "phone"} & set(leads.columns)
    assert ds.manifest.has_event_times
    assert ds.manifest.counts == {"leads": len(leads)}
    declared = [extra.name for extra in ds.manifest.extras("leads")]
    assert declared and set(declared) <= set(leads.columns)


@pytest.mark.parametrize("shape", list(WINDOW_DAYS))
def test_no_outcome_shows_before_it_happens_or_after_the_export(exports: dict[str, Path], shape: str) -> None:
    ds = read_dataset(exports[shape])
    leads, exported = ds.get("leads"), ds.manifest.exported_at
    window = pd.Timedelta(days=WINDOW_DAYS[shape])
    converted, disqualified = leads["converted_at"].notna(), leads["disqualified_at"].notna()
    for column in ("converted_at", "disqualified_at"):
        assert (leads[column].dropna() <= exported).all()
        assert (leads[column].dropna() >= leads["created_at"][leads[column].notna()]).all()
    assert not (converted & disqualified).any()
    # a lead not converted within the window is disqualified when it closes, not earlier (that would tell)
    lost = leads[disqualified]
    assert ((lost["disqualified_at"] - lost["created_at"]) == window).all()
    assert (leads["created_at"] <= exported - window).all()  # exported once every lead's window closed ...
    assert (converted | disqualified).all()  # ... so every outcome is known, as in the real exports
    assert ((leads["converted_at"] - leads["created_at"])[converted] <= window).all()


@pytest.mark.parametrize("shape", list(WINDOW_DAYS))
def test_validate_accepts_the_export(exports: dict[str, Path], shape: str) -> None:
    proc = salesml("data", "validate", exports[shape])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "leads" in proc.stdout


def test_growing_volume_grows_threefold_over_twelve_months(growing: Dataset) -> None:
    volume = _months(growing.get("leads")).value_counts().sort_index()
    assert len(volume) == 12
    assert volume.iloc[-1] >= 2 * volume.iloc[0]
    assert (volume.diff().dropna() > 0).all()


def test_growing_conversions_come_months_after_creation(growing: Dataset) -> None:
    leads, exported = growing.get("leads"), growing.manifest.exported_at
    complete = leads[leads["created_at"] <= exported - pd.Timedelta(days=WINDOW_DAYS["growing"])]
    delays = _delays(complete)
    assert len(delays) >= 200
    assert 35 <= delays.quantile(0.5) <= 65  # months, not the days a full CRM shows
    assert 110 <= delays.quantile(0.9) <= 140
    assert 0.07 <= complete["converted_at"].notna().mean() <= 0.13  # about 10% convert within the window


def test_growing_landing_page_has_hundreds_of_zipf_like_values(growing: Dataset) -> None:
    pages = growing.get("leads")["landing_page"]
    counts = pages.value_counts()
    assert pages.notna().all()
    assert len(counts) >= 200
    assert counts.iloc[0] >= 20 * counts.median()


def test_regime_new_channel_takes_over_after_the_change(regime: Dataset) -> None:
    leads = regime.get("leads")
    changed = leads["created_at"] >= pd.Timestamp("2025-01-01", tz="UTC")  # 60% through the 30 months
    cellular = leads["contact_channel"] == "cellular"
    assert 0.3 <= changed.mean() <= 0.5
    assert cellular[changed].mean() >= 0.6
    assert cellular[~changed].mean() <= 0.06
    assert set(leads["contact_channel"].unique()) == {"telephone", "cellular"}


def test_regime_conversion_rises_in_the_latest_quarter(regime: Dataset) -> None:
    leads = regime.get("leads")
    months = _months(leads)
    assert months.nunique() == 30
    late = months >= months.max() - 2
    converted = leads["converted_at"].notna()
    assert 0.04 <= converted[~late].mean() <= 0.08
    assert converted[late].mean() >= 3 * converted[~late].mean()


def test_regime_has_monthly_indicators_and_some_fifteen_attributes(regime: Dataset) -> None:
    leads = regime.get("leads")
    months = _months(leads)
    for name in INDICATORS:
        per_month = leads.groupby(months)[name].nunique()
        assert (per_month == 1).all(), name
        assert leads[name].nunique() > 10, name
    attributes = set(leads.columns) - {"lead_id", "created_at", "converted_at", "disqualified_at"}
    assert 15 <= len(attributes) <= 17
    assert {"age", "job", "contact_channel", "previous_outcome"} <= attributes
    assert leads["age"].between(18, 90).all()


def test_same_seed_gives_the_same_export_and_other_seeds_differ(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        synthesize_shape(tmp_path / name, "regime", leads=1_000, seed=seed)
    a, b, c = ((tmp_path / name / "leads.parquet").read_bytes() for name in "abc")
    assert a == b
    assert a != c


def test_cli_writes_a_shape_and_refuses_what_does_not_apply(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(data_app, ["synth", "--out", str(out), "--shape", "growing", "--leads", "1000"])
    assert result.exit_code == 0, result.output
    leads = read_dataset(out).get("leads")
    assert len(leads) == 1_000
    assert np.isin(["landing_page", "source"], leads.columns).all()
    refused = runner.invoke(data_app, ["synth", "--out", str(out), "--shape", "growing", "--start", "2024-01-01"])
    assert refused.exit_code == 2
    unknown = runner.invoke(data_app, ["synth", "--out", str(out), "--shape", "flat"])
    assert unknown.exit_code == 2
