"""Suspicious but possible request rows over real HTTP: scored, each with a warning naming the field, alike on every
endpoint that takes the rows; a rep the history does not know is scored without a record."""

from __future__ import annotations

import copy

from features.insights.monitoring.outcomes import read_log
from serving.schemas.routing import ROUTE_EXAMPLE
from serving.schemas.scoring import LEAD_EXAMPLE, OPPORTUNITY_EXAMPLE
from serving.schemas.workflow import QUALITY_EXAMPLE
from tests.serving.server import Server

UNKNOWN_REP = "owner_rep_id: 'R9999' is not in the CRM history (scored without a rep record)"
LEAD_WARNINGS = [
    UNKNOWN_REP,
    "activities[3].occurred_at: more than 30 days before created_at",
    "activities[4].recorded_at: before occurred_at (counted from occurred_at)",
]
DEAL_WARNINGS = [
    UNKNOWN_REP,
    "account_id: 'C-nobody' is not in the CRM history (scored without an account record)",
    "stages[3].changed_at: before created_at",
    "stages[4].stage: 'needs_confirmed' after 'demo' goes back in the funnel (counted as a regression)",
]


def _odd_lead() -> dict:
    """The documented lead with an owner the history does not know, a call years before the lead was created and
    one entered before it happened."""
    lead = copy.deepcopy(LEAD_EXAMPLE["leads"][0])
    lead["activities"] += [
        {"occurred_at": "2023-01-02T08:00:00Z", "type": "call"},
        {"occurred_at": "2026-01-04T10:00:00Z", "recorded_at": "2026-01-04T09:00:00Z", "type": "call"},
    ]
    return {**lead, "lead_id": "odd-lead", "owner_rep_id": "R9999"}


def _odd_deal(deal: dict) -> dict:
    """A deal with an unknown owner and account, a stage change before its creation and a stage going back."""
    stages = [
        *deal["stages"],
        {"stage": "lead", "changed_at": "2025-11-20T00:00:00Z"},
        {"stage": "needs_confirmed", "changed_at": "2025-12-20T00:00:00Z"},
    ]
    return {
        **copy.deepcopy(deal),
        "opportunity_id": "odd-deal",
        "owner_rep_id": "R9999",
        "account_id": "C-nobody",
        "stages": stages,
    }


def test_suspicious_lead_rows_are_scored_with_warnings_and_logged(server: Server) -> None:
    with server.client() as client:
        answer = client.post("/v1/leads/score", json={**LEAD_EXAMPLE, "leads": [*LEAD_EXAMPLE["leads"], _odd_lead()]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    usual, odd = body["results"]
    assert usual["warnings"] == [] and odd["warnings"] == LEAD_WARNINGS
    logged = {r["entity_id"]: r for r in read_log(server.log_dir) if r["request_id"] == body["request_id"]}
    assert logged["odd-lead"]["warnings"] == LEAD_WARNINGS
    known, unknown = logged[usual["lead_id"]]["inputs"], logged["odd-lead"]["inputs"]
    assert known["rep_tenure_days"] > 0 and "rep_tenure_days" not in unknown  # no reps row: tenure missing
    assert known["rep_deals_closed_n"] > 0 and unknown["rep_deals_closed_n"] == 0  # no record: nothing counted


def test_suspicious_deal_rows_are_scored_with_warnings(server: Server) -> None:
    odd = _odd_deal(OPPORTUNITY_EXAMPLE["opportunities"][0])
    with server.client() as client:
        answer = client.post("/v1/opportunities/score", json={**OPPORTUNITY_EXAMPLE, "opportunities": [odd]})
    assert answer.status_code == 200, answer.text
    (result,) = answer.json()["results"]
    assert result["warnings"] == DEAL_WARNINGS


def test_routing_and_follow_up_quality_give_the_same_warnings(server: Server) -> None:
    with server.client() as client:
        routed = client.post("/v1/leads/route", json={**ROUTE_EXAMPLE, "lead": _odd_lead()})
        quality = client.post(
            "/v1/activities/quality", json={**QUALITY_EXAMPLE, "opportunity": _odd_deal(QUALITY_EXAMPLE["opportunity"])}
        )
    assert routed.status_code == quality.status_code == 200, (routed.text, quality.text)
    assert routed.json()["warnings"] == LEAD_WARNINGS
    assert quality.json()["warnings"] == DEAL_WARNINGS
