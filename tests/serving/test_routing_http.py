"""``POST /v1/leads/route`` over real HTTP: the documented example routes, each hard rule decides as the field
practises it, refusals are 422 with the field, and every answer is in the prediction log with its basis."""

from __future__ import annotations

import copy

import httpx
import pandas as pd

from features.insights.monitoring.outcomes import read_log
from serving.schemas.routing import ROUTE_EXAMPLE
from tests.serving.server import Server, Stores

PATH = "/v1/leads/route"


def _ask(**changes: object) -> dict:
    return {**copy.deepcopy(ROUTE_EXAMPLE), **changes}


def _route(server: Server, body: dict) -> httpx.Response:
    with server.client() as client:
        return client.post(PATH, json=body)


def test_the_documented_example_routes_to_a_ranked_rep(server: Server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    operation = spec["paths"][PATH]["post"]
    assert operation["description"] and {"401", "403", "413", "422"} <= set(operation["responses"])
    example = operation["requestBody"]["content"]["application/json"]["schema"]["example"]
    answer = _route(server, example)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["lead_id"] == example["lead"]["lead_id"] and body["model"] == "lead_score"
    ranked = body["candidates"]
    assert ranked and body["basis"] and all(c["reasons"] for c in ranked)
    assert body["rule"] in ("model", "account_owner") and body["decision"] in {c["rep_id"] for c in ranked}
    if body["rule"] == "model":
        assert body["decision"] == ranked[0]["rep_id"] and ranked[0]["model_rank"] == 1
    assert sorted(c["rule_rank"] for c in ranked) == list(range(1, len(ranked) + 1))


def test_reps_who_left_or_are_inactive_are_excluded_and_named(server: Server, stores: Stores) -> None:
    reps = pd.read_parquet(stores.data / "reps.parquet")
    at = pd.Timestamp(ROUTE_EXAMPLE["as_of"])
    off = reps[reps["left_at"].le(at).fillna(False) | reps["active"].eq(False).fillna(False)]["rep_id"].tolist()
    body = _route(server, _ask(preferred_rep_id=off[0])).json()
    assert body["decision"] != off[0] and body["rule"] != "preferred_rep"
    assert {e["rep_id"] for e in body["excluded"]} >= set(off)
    assert not {c["rep_id"] for c in body["candidates"]} & set(off)
    assert any(off[0] in note for note in body["notes"])


def test_the_customers_choice_then_failed_routings_then_nobody(server: Server) -> None:
    first = _route(server, _ask(locale="zh-CN")).json()
    last = first["candidates"][-1]["rep_id"]
    chosen = _route(server, _ask(preferred_rep_id=last)).json()
    assert (chosen["decision"], chosen["rule"]) == (last, "preferred_rep")
    manual = _route(server, _ask(preferred_rep_id=last, failed_routings=3)).json()
    assert (manual["decision"], manual["rule"]) == ("manual", "failed_routings")
    nobody = _route(server, _ask(candidates=["R9999"])).json()
    assert (nobody["decision"], nobody["rule"], nobody["candidates"]) == ("manual", "no_eligible_rep", [])
    assert nobody["excluded"] == [{"rep_id": "R9999", "reason": "unknown_rep", "detail": "not in the reps table"}]


def test_an_owned_account_stays_with_its_rep(server: Server, stores: Stores) -> None:
    leads = pd.read_parquet(stores.data / "leads.parquet").sort_values("created_at")
    reps = pd.read_parquet(stores.data / "reps.parquet").set_index("rep_id")
    at = pd.Timestamp(ROUTE_EXAMPLE["as_of"])
    working = reps.index[~reps["left_at"].le(at).fillna(False) & ~reps["active"].eq(False).fillna(False)]
    deals = pd.read_parquet(stores.data / "opportunities.parquet")
    columns = ["account_id", "owner_rep_id", "created_at"]
    owners = pd.concat([leads[columns], deals[columns]])
    latest = owners.dropna().sort_values("created_at").groupby("account_id").last()
    account, owner = next((a, r["owner_rep_id"]) for a, r in latest.iterrows() if r["owner_rep_id"] in working)
    lead = {**ROUTE_EXAMPLE["lead"], "account_id": account}
    body = _route(server, _ask(lead=lead)).json()
    assert (body["decision"], body["rule"]) == (owner, "account_owner")


def test_refusals_are_422_with_the_field(server: Server) -> None:
    late = _ask(as_of="2026-01-02T09:00:00Z")  # after the lead was created, before its later activities
    for body, field in (
        (late, "lead.activities[1].occurred_at is after as_of"),
        (_ask(failed_routings=-1), "failed_routings"),
        (_ask(load_cap=-1), "load_cap"),
        (_ask(candidates=[]), "candidates"),
        (_ask(surprise=1), "surprise"),
    ):
        answer = _route(server, body)
        assert answer.status_code == 422, answer.text
        assert field in answer.text


def test_every_routing_is_logged_with_its_basis(server: Server) -> None:
    with server.client() as client:
        answer = client.post(PATH, json=_ask(failed_routings=3), headers={"X-Request-ID": "route-call-7"})
    assert answer.status_code == 200, answer.text
    (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == "route-call-7"]
    assert record["endpoint"] == PATH and record["entity_id"] == ROUTE_EXAMPLE["lead"]["lead_id"]
    assert (record["decision"], record["rule"]) == ("manual", "failed_routings") and record["basis"]
    assert record["request"]["failed_routings"] == 3 and record["input_hash"]
    assert [c["rep_id"] for c in record["candidates"]] == [c["rep_id"] for c in answer.json()["candidates"]]
