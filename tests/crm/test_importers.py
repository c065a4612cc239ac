"""The x-education and maven-crm adapters on the real public files (skipped when ../shared/data is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset
from features.crm.importers import import_dataset
from features.errors import DataError
from tests.conftest import shared_path

shared = pytest.mark.shared

EXPORTED = "2020-06-30T00:00:00Z"
LEAKY = {
    "tags",
    "lead_quality",
    "lead_profile",
    "asymmetrique_activity_index",
    "asymmetrique_profile_index",
    "asymmetrique_activity_score",
    "asymmetrique_profile_score",
}


def import_xeducation(src: Path, out: Path, **kwargs: object):
    return import_dataset("x-education", src, out, mapping=None, **({"exported_at": EXPORTED} | kwargs))


@pytest.fixture(scope="module")
def xeducation(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """Imported once per module (conftest's path fixtures are per test)."""
    out = tmp_path_factory.mktemp("xeducation")
    import_xeducation(shared_path("x-education-leads", "Leads.csv"), out)
    return read_dataset(out)


@pytest.fixture(scope="module")
def maven(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("maven")
    import_dataset("maven-crm", shared_path("maven-crm-sales-opportunities"), out, mapping=None)
    return read_dataset(out)


@shared
def test_xeducation_imports_every_lead_as_a_snapshot(xeducation: Dataset) -> None:
    leads = xeducation.tables["leads"]
    exported = pd.Timestamp(EXPORTED)
    assert len(leads) == 9240
    assert leads["lead_id"].is_unique
    assert xeducation.manifest.quarantined == {"leads": 0}
    assert xeducation.manifest.has_event_times is False
    assert (leads["created_at"] == exported).all()
    assert (leads["converted_at"].notna() ^ leads["disqualified_at"].notna()).all()
    assert leads.loc[leads["converted_at"].notna(), "converted_at"].eq(exported).all()
    assert leads["converted_at"].notna().mean() == pytest.approx(0.385, abs=0.001)


@shared
def test_xeducation_maps_columns_and_declares_extra_kinds(xeducation: Dataset) -> None:
    leads, manifest = xeducation.tables["leads"], xeducation.manifest
    kinds = {e.name: e.kind for e in manifest.extras("leads")}
    displays = {e.name: e.display for e in manifest.extras("leads")}
    assert leads["source"].value_counts()["Google"] == 2868
    assert leads["region"].value_counts()["India"] == 6492
    assert kinds["total_visits"] == "numeric" and displays["total_visits"] == "TotalVisits"
    assert kinds["total_time_spent_on_website"] == "numeric"
    assert kinds["do_not_email"] == "boolean" and leads["do_not_email"].sum() == 734
    assert kinds["lead_origin"] == "categorical"
    assert leads["total_visits"].isna().sum() == 137
    assert "lead_number" not in leads.columns and "converted" not in leads.columns
    assert any("Lead Number" in note for note in manifest.notes)
    assert any("Last Activity" in note and "suspect" in note for note in manifest.notes)


@shared
def test_xeducation_select_placeholder_is_missing(xeducation: Dataset) -> None:
    leads = xeducation.tables["leads"]
    assert leads["specialization"].isna().sum() == 1942 + 1438
    assert leads["city"].isna().sum() == 2249 + 1420
    text = leads.select_dtypes(include="string")
    assert not text.isin(["Select"]).any().any()


@shared
def test_xeducation_leaky_columns_excluded_but_named(xeducation: Dataset) -> None:
    assert set(xeducation.manifest.excluded_columns["leads"]) == LEAKY
    assert not LEAKY & set(xeducation.tables["leads"].columns)


@shared
def test_xeducation_keep_post_outcome_imports_them_still_marked(tmp_path: Path, xeducation_csv: Path) -> None:
    result = import_xeducation(xeducation_csv, tmp_path, keep_post_outcome=True)
    ds = read_dataset(tmp_path)
    assert set(ds.tables["leads"].columns) >= LEAKY
    assert set(result.manifest.excluded_columns["leads"]) == LEAKY
    assert ds.tables["leads"]["tags"].value_counts()["Ringing"] == 1203
    assert ds.tables["leads"]["lead_profile"].isna().sum() == 4146 + 2709


@shared
def test_xeducation_without_converted_gives_unlabelled_leads(tmp_path: Path, xeducation_csv: Path) -> None:
    src = tmp_path / "new_leads.csv"
    pd.read_csv(xeducation_csv, dtype=str, keep_default_na=False).drop(columns="Converted").to_csv(src, index=False)
    import_xeducation(src, tmp_path / "out")
    leads = read_dataset(tmp_path / "out").tables["leads"]
    assert len(leads) == 9240
    assert leads["converted_at"].isna().all() and leads["disqualified_at"].isna().all()


@shared
def test_xeducation_bad_converted_value_is_quarantined(tmp_path: Path, xeducation_csv: Path) -> None:
    src = tmp_path / "leads.csv"
    raw = pd.read_csv(xeducation_csv, dtype=str, keep_default_na=False).head(5)
    raw.loc[2, "Converted"] = "maybe"
    raw.to_csv(src, index=False)
    result = import_xeducation(src, tmp_path / "out")
    quarantine = pd.read_csv(tmp_path / "out" / "quarantine" / "leads.csv", encoding="utf-8-sig", dtype=str)
    assert result.manifest.counts == {"leads": 4}
    assert quarantine["reason"].tolist() == ["Converted is neither 0 nor 1"]
    assert quarantine.columns[:2].tolist() == ["Prospect ID", "Lead Number"]


@shared
def test_xeducation_default_export_time_is_the_file_mtime(tmp_path: Path, xeducation_csv: Path) -> None:
    src = tmp_path / "Leads.csv"
    src.write_bytes(xeducation_csv.read_bytes()[:5000].rsplit(b"\r\n", 1)[0] + b"\r\n")
    os.utime(src, (1_700_000_000, 1_700_000_000))
    result = import_dataset("x-education", src, tmp_path / "out", mapping=None)
    assert result.manifest.exported_at == pd.Timestamp(1_700_000_000, unit="s", tz="UTC")
    assert any("modification time" in note for note in result.manifest.notes)


@shared
def test_maven_imports_every_deal(maven: Dataset) -> None:
    opps = maven.tables["opportunities"]
    assert len(opps) == 8800
    assert maven.manifest.quarantined == {"reps": 0, "accounts": 0, "opportunities": 0, "stage_changes": 0}
    assert opps["outcome"].value_counts().to_dict() == {"won": 4238, "lost": 2473}
    assert opps["outcome"].isna().sum() == 2089
    assert (opps["currency"] == "USD").all()


@shared
def test_maven_products_resolve_to_the_price_list(maven: Dataset, maven_dir: Path) -> None:
    products = pd.read_csv(maven_dir / "products.csv")
    opps = maven.tables["opportunities"]
    assert set(opps["product"]) <= set(products["product"])
    assert (opps["product"] == "GTX Pro").sum() == 1480
    price = opps["product"].map(products.set_index("product")["sales_price"])
    assert (opps["amount"] == price).all()


@shared
def test_maven_close_value_is_an_excluded_extra(maven: Dataset) -> None:
    opps = maven.tables["opportunities"]
    assert maven.manifest.excluded_columns == {"opportunities": ["close_value"]}
    assert [(e.name, e.kind) for e in maven.manifest.extras("opportunities")] == [("close_value", "numeric")]
    assert (opps.loc[opps["outcome"] == "lost", "close_value"] == 0).all()


@shared
def test_maven_times_stages_and_export(maven: Dataset) -> None:
    opps, changes, manifest = maven.tables["opportunities"], maven.tables["stage_changes"], maven.manifest
    exported = pd.Timestamp("2018-01-01", tz="UTC")
    assert manifest.exported_at == exported
    assert manifest.stage_names() == ["prospecting", "engaging"]
    assert changes["stage"].value_counts().to_dict() == {"engaging": 8300, "prospecting": 500}
    prospecting = changes.loc[changes["stage"] == "prospecting", "opportunity_id"]
    assert (opps.set_index("opportunity_id").loc[prospecting, "created_at"] == exported).all()
    first = opps.set_index("opportunity_id").loc["1C1I7A6R"]
    assert first["created_at"] == pd.Timestamp("2016-10-20", tz="UTC")
    assert first["closed_at"] == pd.Timestamp("2017-03-01", tz="UTC")
    assert any("account" in note and "1,425 open deals" in note for note in manifest.notes)
    assert any("Prospecting" in note for note in manifest.notes)


@shared
def test_maven_reps_and_accounts(maven: Dataset) -> None:
    reps, accounts, opps = maven.tables["reps"], maven.tables["accounts"], maven.tables["opportunities"]
    assert len(reps) == 35 and len(accounts) == 85
    assert reps.set_index("rep_id").loc["moses-frase", "team"] == "Dustin Brinkmann"
    acme = accounts.set_index("account_id").loc["acme-corporation"]
    assert acme["industry"] == "technology"
    assert acme["annual_revenue"] == pytest.approx(1_100_040_000)
    assert "technolgy" not in set(accounts["industry"])
    assert set(opps["owner_rep_id"]) <= set(reps["rep_id"])
    assert opps["account_id"].isna().sum() == 1425


@pytest.mark.parametrize(
    ("adapter", "kwargs", "message"),
    [
        ("salesforce", {}, "unknown adapter 'salesforce' (use one of: x-education, maven-crm, csv)"),
        ("csv", {}, "--adapter csv needs --mapping"),
        ("maven-crm", {"mapping": Path("m.yaml")}, "--mapping is only used with --adapter csv"),
        ("x-education", {"exported_at": "someday"}, "--exported-at 'someday' is not an ISO 8601 time"),
    ],
)
def test_import_errors_are_one_line(tmp_path: Path, adapter: str, kwargs: dict, message: str) -> None:
    with pytest.raises(DataError) as err:
        import_dataset(adapter, tmp_path, tmp_path / "out", **({"mapping": None} | kwargs))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_source_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        import_dataset("maven-crm", tmp_path / "nowhere", tmp_path / "out", mapping=None)
