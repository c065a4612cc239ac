"""What-if actions over real HTTP, for deals and leads: the documented examples answer, the answer is
``features.insights.whatif`` on the same item and champion (the request's rows through the scoring code), refusals
are 422 and each call is logged."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

from features.crm.dataset import read_dataset, to_utc_scalar
from features.crm.schema import ENTITIES
from features.insights.monitoring.outcomes import read_log
from features.insights.whatif import ACTIONS, LEAD_ACTIONS, what_if
from features.scoring.pyfunc import CHAMPION, load_registered
from serving.schemas.whatif import LEAD_WHATIF_EXAMPLE, WHATIF_EXAMPLE
from tests.helpers import deal_request, lead_request
from tests.serving.server import Server, Stores

PATH = "/v1/opportunities/whatif"
LEAD_PATH = "/v1/leads/whatif"


def test_the_documented_example_ranks_its_actions(server: Server) -> None:
    with server.client() as client:
        answer = client.post(PATH, json=WHATIF_EXAMPLE, headers={"X-Request-ID": "whatif-call-1"})
    assert answer.status_code == 200, answer.text
    (deal,) = answer.json()["results"]
    assert deal["stage"] == "demo"
    proposed = [a["action"] for a in deal["actions"]]
    skipped = {s["action"]: s["reason"] for s in deal["skipped"]}
    assert set(proposed) | set(skipped) == set(WHATIF_EXAMPLE["actions"])
    assert "quote_revision" in skipped  # the deal is in the demo stage
    changes = [a["change"] for a in deal["actions"]]
    assert changes == sorted(changes, reverse=True)
    for a in deal["actions"]:
        assert a["change"] == pytest.approx(a["p_win_after"] - a["p_win_before"])
    follow_up = next(a for a in deal["actions"] if a["action"] == "follow_up")
    assert pd.Timestamp(follow_up["occurs_at"]) == pd.Timestamp(WHATIF_EXAMPLE["as_of"]) + pd.Timedelta(hours=24)
    (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == "whatif-call-1"]
    assert record["endpoint"] == PATH and record["request"]["actions"] == WHATIF_EXAMPLE["actions"]
    (logged,) = record["answer"]["results"]
    assert [(a["action"], a["change"]) for a in logged["actions"]] == [
        (a["action"], a["change"]) for a in deal["actions"]
    ]


def test_refusals_are_422_with_the_field(server: Server) -> None:
    unknown = {**WHATIF_EXAMPLE, "actions": ["fly_to_the_moon"]}
    late = copy.deepcopy(WHATIF_EXAMPLE)
    late["as_of"] = "2025-12-15T00:00:00Z"  # before the quote was sent
    with server.client() as client:
        for body, field in ((unknown, "actions"), (late, "is after as_of"), ({**WHATIF_EXAMPLE, "top": 0}, "top")):
            answer = client.post(PATH, json=body)
            assert answer.status_code == 422, answer.text
            assert field in answer.text


def test_the_documented_lead_example_ranks_its_actions(server: Server) -> None:
    with server.client() as client:
        answer = client.post(LEAD_PATH, json=LEAD_WHATIF_EXAMPLE, headers={"X-Request-ID": "whatif-lead-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == "lead_score"
    (lead,) = body["results"]
    assert lead["lead_id"] == LEAD_WHATIF_EXAMPLE["leads"][0]["lead_id"]
    proposed = [a["action"] for a in lead["actions"]]
    skipped = {s["action"]: s["reason"] for s in lead["skipped"]}
    assert set(proposed) | set(skipped) == set(LEAD_WHATIF_EXAMPLE["actions"])
    assert "meet_cto" in skipped and "follow_up" in proposed  # the lead met its CTO; no call in the last 24 h
    assert [a["change"] for a in lead["actions"]] == sorted((a["change"] for a in lead["actions"]), reverse=True)
    for a in lead["actions"]:
        assert a["change"] == pytest.approx(a["probability_after"] - a["probability_before"])
    (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == "whatif-lead-1"]
    assert record["endpoint"] == LEAD_PATH
    (logged,) = record["answer"]["results"]
    assert [(a["action"], a["change"]) for a in logged["actions"]] == [
        (a["action"], a["change"]) for a in lead["actions"]
    ]


@dataclass(frozen=True)
class Kind:
    """What differs between the deal and the lead what-if: path, model, actions, the probability's name, the
    request body and which of the history's items are open."""

    path: str
    model: str
    actions: tuple[str, ...]
    probability: str
    request: Callable[..., Any]
    entity: str
    ends: tuple[str, ...]


KINDS = {
    "deal": Kind(PATH, "close_probability", tuple(ACTIONS), "p_win", deal_request, "opportunity", ("closed_at",)),
    "lead": Kind(
        LEAD_PATH, "lead_score", LEAD_ACTIONS, "probability", lead_request, "lead", ("converted_at", "disqualified_at")
    ),
}


@pytest.mark.parametrize("kind", KINDS.values(), ids=KINDS.keys())
def test_the_answer_is_whatif_on_the_history(kind: Kind, server: Server, stores: Stores) -> None:
    """An open item of the history sent with what the CRM knew: the same proposals, skips, probabilities and
    segment as the core function on the export (next steps are left out: the request's activities do not carry
    them here)."""
    ds = read_dataset(stores.data)
    at = to_utc_scalar(ds.manifest.exported_at)
    table_name, key = ENTITIES[kind.entity]
    table = ds.get(table_name)
    item_id = str(table.loc[table[list(kind.ends)].isna().all(axis=1), key].iloc[-1])
    actions = [a for a in kind.actions if a != "next_step"]
    body = {**kind.request(ds, [item_id], at).model_dump(mode="json"), "actions": actions, "locale": "en"}
    with server.client() as client:
        answer = client.post(kind.path, json=body)
    assert answer.status_code == 200, answer.text
    (got,) = answer.json()["results"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESML_STORE", stores.env["SALESML_STORE"])
        mp.setenv("MLFLOW_TRACKING_URI", stores.env["MLFLOW_TRACKING_URI"])
        scorer, _ = load_registered(kind.model, CHAMPION)
    (expected,) = what_if(ds, scorer, [item_id], at, actions, locale="en")
    assert got[kind.probability] == pytest.approx(expected.p_now)
    assert got["segment"] == expected.segment
    assert [a["action"] for a in got["actions"]] == [o.action for o in expected.options]
    after = [a[f"{kind.probability}_after"] for a in got["actions"]]
    assert after == pytest.approx([o.p_after for o in expected.options])
    assert {s["action"] for s in got["skipped"]} == {s.action for s in expected.skipped}


def test_a_lead_is_offered_only_what_a_lead_can_take(server: Server) -> None:
    """A POC or a quote needs a deal: asking for one on a lead is a 422 naming the field, as is a closed lead."""
    with server.client() as client:
        for action in ("poc_start", "quote_revision"):
            answer = client.post(LEAD_PATH, json={**LEAD_WHATIF_EXAMPLE, "actions": [action]})
            assert answer.status_code == 422, answer.text
            assert "actions" in answer.text
        default = client.post(LEAD_PATH, json={k: v for k, v in LEAD_WHATIF_EXAMPLE.items() if k != "actions"})
    assert default.status_code == 200, default.text
    (lead,) = default.json()["results"]
    offered = {a["action"] for a in lead["actions"]} | {s["action"] for s in lead["skipped"]}
    assert offered == set(LEAD_ACTIONS) and not offered & {"poc_start", "quote_revision"}
