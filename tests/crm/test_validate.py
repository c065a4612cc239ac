"""Each validation rule on tiny tables: the bad row is quarantined with its reason, the rest is kept."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import Dataset, Manifest, conform, write_dataset
from features.crm.schema import ExtraColumn, Stage
from features.crm.validate import REASON, RULE, validate_directory, validate_tables
from features.errors import DataError

EXPORTED = "2024-06-30T00:00:00Z"


def manifest(**kwargs: object) -> Manifest:
    return Manifest(source="test", exported_at=pd.Timestamp(EXPORTED), **kwargs)


def frame(**columns: list[object]) -> pd.DataFrame:
    """A raw table: every value as text, the way a CSV is read."""
    return pd.DataFrame(columns, dtype="str")


def leads(**overrides: list[object]) -> pd.DataFrame:
    base = {"lead_id": ["L1", "L2", "L3"], "created_at": ["2024-01-01", "2024-01-02", "2024-01-03"]}
    return frame(**(base | overrides))


def run(tables: dict[str, pd.DataFrame], m: Manifest | None = None, **kwargs: object):
    return validate_tables(tables, m or manifest(), **kwargs)


def reasons(quarantine: dict[str, pd.DataFrame], table: str) -> list[str]:
    return quarantine[table][REASON].tolist() if table in quarantine else []


def test_required_value_empty_is_quarantined() -> None:
    ds, q = run({"leads": leads(lead_id=["L1", "  ", "L3"])})
    assert ds.tables["leads"]["lead_id"].tolist() == ["L1", "L3"]
    assert reasons(q, "leads") == ["required lead_id is empty"]
    assert ds.manifest.quarantined == {"leads": 1}


def test_unparseable_time_names_the_raw_value() -> None:
    ds, q = run({"leads": leads(created_at=["2024-01-01", "2024-13-45", "yesterday"])})
    assert ds.tables["leads"]["lead_id"].tolist() == ["L1"]
    assert reasons(q, "leads") == [
        "unparseable time in created_at: '2024-13-45'",
        "unparseable time in created_at: 'yesterday'",
    ]
    assert ds.tables["leads"]["created_at"].dtype == "datetime64[ns, UTC]"


def test_unparseable_number_and_empty_number() -> None:
    opps = frame(opportunity_id=["O1", "O2", "O3"], created_at=["2024-01-01"] * 3, amount=["1200.5", "", "12k"])
    ds, q = run({"opportunities": opps})
    assert ds.tables["opportunities"]["amount"].tolist()[0] == 1200.5
    assert pd.isna(ds.tables["opportunities"]["amount"].tolist()[1])
    assert reasons(q, "opportunities") == ["unparseable number in amount: '12k'"]


def test_extra_columns_are_parsed_by_their_declared_kind() -> None:
    m = manifest(extra_columns={"leads": [ExtraColumn("visits", "numeric"), ExtraColumn("opted_in", "boolean")]})
    raw = leads(visits=["3", "x", "5"], opted_in=["Yes", "no", "maybe"])
    ds, q = run({"leads": raw}, m)
    kept = ds.tables["leads"]
    assert kept["visits"].tolist() == [3.0]
    assert kept["opted_in"].tolist() == [True]
    assert reasons(q, "leads") == ["unparseable number in visits: 'x'", "unparseable yes/no value in opted_in: 'maybe'"]


def test_closed_vocabulary_after_normalising_case_and_spaces() -> None:
    opps = frame(
        opportunity_id=["O1", "O2", "O3", "O4"], created_at=["2024-01-01"] * 4, outcome=[" Won", "LOST", "", "maybe"]
    )
    ds, q = run({"opportunities": opps})
    assert ds.tables["opportunities"]["outcome"].tolist()[:2] == ["won", "lost"]
    assert pd.isna(ds.tables["opportunities"]["outcome"].tolist()[2])
    assert reasons(q, "opportunities") == ["outcome not one of won, lost: 'maybe'"]


def test_activity_columns_are_lowercased_before_checks() -> None:
    acts = frame(
        activity_id=["A1", "A2"],
        entity_type=["Lead ", "LEAD"],
        entity_id=["L1", "L2"],
        occurred_at=["2024-02-01", "2024-02-01"],
        type=[" Call", "VISIT"],
        direction=["Outbound", "sideways"],
        contact_role=["CEO", "cto"],
    )
    ds, q = run({"activities": acts})
    kept = ds.tables["activities"]
    assert kept[["entity_type", "type", "direction", "contact_role"]].iloc[0].tolist() == [
        "lead",
        "call",
        "outbound",
        "ceo",
    ]
    assert reasons(q, "activities") == ["direction not one of inbound, outbound: 'sideways'"]


def test_duplicate_key_keeps_the_first_row() -> None:
    raw = leads(lead_id=["L1", "L1", "L2"], created_at=["2024-01-01", "2024-01-05", "2024-01-02"])
    ds, q = run({"leads": raw})
    kept = ds.tables["leads"]
    assert kept["lead_id"].tolist() == ["L1", "L2"]
    assert kept["created_at"].iloc[0] == pd.Timestamp("2024-01-01", tz="UTC")
    assert reasons(q, "leads") == ["duplicate lead_id (the first row is kept): 'L1'"]


def test_duplicate_composite_key_compares_parsed_times() -> None:
    changes = frame(
        opportunity_id=["O1", "O1", "O1"],
        stage=["lead", "lead", "demo"],
        changed_at=["2024-01-01T08:00:00+08:00", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"],
    )
    ds, q = run({"stage_changes": changes})
    assert len(ds.tables["stage_changes"]) == 2
    assert reasons(q, "stage_changes") == [
        "duplicate opportunity_id / stage / changed_at (the first row is kept): 'O1' / 'lead' / '2024-01-01T00:00:00Z'"
    ]


def test_dangling_reference_is_quarantined() -> None:
    reps = frame(rep_id=["r1"])
    ds, q = run({"reps": reps, "leads": leads(owner_rep_id=["r1", "r9", ""])})
    assert ds.tables["leads"]["lead_id"].tolist() == ["L1", "L3"]
    assert reasons(q, "leads") == ["owner_rep_id not found in reps: 'r9'"]


def test_references_are_not_checked_when_the_table_is_absent() -> None:
    ds, q = run({"leads": leads(owner_rep_id=["r1", "r9", "r7"])})
    assert len(ds.tables["leads"]) == 3
    assert q == {}


def test_reference_to_a_quarantined_row_cascades() -> None:
    raw_leads = leads(created_at=["2024-01-01", "not a date", "2024-01-03"])
    opps = frame(opportunity_id=["O1", "O2"], lead_id=["L1", "L2"], created_at=["2024-02-01", "2024-02-01"])
    changes = frame(opportunity_id=["O1", "O2"], stage=["lead", "lead"], changed_at=["2024-02-01", "2024-02-01"])
    ds, q = run({"leads": raw_leads, "opportunities": opps, "stage_changes": changes})
    assert reasons(q, "opportunities") == ["lead_id refers to a quarantined leads row: 'L2'"]
    assert reasons(q, "stage_changes") == ["opportunity_id refers to a quarantined opportunities row: 'O2'"]
    assert ds.tables["stage_changes"]["opportunity_id"].tolist() == ["O1"]


def test_polymorphic_activity_references() -> None:
    opps = frame(opportunity_id=["O1"], created_at=["2024-01-01"])
    acts = frame(
        activity_id=["A1", "A2", "A3", "A4"],
        entity_type=["lead", "opportunity", "opportunity", "lead"],
        entity_id=["L1", "O1", "O2", "O1"],
        occurred_at=["2024-02-01"] * 4,
        type=["call"] * 4,
    )
    ds, q = run({"leads": leads(), "opportunities": opps, "activities": acts})
    assert ds.tables["activities"]["activity_id"].tolist() == ["A1", "A2"]
    assert reasons(q, "activities") == [
        "entity_id not found in opportunities: 'O2'",
        "entity_id not found in leads: 'O1'",
    ]


def test_times_after_the_export_are_quarantined_but_plans_may_be_future() -> None:
    opps = frame(
        opportunity_id=["O1", "O2"],
        created_at=["2024-06-01", "2024-07-01"],
        expected_close_at=["2024-12-31", "2024-12-31"],
    )
    ds, q = run({"opportunities": opps})
    assert ds.tables["opportunities"]["opportunity_id"].tolist() == ["O1"]
    assert reasons(q, "opportunities") == ["created_at after the export time 2024-06-30 00:00 UTC: '2024-07-01'"]


def test_time_order_within_a_row() -> None:
    opps = frame(
        opportunity_id=["O1", "O2"],
        created_at=["2024-03-01", "2024-03-01"],
        closed_at=["2024-04-01", "2024-02-01"],
    )
    ds, q = run({"opportunities": opps})
    assert ds.tables["opportunities"]["opportunity_id"].tolist() == ["O1"]
    assert reasons(q, "opportunities") == ["closed_at before created_at: '2024-02-01' / '2024-03-01'"]


def test_stage_not_in_the_manifest_order() -> None:
    changes = frame(opportunity_id=["O1", "O1"], stage=["lead", "negotiation"], changed_at=["2024-01-01", "2024-01-02"])
    m = manifest(stages=[Stage("lead", "线索", "Lead"), Stage("won", "赢单", "Won")])
    _, q = run({"stage_changes": changes}, m)
    assert reasons(q, "stage_changes") == ["stage not in the stage order (lead > won): 'negotiation'"]


def test_source_timezone_and_format_give_utc() -> None:
    raw = leads(created_at=["2024年03月05日 14:30", "2024年03月05日 23:59", "2024年03月06日 00:10"])
    m = manifest(timezone="Asia/Shanghai")
    ds, q = run({"leads": raw}, m, time_formats={"leads": {"created_at": "%Y年%m月%d日 %H:%M"}})
    assert q == {}
    assert ds.tables["leads"]["created_at"].tolist() == [
        pd.Timestamp("2024-03-05 06:30", tz="UTC"),
        pd.Timestamp("2024-03-05 15:59", tz="UTC"),
        pd.Timestamp("2024-03-05 16:10", tz="UTC"),
    ]


def test_times_with_their_own_offset_ignore_the_source_timezone() -> None:
    raw = leads(created_at=["2024-03-05T14:30:00+08:00", "2024-03-05T06:30:00Z", "2024-03-05 14:30"])
    ds, _ = run({"leads": raw}, manifest(timezone="Asia/Shanghai"))
    assert set(ds.tables["leads"]["created_at"]) == {pd.Timestamp("2024-03-05 06:30", tz="UTC")}


def test_missing_required_column_stops_the_import() -> None:
    with pytest.raises(DataError, match="leads table: required column 'created_at' is missing"):
        run({"leads": frame(lead_id=["L1"])})


def test_missing_export_time_defaults_to_the_latest_event() -> None:
    m = Manifest(source="test", exported_at=pd.NaT)
    opps = frame(opportunity_id=["O1"], created_at=["2024-03-01"], expected_close_at=["2030-01-01"])
    ds, q = run({"leads": leads(), "opportunities": opps}, m)
    assert ds.manifest.exported_at == pd.Timestamp("2024-03-01", tz="UTC")
    assert q == {}


def test_every_broken_rule_is_in_the_reason_and_the_first_is_the_rule() -> None:
    opps = frame(opportunity_id=["O1"], created_at=["2024-03-01"], closed_at=["2024-02-01"], outcome=["maybe"])
    _, q = run({"opportunities": opps})
    row = q["opportunities"].iloc[0]
    assert (
        row[REASON] == "outcome not one of won, lost: 'maybe'; closed_at before created_at: '2024-02-01' / '2024-03-01'"
    )
    assert row[RULE] == "outcome not one of won, lost"


def test_quarantine_shows_the_original_source_columns() -> None:
    original = pd.DataFrame({"线索编号": ["L1", "L2"], "创建时间": ["2024-01-01", "bad"], "reason": ["a", "b"]})
    raw = frame(lead_id=["L1", "L2"], created_at=["2024-01-01", "bad"])
    _, q = run({"leads": raw}, originals={"leads": original})
    assert q["leads"].columns.tolist() == ["线索编号", "创建时间", "reason (source)", REASON, RULE]
    assert q["leads"]["线索编号"].tolist() == ["L2"]


def dirty_dataset(path: Path) -> None:
    """A dataset written without validation: one dangling owner and one deal closed before it was created."""
    m = manifest()
    reps = conform("reps", frame(rep_id=["r1"]))
    opps = frame(
        opportunity_id=["O1", "O2", "O3"],
        owner_rep_id=["r1", "r2", "r1"],
        created_at=["2024-03-01"] * 3,
        closed_at=["2024-04-01", "2024-04-01", "2024-02-01"],
    )
    write_dataset(Dataset(m, {"reps": reps, "opportunities": conform("opportunities", opps)}), path)


def test_validate_directory_reports_the_same_rules(tmp_path: Path) -> None:
    dirty_dataset(tmp_path)
    result = validate_directory(tmp_path)
    assert result.problem_count == 2
    assert result.counts == {"reps": 1, "opportunities": 1}
    assert result.rules["opportunities"].to_dict() == {
        "owner_rep_id not found in reps": 1,
        "closed_at before created_at": 1,
    }
    assert not (tmp_path / "quarantine").exists()


def test_validate_directory_of_a_clean_dataset(tmp_path: Path) -> None:
    ds, _ = run({"leads": leads(created_at=["2024-01-01", "bad", "2024-01-03"])})
    write_dataset(ds, tmp_path)
    result = validate_directory(tmp_path)
    assert result.problem_count == 0
    assert result.counts == {"leads": 2}


def test_validate_directory_without_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no manifest.yaml"):
        validate_directory(tmp_path)


@pytest.mark.slow
def test_a_million_rows_validate_in_seconds() -> None:
    n = 1_000_000
    rng = np.random.default_rng(0)
    ids = pd.Series(np.arange(n)).map("L{:07d}".format)
    created = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), unit="s")
    raw = frame(lead_id=ids, created_at=created.strftime("%Y-%m-%d %H:%M:%S"), owner_rep_id=["r1"] * n)
    raw.loc[[10, 20], "created_at"] = "broken"
    start = time.perf_counter()
    ds, q = run({"reps": frame(rep_id=["r1"]), "leads": raw}, manifest(timezone="Asia/Shanghai"))
    elapsed = time.perf_counter() - start
    assert len(ds.tables["leads"]) == n - 2
    assert len(q["leads"]) == 2
    assert elapsed < 30, f"validating a million rows took {elapsed:.1f}s"
