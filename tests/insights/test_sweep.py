"""The silent-lead sweep on a hand-made CRM: one grade down per full 24 h without an outbound action, reassignment
after 72 h, grade drops since the last sweep, and nothing after the sweep time counted.

The scorer is real but tiny: it reads only ``act_inbound_n_7d`` (six inbound activities in the last 7 days grade
A, none grade C), so each lead's grade is known from its history.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.crm.dataset import Dataset, Manifest
from features.errors import DataError
from features.insights.sweep import sweep
from tests.count_scorer import count_scorer
from tests.strategies import dataset

T = pd.Timestamp("2025-03-10 12:00", tz="UTC")
H = pd.Timedelta(hours=1)
SCORER = count_scorer("lead_score", "lead", "act_inbound_n_7d")


def _lead(lead_id: str, created: pd.Timestamp = T - 20 * 24 * H, **ends: pd.Timestamp) -> dict:
    return {"lead_id": lead_id, "created_at": created, "owner_rep_id": "R1", **ends}


def _act(lead_id: str, at: pd.Timestamp, direction: str, kind: str | None = None) -> dict:
    kind = kind or ("web_visit" if direction == "inbound" else "call")
    return {
        "activity_id": f"{lead_id}-{direction}-{at.value}",
        "entity_type": "lead",
        "entity_id": lead_id,
        "occurred_at": at,
        "type": kind,
        "direction": direction,
    }


def _engaged(lead_id: str, at: pd.Timestamp = T - 48 * H) -> list[dict]:
    """Six inbound visits at ``at``: grade A while they are in the 7-day window."""
    return [_act(lead_id, at + i * pd.Timedelta(minutes=1), "inbound") for i in range(6)]


def _crm(extra_activities: list[dict] = (), exported: pd.Timestamp = T + 48 * H) -> Dataset:
    leads = [
        _lead("L_recent"),
        _lead("L_30h"),
        _lead("L_50h"),
        _lead("L_80h"),
        _lead("L_never", created=T - 100 * H),
        _lead("L_fell"),
        _lead("L_inbound_late"),
        _lead("L_closed", converted_at=T - 24 * H),
    ]
    acts = [
        *_engaged("L_recent"),
        _act("L_recent", T - 10 * H, "outbound"),
        *_engaged("L_30h"),
        _act("L_30h", T - 30 * H, "outbound"),
        *_engaged("L_50h"),
        _act("L_50h", T - 50 * H, "outbound", "email"),
        *_engaged("L_80h"),
        _act("L_80h", T - 80 * H, "outbound", "visit"),
        *_engaged("L_never"),
        *_engaged("L_fell", T - 7 * 24 * H - 12 * H),  # in the 7-day window a day ago, out of it now
        _act("L_fell", T - 5 * H, "outbound"),
        _act("L_inbound_late", T - 30 * H, "outbound"),
        _act("L_inbound_late", T - 1 * H, "inbound"),  # the customer's action is not the rep's
        *_engaged("L_closed"),
        *extra_activities,
    ]
    tables = {"reps": [{"rep_id": "R1"}], "leads": leads, "activities": acts}
    return dataset(Manifest(source="test", exported_at=exported), tables)


def _rows(ds: Dataset, **kwargs: object) -> pd.DataFrame:
    return sweep(ds, SCORER, T, **kwargs).rows.set_index("lead_id")


def test_one_grade_down_per_full_24_hours_silent_and_reassignment_after_72() -> None:
    rows = _rows(_crm())
    assert "L_recent" not in rows.index  # 10 h: nothing to do
    expected = {  # lead: (silent hours, steps down, effective grade, action)
        "L_30h": (30.0, 1, "B", "follow_up"),
        "L_50h": (50.0, 2, "C", "follow_up"),
        "L_80h": (80.0, 3, "C", "reassign"),
        "L_never": (100.0, 4, "C", "reassign"),
    }
    for lead, (hours, steps, effective, action) in expected.items():
        row = rows.loc[lead]
        assert row["grade_now"] == "A", lead  # the model still grades them A ...
        assert (row["silent_hours"], row["steps_down"], row["effective_grade"], row["action"]) == (
            hours,
            steps,
            effective,
            action,
        ), lead  # ... the silence steps them down
    assert rows.loc["L_never", "never_contacted"] and pd.isna(rows.loc["L_never", "last_outbound_at"])
    assert rows.loc["L_80h", "last_outbound_at"] == T - 80 * H
    assert "high-performer pool" in rows.loc["L_80h", "note"] and "80 h" in rows.loc["L_80h", "note"]


def test_a_grade_drop_since_the_last_sweep_is_listed_with_both_scores() -> None:
    row = _rows(_crm()).loc["L_fell"]
    assert (row["grade_then"], row["grade_now"], row["grade_fell"]) == ("A", "C", True)
    assert row["score_then"] > row["score_now"]
    assert row["action"] == "review" and row["silent_hours"] == 5.0
    assert "A -> C" in row["note"]


def test_only_outbound_actions_break_the_silence_and_closed_leads_are_not_swept() -> None:
    rows = _rows(_crm())
    assert rows.loc["L_inbound_late", "silent_hours"] == 30.0
    assert "L_closed" not in rows.index
    assert sweep(_crm(), SCORER, T).open_leads == 7


def test_nothing_after_the_sweep_time_changes_the_sweep() -> None:
    later = [
        _act("L_80h", T + 1 * H, "outbound"),  # happened after T
        {**_act("L_50h", T - 2 * H, "outbound"), "recorded_at": T + 3 * H},  # happened before T, entered after
        *_engaged("L_fell", T + 2 * H),
    ]
    before, after = _rows(_crm()), _rows(_crm(later))
    pd.testing.assert_frame_equal(before, after)


def test_the_previous_sweep_time_is_24_hours_earlier_unless_given() -> None:
    ds = _crm()
    assert sweep(ds, SCORER, T).since == T - 24 * H
    recent = sweep(ds, SCORER, T, since=T - 2 * H).rows.set_index("lead_id")
    assert "L_fell" not in recent.index  # two hours ago it was already C: no drop since, and not silent
    with pytest.raises(DataError, match="must be before"):
        sweep(ds, SCORER, T, since=T)


def test_a_lead_created_after_the_previous_sweep_has_no_score_then() -> None:
    ds = _crm()
    ds.tables["leads"] = pd.concat(
        [ds.tables["leads"], dataset(ds.manifest, {"leads": [_lead("L_new", created=T - 12 * H)]}).tables["leads"]],
        ignore_index=True,
    )
    assert "L_new" not in _rows(ds).index  # 12 h old, never contacted: not yet listed
    later = sweep(ds, SCORER, T + 20 * H, since=T - 14 * H).rows.set_index("lead_id").loc["L_new"]
    assert pd.isna(later["score_then"]) and not later["grade_fell"] and later["silent_hours"] == 32.0


def test_named_leads_only_and_unknown_ids_refused() -> None:
    rows = _rows(_crm(), lead_ids=["L_30h", "L_closed"])
    assert list(rows.index) == ["L_30h"]
    with pytest.raises(DataError, match="not in the history"):
        sweep(_crm(), SCORER, T, lead_ids=["L_nope"])


def test_an_empty_list_of_leads_sweeps_nothing() -> None:
    """Found by the fuzz test: ``lead_ids: []`` used to fail with an IndexError (a 500 over HTTP)."""
    assert _rows(_crm(), lead_ids=[]).empty


def test_notes_in_chinese() -> None:
    rows = _rows(_crm(), locale="zh-CN")
    assert "高绩效池" in rows.loc["L_80h", "note"]


def test_the_deal_model_is_refused() -> None:
    with pytest.raises(DataError, match="lead-score model"):
        sweep(_crm(), count_scorer("close_probability", "opportunity", "act_all_n_total"), T)


def test_an_unreadable_time_is_a_data_error() -> None:
    with pytest.raises(DataError, match="not a time"):
        sweep(_crm(), SCORER, "not a time")


def test_a_dataset_without_activities_counts_silence_from_creation() -> None:
    ds = _crm()
    del ds.tables["activities"]
    rows = _rows(ds)
    assert rows["never_contacted"].all() and rows.loc["L_never", "silent_hours"] == 100.0
