"""The data anomaly guard (``features.crm.checks``, ``salesml data check``): what the simulator planted is found, names
and phones are normalised as CRMs type them, a check as of T sees only what was known at T, and nothing changes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.checks import (
    BLOCK_MARGIN,
    MAX_PHONE_SHARERS,
    CheckResult,
    check_dataset,
    normalize_name,
    normalize_phone,
)
from features.crm.dataset import Dataset, Manifest, conform, read_dataset
from tests.helpers import assert_one_line_error, salesml

T0 = pd.Timestamp("2025-01-01", tz="UTC")


@pytest.fixture(scope="module")
def crm(medium_data: Path) -> Path:
    """The session's medium simulated export (9,000 leads) with the duplicates, outliers and discounts it plants."""
    return medium_data


@pytest.fixture(scope="module")
def checked(crm: Path) -> CheckResult:
    return check_dataset(read_dataset(crm))


def _pairs(frame: pd.DataFrame, a: str, b: str) -> set[frozenset[str]]:
    return {frozenset(pair) for pair in frame[[a, b]].itertuples(index=False)}


@pytest.mark.parametrize(("table", "rule"), [("leads", "duplicate_lead"), ("accounts", "duplicate_account")])
def test_planted_duplicates_are_found_with_precision_and_recall_of_90_percent(
    crm: Path, checked: CheckResult, table: str, rule: str
) -> None:
    planted = pd.read_parquet(crm / "_truth" / "duplicates.parquet")
    truth = _pairs(planted[planted["table"] == table], "record_id", "original_id")
    found = _pairs(checked.findings[checked.findings["rule"] == rule], "record_id", "other_record_id")
    hits = len(truth & found)
    assert len(truth) >= 25
    assert hits / len(found) >= 0.9, (hits, len(found))
    assert hits / len(truth) >= 0.9, (hits, len(truth))


def test_duplicate_evidence_names_the_phone_the_names_and_the_reps(checked: CheckResult) -> None:
    leads = checked.findings[checked.findings["rule"] == "duplicate_lead"]
    assert (leads["observed"] >= 0.8).all() and (leads["action"] == "review").all()
    different = leads["rep_id"] != leads["other_rep_id"]
    assert different.mean() > 0.9  # the simulator re-enters leads under another rep
    assert leads.loc[different, "evidence"].str.contains("entered by different reps").all()
    assert leads["evidence"].str.contains("phone ").all()


@pytest.mark.parametrize("rule", ["outlier_amount", "discount_over_authority"])
def test_planted_deal_anomalies_are_found_and_every_finding_breaks_the_rule(
    crm: Path, checked: CheckResult, rule: str
) -> None:
    """Recall over the planted ones; precision over what truly breaks the field's rule (planted, or drawn so)."""
    truth = pd.read_parquet(crm / "_truth" / "anomalies.parquet")
    truth = truth[truth["rule"] == rule].set_index("opportunity_id")
    planted = set(truth.index[truth["kind"] == "planted"])
    found = checked.findings[checked.findings["rule"] == rule].set_index("record_id")
    assert len(planted) >= 8
    assert len(planted & set(found.index)) / len(planted) >= 0.9
    assert len(set(found.index) & set(truth.index)) / len(found) >= 0.9
    both = found.index.intersection(truth.index)
    assert (found.loc[both, "action"] == truth.loc[both, "action"]).mean() >= 0.9


def test_planted_outlier_amounts_are_found_with_precision_of_90_percent(crm: Path, checked: CheckResult) -> None:
    """The issue's figure: precision over the planted outliers alone (ordinary deals rarely break the 5x rule)."""
    truth = pd.read_parquet(crm / "_truth" / "anomalies.parquet")
    planted = set(truth.loc[(truth["rule"] == "outlier_amount") & (truth["kind"] == "planted"), "opportunity_id"])
    found = set(checked.findings.loc[checked.findings["rule"] == "outlier_amount", "record_id"])
    assert len(found) >= 8
    assert len(found & planted) / len(found) >= 0.9


def test_outlier_evidence_is_the_ratio_to_the_reps_average(checked: CheckResult) -> None:
    outliers = checked.findings[checked.findings["rule"] == "outlier_amount"]
    assert (outliers["observed"] > 5 * outliers["reference"]).all()
    assert outliers["evidence"].str.contains("x the rep's average").all()


@pytest.mark.parametrize(
    ("typed", "same_as"),
    [
        ("苏州华恒精密机械有限公司", "苏州华恒精密机械"),
        ("苏州华恒精密机械股份有限公司", "苏州华恒精密机械"),
        ("上海瑞达（中国）医疗器械有限责任公司", "上海瑞达中国医疗器械"),
        ("ＡＢＣ　Ｔｅｃｈ　Ｃｏ．，Ｌｔｄ．", "abctech"),
        ("Huaheng Precision Machinery Co., Ltd.", "huahengprecisionmachinery"),
        ("HUAHENG  PRECISION MACHINERY CO.,LTD", "huahengprecisionmachinery"),
        ("Huaheng Precision Machinery Company Limited", "huahengprecisionmachinery"),
        ("Kangrui GmbH", "kangrui"),
        ("Kangrui Inc.", "kangrui"),
    ],
)
def test_company_names_lose_width_case_punctuation_and_legal_suffixes(typed: str, same_as: str) -> None:
    assert normalize_name(typed) == same_as


def test_phones_keep_the_national_digits_however_typed() -> None:
    typed = pd.Series(
        [
            "+86 138 0013 8000",
            "0086-13800138000",
            "(+86) 138-0013-8000",
            "13800138000",
            "021-6543 2100",
            "+86 21 65432100",
        ]
    )
    assert normalize_phone(typed).tolist() == ["13800138000"] * 4 + ["2165432100"] * 2
    assert normalize_phone(pd.Series(["12345", "", None, "n/a"])).isna().all()


def _dataset(**tables: pd.DataFrame) -> Dataset:
    manifest = Manifest(source="test", exported_at=T0 + pd.Timedelta(days=400))
    return Dataset(manifest, {name: conform(name, frame) for name, frame in tables.items()})


def _deals(amounts: list[float], days: list[float], owner: str = "R1", discount: float | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "opportunity_id": [f"O{i}" for i in range(len(amounts))],
            "owner_rep_id": owner,
            "amount": amounts,
            "created_at": [T0 + pd.Timedelta(days=d) for d in days],
            "discount": discount,
        }
    )


def _flagged(ds: Dataset, rule: str, as_of: pd.Timestamp | None = None) -> list[str]:
    findings = check_dataset(ds, as_of).findings
    return sorted(findings.loc[findings["rule"] == rule, "record_id"])


def test_the_reps_average_covers_the_3_months_strictly_before_the_deal() -> None:
    # O0 is 200 days old (outside the window); O1-O3 average 100; O4 at 510 (5.1x) is held, O5 at 490 (4.9x: the
    # average now includes O4) is not; O6 lies beyond the others' windows so its thin history holds it back.
    deals = _deals([10, 100, 100, 100, 510, 490, 10_000], [0, 150, 160, 170, 200, 201, 400])
    assert _flagged(_dataset(opportunities=deals), "outlier_amount") == ["O4"]
    other_rep = _deals([100, 100, 100, 600], [150, 160, 170, 200], owner="R2")
    mixed = pd.concat([deals.iloc[:4], other_rep.assign(opportunity_id=["P1", "P2", "P3", "P4"])])
    assert _flagged(_dataset(opportunities=mixed), "outlier_amount") == ["P4"]  # per rep, not per team


def test_fewer_than_three_prior_deals_make_no_average() -> None:
    assert _flagged(_dataset(opportunities=_deals([100, 100, 5_000], [1, 2, 3])), "outlier_amount") == []


@pytest.mark.parametrize(("discount", "action"), [(0.15, None), (0.17, "review"), (0.18, "review"), (0.185, "block")])
def test_a_discount_more_than_3_points_beyond_authority_is_blocked(discount: float, action: str | None) -> None:
    reps = pd.DataFrame({"rep_id": ["R1"], "discount_authority": [0.15]})
    ds = _dataset(reps=reps, opportunities=_deals([100], [1], discount=discount))
    findings = check_dataset(ds).findings
    assert findings["action"].tolist() == ([action] if action else [])
    assert BLOCK_MARGIN == 0.03


def test_a_check_as_of_t_sees_nothing_later(crm: Path) -> None:
    """Findings as of T are the same whatever happens after T: later records rewritten wildly change nothing."""
    ds = read_dataset(crm)
    cut = ds.manifest.exported_at - pd.Timedelta(days=200)
    before = check_dataset(ds, cut).findings
    tables = dict(ds.tables)
    deals, leads = tables["opportunities"].copy(), tables["leads"].copy()
    later_deals, later_leads = deals["created_at"] > cut, leads["created_at"] > cut
    deals.loc[later_deals, "amount"] *= 1_000
    deals.loc[later_deals, "discount"] = 0.9
    leads.loc[later_leads, "phone"] = leads["phone"].iloc[0]  # every later lead shares one phone ...
    leads.loc[later_leads, "company_name"] = leads["company_name"].iloc[0]  # ... and the first lead's company
    rewritten = check_dataset(Dataset(ds.manifest, tables | {"opportunities": deals, "leads": leads}), cut).findings
    pd.testing.assert_frame_equal(before, rewritten)
    created = pd.concat([d.set_index(k)["created_at"] for d, k in ((deals, "opportunity_id"), (leads, "lead_id"))])
    involved = pd.concat([before["record_id"], before["other_record_id"].dropna()])
    assert (created.reindex(involved).dropna() <= cut).all()
    assert len(before) < len(check_dataset(ds).findings)


def test_checking_changes_nothing(crm: Path) -> None:
    ds = read_dataset(crm)
    copies = {name: frame.copy(deep=True) for name, frame in ds.tables.items()}
    check_dataset(ds)
    for name, frame in copies.items():
        pd.testing.assert_frame_equal(ds.tables[name], frame)


def test_missing_columns_skip_their_rule_with_a_note() -> None:
    ds = _dataset(
        leads=pd.DataFrame({"lead_id": ["L1"], "created_at": [T0]}),
        opportunities=_deals([100], [1]).drop(columns="discount"),
    )
    result = check_dataset(ds)
    assert result.findings.empty
    assert any("leads.phone" in n for n in result.notes)
    assert any("opportunities.discount" in n for n in result.notes)


def test_a_switchboard_number_on_many_records_is_not_a_duplicate() -> None:
    n = MAX_PHONE_SHARERS + 5
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i}" for i in range(n)],
            "created_at": [T0 + pd.Timedelta(hours=i) for i in range(n)],
            "company_name": "Huaheng Co., Ltd.",
            "phone": "400-800-8888",
        }
    )
    result = check_dataset(_dataset(leads=leads))
    assert result.findings.empty
    assert any("not matched" in n for n in result.notes)


def test_names_without_phones_and_a_phone_with_unlike_names_are_not_duplicates() -> None:
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3", "L4"],
            "created_at": [T0, T0 + pd.Timedelta(days=1), T0, T0 + pd.Timedelta(days=1)],
            "company_name": ["Huaheng Medical", "Huaheng Medical", "Kangrui Energy", "Tairui Logistics"],
            "phone": ["13800000001", "13800000002", "13900000009", "+86 139 0000 0009"],
            "owner_rep_id": ["R1", "R2", "R1", "R2"],
        }
    )
    assert check_dataset(_dataset(leads=leads)).findings.empty


def test_the_cli_writes_the_findings_and_leaves_the_data_alone(crm: Path, tmp_path: Path) -> None:
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(crm.glob("*.parquet"))}
    out = tmp_path / "findings.csv"
    done = salesml("data", "check", "--data", crm, "--out", out, "--similarity", "0.85")
    assert done.returncode == 0, done.stderr
    findings = pd.read_csv(out)
    assert set(findings["rule"]) == {"duplicate_lead", "duplicate_account", "outlier_amount", "discount_over_authority"}
    assert (findings.loc[findings["rule"] == "duplicate_lead", "observed"] >= 0.85).all()
    assert "duplicate_lead" in done.stdout and "nothing was changed" in done.stdout
    assert digest == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(crm.glob("*.parquet"))}
    assert np.isfinite(findings["reference"]).all()


def test_the_cli_refuses_an_as_of_after_the_export_in_one_line(crm: Path) -> None:
    assert_one_line_error(salesml("data", "check", "--data", crm, "--as-of", "2099-01-01"), "after the export")
    assert_one_line_error(salesml("data", "check", "--data", crm, "--as-of", "yesterday"), "not a time")
