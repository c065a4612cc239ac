"""What-if actions over real HTTP: the documented example answers, the answer is ``features.insights.whatif`` on the
same deal and champion (the request's rows through the scoring code), refusals are 422 and each call is logged."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from features.crm.dataset import read_dataset, to_utc_scalar
from features.insights.monitoring.outcomes import read_log
from features.insights.whatif import ACTIONS, what_if
from features.scoring.pyfunc import CHAMPION, load_registered
from serving.schemas.whatif import WHATIF_EXAMPLE
from tests.helpers import deal_request
from tests.serving.server import Server, Stores

PATH = "/v1/opportunities/whatif"


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


def test_the_answer_is_whatif_on_the_history(server: Server, stores: Stores) -> None:
    """A deal of the history sent with what the CRM knew: the same proposals, skips and probabilities as the core
    function on the export (next steps are left out: the request's activities do not carry them here)."""
    ds = read_dataset(stores.data)
    at = to_utc_scalar(ds.manifest.exported_at)
    deals = ds.get("opportunities")
    deal_id = str(deals.loc[deals["closed_at"].isna(), "opportunity_id"].iloc[0])
    actions = [a for a in ACTIONS if a != "next_step"]
    body = {**deal_request(ds, [deal_id], at).model_dump(mode="json"), "actions": actions, "locale": "en"}
    with server.client() as client:
        answer = client.post(PATH, json=body)
    assert answer.status_code == 200, answer.text
    (got,) = answer.json()["results"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESML_STORE", stores.env["SALESML_STORE"])
        mp.setenv("MLFLOW_TRACKING_URI", stores.env["MLFLOW_TRACKING_URI"])
        scorer, _ = load_registered("close_probability", CHAMPION)
    (expected,) = what_if(ds, scorer, [deal_id], at, actions, locale="en")
    assert got["p_win"] == pytest.approx(expected.p_now)
    assert [a["action"] for a in got["actions"]] == [o.action for o in expected.options]
    assert [a["p_win_after"] for a in got["actions"]] == pytest.approx([o.p_after for o in expected.options])
    assert {s["action"] for s in got["skipped"]} == {s.action for s in expected.skipped}


def test_refusals_are_422_with_the_field(server: Server) -> None:
    unknown = {**WHATIF_EXAMPLE, "actions": ["fly_to_the_moon"]}
    late = copy.deepcopy(WHATIF_EXAMPLE)
    late["as_of"] = "2025-12-15T00:00:00Z"  # before the quote was sent
    with server.client() as client:
        for body, field in ((unknown, "actions"), (late, "is after as_of"), ({**WHATIF_EXAMPLE, "top": 0}, "top")):
            answer = client.post(PATH, json=body)
            assert answer.status_code == 422, answer.text
            assert field in answer.text
