"""Per-rep process health (``features.insights.health.rep_health``) on a hand-made CRM with known answers: lead
activation,
needs-confirmed dwell with its week-to-week swing, action compliance, each per rep, and nothing after ``as_of``.

Two reps, three complete weeks (Mondays day 0, 7, 14; T0 is a Monday), the report as of day 21.
"""

from __future__ import annotations

import pandas as pd
import pytest

from features.crm.dataset import Dataset, Manifest
from features.insights.health import rep_health
from tests.strategies import dataset

T0 = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday
AS_OF = 21.0


def day(d: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=d)


def hours(d: float, h: float) -> pd.Timestamp:
    return day(d) + pd.Timedelta(hours=h)


def act(entity: str, kind: str, occurred: pd.Timestamp, **fields: object) -> dict:
    entity_type = "lead" if entity.startswith("L") else "opportunity"
    return {
        "activity_id": f"A-{entity}-{kind}-{occurred.value}",
        "entity_type": entity_type,
        "entity_id": entity,
        "occurred_at": occurred,
        "type": kind,
        **fields,
    }


def lead(lead_id: str, created: float, rep: str) -> dict:
    return {"lead_id": lead_id, "created_at": day(created), "owner_rep_id": rep}


def deal(deal_id: str, created: float, rep: str, closed: float | None = None, outcome: str | None = None) -> dict:
    closed_at = day(closed) if closed is not None else None
    return {"opportunity_id": deal_id, "created_at": day(created), "owner_rep_id": rep, "closed_at": closed_at,
            "outcome": outcome, "amount": 1000.0}  # fmt: skip


def stages(deal_id: str, *changes: tuple[str, float]) -> list[dict]:
    return [{"opportunity_id": deal_id, "stage": s, "changed_at": day(d)} for s, d in changes]


KNOWN = {
    "reps": [{"rep_id": "R1", "name": "Ann", "team": "east"}, {"rep_id": "R2", "name": "Bo", "team": "west"}],
    "leads": [
        lead("L1", 0, "R1"),  # activated, contacted in time
        lead("L2", 0, "R1"),  # activated, contacted in time
        lead("L3", 0, "R1"),  # one visit, 30 h late: neither
        lead("L4", 0, "R1"),  # nothing
        lead("L5", 7, "R1"),  # activated, in time
        lead("L6", 7, "R1"),  # a 30 s call in time: contacted, not activated
        lead("L7", 0, "R2"),  # activated, in time
        lead("L8", 7, "R2"),  # only the lead's own web visit: neither
    ],
    "opportunities": [
        deal("O1", 0, "R1", closed=6, outcome="won"),
        deal("O2", 0, "R1"),
        deal("O3", 9, "R1"),
        deal("O4", 0, "R2", closed=3, outcome="lost"),
        deal("O5", 0, "R2"),
        deal("O6", 14.5, "R2"),
    ],
    "stage_changes": [
        *stages("O1", ("lead", 0), ("needs_confirmed", 1), ("demo", 5)),  # 4 days, left in week 0
        *stages("O2", ("lead", 0), ("needs_confirmed", 2), ("demo", 12)),  # 10 days, week 1
        *stages("O3", ("lead", 9), ("needs_confirmed", 10), ("demo", 16)),  # 6 days, week 2
        *stages("O4", ("needs_confirmed", 0)),  # left by the close on day 3: 3 days, week 0
        *stages("O5", ("lead", 0), ("needs_confirmed", 1), ("demo", 15)),  # 14 days, week 2
        *stages("O6", ("lead", 14.5), ("needs_confirmed", 15)),  # still there on day 21
    ],
    "activities": [
        act("L1", "visit", hours(0, 2)),
        act("L1", "visit", day(2)),
        act("L2", "meeting", hours(0, 5)),
        act("L2", "visit", day(3)),
        act("L3", "visit", hours(0, 30)),
        act("L5", "visit", hours(7, 3)),
        act("L5", "visit", day(9)),
        act("L6", "call", hours(7, 1), duration_s=30.0),
        act("L7", "visit", hours(0, 1)),
        act("L7", "visit", day(1)),
        act("L8", "web_visit", hours(7, 1)),
        act("O1", "call", hours(0, 12)),  # follows the creation in time; the close follows it in time
        act("O2", "call", day(1)),  # in time after the creation; the next (day 12) is late
        act("O2", "call", day(12)),  # nothing follows by day 19
        act("O3", "visit", hours(9, 12)),  # in time after the creation; nothing follows by day 16.5
        act("O6", "call", day(15)),  # O6's follow-ups fall due after day 21: not counted yet
    ],
}

#: Rows only known after day 21: none may change the figures as of day 21.
LATER = {
    "leads": [lead("L9", 22, "R1")],
    "stage_changes": stages("O6", ("demo", 25)),
    "activities": [
        act("L4", "visit", day(22)),
        act("L6", "visit", day(8), recorded_at=day(22)),  # back-filled after day 21: would activate L6
        act("L6", "visit", day(9), recorded_at=day(22)),
        act("O2", "call", hours(21, 12)),
        act("O5", "call", day(23)),
    ],
}


def make(tables: dict[str, list[dict]], exported: float) -> Dataset:
    return dataset(Manifest(source="test", exported_at=day(exported)), tables)


def with_later(close_o5: bool = True) -> Dataset:
    tables = {name: list(rows) for name, rows in KNOWN.items()}
    for name, rows in LATER.items():
        tables[name] = tables[name] + rows
    if close_o5:
        tables["opportunities"] = [
            {**d, "closed_at": day(24), "outcome": "won"} if d["opportunity_id"] == "O5" else d
            for d in tables["opportunities"]
        ]
    return make(tables, exported=60)


@pytest.fixture(scope="module")
def as_of_day_21() -> pd.DataFrame:
    return rep_health(with_later(), as_of=day(AS_OF)).summary.set_index("rep_id")


def test_activation_per_rep_and_two_weeks_running_below_52_percent_is_a_warning(as_of_day_21: pd.DataFrame) -> None:
    r1, r2 = as_of_day_21.loc["R1"], as_of_day_21.loc["R2"]
    assert r1["activation_week"] == day(7).tz_convert(None)  # the last week whose leads' 7 days are over
    assert (r1["new_leads"], r1["activation_rate"], r1["activation_rate_before"]) == (2, 0.5, 0.5)
    assert r1["activation_verdict"] == "warning"
    assert (r2["new_leads"], r2["activation_rate"], r2["activation_rate_before"]) == (1, 0.0, 1.0)
    assert r2["activation_verdict"] == "watch"  # below 52% one week only


def test_needs_confirmed_dwell_and_its_swing_per_rep(as_of_day_21: pd.DataFrame) -> None:
    r1, r2 = as_of_day_21.loc["R1"], as_of_day_21.loc["R2"]
    assert r1["nc_stays"] == 3
    assert r1["nc_dwell_days"] == pytest.approx((4 + 10 + 6) / 3)
    assert r1["nc_dwell_swing"] == pytest.approx(abs(20 / 3 - 7) / 7)  # the week before: (4 + 10) / 2
    assert r1["dwell_verdict"] == "watch"
    assert r2["nc_stays"] == 2  # O6 is still in the stage on day 21
    assert r2["nc_dwell_days"] == pytest.approx(8.5)
    assert r2["nc_dwell_swing"] == pytest.approx((8.5 - 3) / 3)
    assert r2["dwell_verdict"] == "warning"  # above 7.8 days with a swing above 35%


def test_action_compliance_per_rep(as_of_day_21: pd.DataFrame) -> None:
    r1, r2 = as_of_day_21.loc["R1"], as_of_day_21.loc["R2"]
    # R1: first contacts 4 of 6 (L1, L2, L5, L6); follow-ups O1 2/2, O2 1/3, O3 1/2
    assert (r1["actions_due"], r1["actions_done"]) == (13, 8)
    assert r1["compliance"] == pytest.approx(8 / 13)
    # R2: first contacts 1 of 2; follow-ups O4 1/1 (closed in time), O5 0/1, O6 none due yet
    assert (r2["actions_due"], r2["actions_done"]) == (4, 2)
    assert {r1["compliance_verdict"], r2["compliance_verdict"]} == {"watch"}
    assert list(as_of_day_21["team"]) == ["east", "west"]


def test_nothing_after_as_of_is_counted(as_of_day_21: pd.DataFrame) -> None:
    known_then = rep_health(make(KNOWN, exported=AS_OF)).summary.set_index("rep_id")
    pd.testing.assert_frame_equal(as_of_day_21, known_then)
    later = rep_health(with_later(), as_of=day(28)).summary.set_index("rep_id")
    assert later.loc["R2", "nc_stays"] == 3  # O6 left needs-confirmed on day 25: counted once it is known


def test_a_missing_owner_column_skips_that_metric_with_a_note() -> None:
    tables = {**KNOWN, "leads": [{k: v for k, v in row.items() if k != "owner_rep_id"} for row in KNOWN["leads"]]}
    report = rep_health(make(tables, exported=AS_OF))
    assert any(note.startswith("activation (leads have no owner_rep_id") for note in report.notes)
    assert report.summary["activation_rate"].isna().all()
    assert report.summary.set_index("rep_id").loc["R2", "nc_dwell_days"] == pytest.approx(8.5)
