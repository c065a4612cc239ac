"""Follow-up quality on a hand-made deal: an activity that moves the probability scores higher than one that does
not, each structural check passes and fails where it should, back-filled activities move the deal only when entered,
and nothing after ``as_of`` is seen.

The scorer is real but tiny: it reads only the deal's meeting count, so a meeting moves the probability and an
e-mail or a call does not.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.crm.dataset import Dataset, Manifest
from features.errors import DataError
from features.insights.activity_quality import COUNTS_FROM, is_vague, score_activities
from tests.count_scorer import count_scorer
from tests.strategies import dataset

T0 = pd.Timestamp("2025-03-01 09:00", tz="UTC")
D = pd.Timedelta(days=1)
AS_OF = T0 + 20 * D
SCORER = count_scorer("close_probability", "opportunity", "act_meeting_n_total")


def _act(name: str, day: float, kind: str, **fields: object) -> dict:
    return {
        "activity_id": name,
        "entity_type": "opportunity",
        "entity_id": "O1",
        "occurred_at": T0 + day * D,
        "type": kind,
        "direction": "outbound",
        "rep_id": "R1",
        **fields,
    }


GOOD = {"next_step": "Send the revised quote by Tuesday", "attachment": True}
ACTIVITIES = [
    _act("email", 1, "email", note="Discussed go-live timeline", **GOOD),
    _act("meeting", 2, "meeting", note="客户关注预算审批", **GOOD),
    _act("short_call", 3, "call", duration_s=30.0, note="已沟通", next_step="", attachment=False),
    _act("long_call", 3.5, "call", duration_s=90.0, note="Asked about delivery time", **GOOD),
    _act("web_visit", 3.6, "web_visit", direction="inbound"),
    _act("backfilled", 4, "meeting", recorded_at=T0 + 7 * D, note="followed up."),
    _act("month_end_a", 5, "visit", recorded_at=T0 + 10 * D, note="已联系"),
    _act("month_end_b", 6, "email", recorded_at=T0 + 10 * D),
]


def _crm(activities: list[dict] = ACTIVITIES) -> Dataset:
    tables = {
        "reps": [{"rep_id": "R1"}],
        "opportunities": [{"opportunity_id": "O1", "created_at": T0, "owner_rep_id": "R1"}],
        "activities": activities,
    }
    return dataset(Manifest(source="test", exported_at=T0 + 60 * D), tables)


def _scored(ds: Dataset | None = None, **kwargs: object) -> pd.DataFrame:
    return score_activities(ds or _crm(), SCORER, AS_OF, **kwargs).set_index("activity_id")


def test_an_activity_that_moves_the_deal_scores_higher_than_one_that_does_not() -> None:
    rows = _scored()
    meeting, email = rows.loc["meeting"], rows.loc["email"]
    assert meeting["delta_probability"] > 0 and meeting["movement"] > 50
    assert email["delta_probability"] == 0 and email["movement"] == 50
    assert meeting["score"] > email["score"]
    assert email["score"] == round(0.4 * 50 + 0.6 * 100)  # no move, every applicable check passed


def test_structural_checks() -> None:
    rows = _scored()
    assert not rows.loc["short_call", "check_duration"] and rows.loc["long_call", "check_duration"]
    assert pd.isna(rows.loc["meeting", "check_duration"])  # not a call
    assert rows.loc["meeting", "check_attachment"] and not rows.loc["short_call", "check_attachment"]
    assert pd.isna(rows.loc["backfilled", "check_attachment"])  # not recorded: unknown
    assert rows.loc["meeting", "check_next_step"] and not rows.loc["short_call", "check_next_step"]
    assert not rows.loc["short_call", "check_note"] and not rows.loc["backfilled", "check_note"]  # vague
    assert not rows.loc["month_end_b", "check_note"]  # no note at all
    assert rows.loc["meeting", "check_note"] and rows.loc["meeting", "note_keywords"] == "budget_approval"
    short = rows.loc["short_call"]
    assert (short["checks_passed"], short["checks_applicable"]) == (0, 4)
    assert short["score"] < COUNTS_FROM and not short["counts"]
    assert (rows["counts"] == (rows["score"] >= COUNTS_FROM)).all()


def test_vague_notes() -> None:
    notes = pd.Series(["已沟通", " 待推进。", "Followed up!", "followed up with pricing", "预算审批已启动", None])
    assert is_vague(notes).tolist() == [True, True, True, False, False, False]


def test_only_rep_actions_known_by_as_of_are_scored() -> None:
    late = _act("after_as_of", 19, "meeting", recorded_at=AS_OF + D)
    rows = _scored(_crm([*ACTIVITIES, late, _act("future", 25, "meeting")]))
    assert "web_visit" not in rows.index and "after_as_of" not in rows.index and "future" not in rows.index
    pd.testing.assert_frame_equal(rows, _scored())


def test_a_backfilled_activity_moves_the_deal_when_it_is_entered() -> None:
    rows = _scored()
    backfilled = rows.loc["backfilled"]
    assert backfilled["known_at"] == T0 + 7 * D and backfilled["recorded_late_hours"] == 72
    assert backfilled["backfilled"] and not rows.loc["meeting", "backfilled"]
    assert backfilled["delta_probability"] > 0  # read from when it was entered, not from when it happened
    assert backfilled["p_before"] == rows.loc["meeting", "p_after"]  # one meeting known until then


def test_activities_entered_together_say_so() -> None:
    rows = _scored()
    assert rows.loc["month_end_a", "recorded_with"] == 1 and rows.loc["month_end_b", "recorded_with"] == 1
    assert rows.loc["meeting", "recorded_with"] == 0


def test_missing_optional_columns_make_their_checks_not_applicable() -> None:
    ds = _crm()
    ds.tables["activities"] = ds.tables["activities"].drop(columns=["next_step", "attachment"])
    rows = _scored(ds)
    assert rows["check_next_step"].isna().all() and rows["check_attachment"].isna().all()
    assert rows.loc["email", "checks_applicable"] == 1 and rows.loc["email", "score"] == 80


def test_a_window_of_days_and_named_entities() -> None:
    assert set(_scored(days=14).index) == {"backfilled", "month_end_a", "month_end_b"}
    assert len(_scored(entity_ids=["O1"])) == 7
    with pytest.raises(DataError, match="not in the history"):
        score_activities(_crm(), SCORER, AS_OF, entity_ids=["O_nope"])


def test_lead_activities_with_the_lead_model() -> None:
    acts = [{**a, "entity_type": "lead", "entity_id": "L1"} for a in ACTIVITIES]
    ds = _crm(acts)
    ds.tables["leads"] = dataset(ds.manifest, {"leads": [{"lead_id": "L1", "created_at": T0}]}).tables["leads"]
    rows = score_activities(ds, count_scorer("lead_score", "lead", "act_meeting_n_total"), AS_OF)
    assert len(rows) == 7 and (rows.set_index("activity_id").loc["meeting", "delta_probability"] > 0)


def test_an_unreadable_as_of_is_a_data_error() -> None:
    with pytest.raises(DataError, match="not a time"):
        score_activities(_crm(), SCORER, "yesterday-ish")


def test_a_dataset_without_activities_scores_nothing() -> None:
    ds = _crm()
    del ds.tables["activities"]
    assert score_activities(ds, SCORER, AS_OF).empty
