"""The service over real HTTP: scoring, the models endpoint, errors a CRM can act on, keys, and the log."""

from __future__ import annotations

import copy
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from features.insights.monitoring.outcomes import read_log
from serving.schemas.scoring import LEAD_EXAMPLE, OPPORTUNITY_EXAMPLE
from tests.helpers import ROOT
from tests.serving.server import KEY, REVOKED, Server, Stores


def _lead(lead_id: str, **changes: object) -> dict:
    return {**copy.deepcopy(LEAD_EXAMPLE["leads"][0]), "lead_id": lead_id, **changes}


def assert_effects_add_up(result: dict) -> None:
    """The base, the listed factors' effects and the others' make the probability; none listed shows as 0.0%."""
    up, down = result["top_positive"], result["top_negative"]
    assert all(f["delta_probability"] >= 0.0005 for f in up) and all(f["delta_probability"] <= -0.0005 for f in down)
    listed = sum(f["delta_probability"] for f in up + down)
    total = result["base_probability"] + listed + result["other_effect"]
    assert abs(total - result["probability"]) < 0.005, result


def test_the_demo_request_file_is_the_documented_example() -> None:
    """make demo's curl sends examples/score-lead.json: it must stay the example the OpenAPI document shows."""
    assert json.loads((ROOT / "examples" / "score-lead.json").read_text(encoding="utf-8")) == LEAD_EXAMPLE


def test_health_is_open_and_ready(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    assert httpx.get(f"{server.url}/readyz").status_code == 200


def test_the_documented_examples_score(server: Server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    with server.client() as client:
        for path in ("/v1/leads/score", "/v1/opportunities/score"):
            operation = spec["paths"][path]["post"]
            assert operation["description"]
            example = operation["requestBody"]["content"]["application/json"]["schema"]["example"]
            answer = client.post(path, json=example)
            assert answer.status_code == 200, answer.text
            assert len(answer.json()["results"]) == 1
            assert {"401", "403", "413", "422"} <= set(operation["responses"])


def test_a_lead_gets_a_probability_score_grade_and_chinese_factors(server: Server) -> None:
    with server.client() as client:
        answer = client.post("/v1/leads/score", json=LEAD_EXAMPLE, headers={"X-Request-ID": "crm-call-42"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["request_id"] == "crm-call-42" == answer.headers["x-request-id"]
    (lead,) = body["results"]
    assert lead["lead_id"] == "L-2026-0001"
    assert 0 < lead["probability"] < 1 and 0 <= lead["score"] <= 100 and lead["grade"] in "ABC"
    assert lead["model"] == "lead_score" and lead["model_version"] == "1"
    assert lead["as_of"].startswith("2026-01-05T09:00:00")
    factors = lead["top_positive"] + lead["top_negative"]
    assert factors and len(lead["top_positive"]) <= 3 and len(lead["top_negative"]) <= 3
    assert all(f["contribution"] > 0 for f in lead["top_positive"])
    assert all(f["contribution"] < 0 for f in lead["top_negative"])
    assert any("\u4e00" <= ch <= "\u9fff" for f in factors for ch in f["name"])  # zh-CN names
    assert_effects_add_up(lead)


def test_more_activity_history_changes_the_answer(server: Server) -> None:
    """Scores come from the request's history: a lead nobody answered scores lower than one answered at once."""
    fast = _lead("fast")
    ignored = _lead("ignored", activities=[LEAD_EXAMPLE["leads"][0]["activities"][0]])
    with server.client() as client:
        results = client.post("/v1/leads/score", json={**LEAD_EXAMPLE, "leads": [fast, ignored]}).json()["results"]
    by_id = {r["lead_id"]: r for r in results}
    assert by_id["fast"]["probability"] > by_id["ignored"]["probability"]
    for result in results:
        assert_effects_add_up(result)


def test_a_brand_new_lead_and_unseen_categories_score_with_warnings(server: Server) -> None:
    new = {"lead_id": "brand-new", "created_at": "2026-01-05T08:59:00Z", "source": "carrier_pigeon"}
    with server.client() as client:
        answer = client.post("/v1/leads/score", json={"leads": [new], "as_of": "2026-01-05T09:00:00Z", "locale": "en"})
    assert answer.status_code == 200, answer.text
    (lead,) = answer.json()["results"]
    assert any("carrier_pigeon" in w for w in lead["warnings"])
    assert all(ch.isascii() for f in lead["top_positive"] + lead["top_negative"] for ch in f["name"])


def test_a_deal_gets_p_win_and_factors(server: Server) -> None:
    with server.client() as client:
        answer = client.post("/v1/opportunities/score", json=OPPORTUNITY_EXAMPLE)
    assert answer.status_code == 200, answer.text
    (deal,) = answer.json()["results"]
    assert deal["opportunity_id"] == "O-2026-0001"
    assert deal["p_win"] == deal["probability"] and 0 < deal["p_win"] < 1
    assert 0 <= deal["p_win_30d"] <= deal["p_win_60d"] <= deal["p_win_90d"] <= deal["p_win"]
    if deal["expected_close_at"] is not None:
        assert "2026-01-05" < deal["expected_close_at"] <= "2026-04-05"  # within the 90-day window after as_of
    assert deal["model"] == "close_probability"
    assert deal["top_positive"] or deal["top_negative"]
    assert_effects_add_up(deal)


def test_models_lists_versions_windows_and_metrics(server: Server) -> None:
    with server.client() as client:
        answer = client.get("/v1/models")
    assert answer.status_code == 200, answer.text
    models = {m["name"]: m for m in answer.json()["models"]}
    assert set(models) == {"lead_score", "close_probability"}
    for model in models.values():
        assert model["version"] == "1"
        assert len(model["data_window"]) == 2 and model["data_window"][0] < model["data_window"][1]
        assert 0.5 < model["metrics"]["roc_auc"] <= 1


@pytest.mark.parametrize(
    ("key", "status"), [(None, 401), ("not-a-key", 401), (REVOKED, 403), (KEY[:-1], 401), (KEY + "x", 401)]
)
def test_keys_are_required_on_v1(server: Server, key: str | None, status: int) -> None:
    with server.client(key) as client:
        assert client.post("/v1/leads/score", json=LEAD_EXAMPLE).status_code == status
        assert client.get("/v1/models").status_code == status


def test_keys_never_reach_the_logs(server: Server) -> None:
    with server.client() as client:
        assert client.post("/v1/leads/score", json=LEAD_EXAMPLE).status_code == 200
    written = "".join(p.read_text() for p in server.log_dir.glob("*")) + server.output_path().read_text()
    assert KEY not in written and REVOKED not in written


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({**LEAD_EXAMPLE, "as_of": "2026-01-02T09:00:00Z"}, 422, "leads[0].activities[1].occurred_at is after as_of"),
        ({**LEAD_EXAMPLE, "leads": []}, 422, "leads"),
        ({**LEAD_EXAMPLE, "locale": "fr"}, 422, "locale"),
        ({**LEAD_EXAMPLE, "leads": [_lead("a", created_at="yesterday")]}, 422, "leads.0.created_at"),
        ({**LEAD_EXAMPLE, "leads": [_lead("a", source=["x"])]}, 422, "leads.0.source"),
        ({**LEAD_EXAMPLE, "leads": [_lead("a"), _lead("a")]}, 422, "repeats"),
        ({**LEAD_EXAMPLE, "leads": [_lead(f"x{i}") for i in range(1001)]}, 413, "1,000"),
        ({"opportunities": [{"opportunity_id": "o", "created_at": "2026-01-01", "amount": -5}]}, 422, "amount"),
        ({**LEAD_EXAMPLE, "as_of": "0001-01-01T00:01:00+00:07"}, 422, "as_of"),  # found by the fuzzer: was a 500
        ({**LEAD_EXAMPLE, "as_of": "2300-01-05T09:00:00Z"}, 422, "outside 1900-2200"),
    ],
)
def test_bad_input_is_answered_with_the_field(server: Server, body: dict, status: int, fragment: str) -> None:
    path = "/v1/opportunities/score" if "opportunities" in body else "/v1/leads/score"
    with server.client() as client:
        answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["message"]


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (
            b'{"leads": [{"lead_id": "a", "created_at": "2026-01-01", "activities": '
            b'[{"occurred_at": "2026-01-01", "type": "call", "duration_s": NaN}]}]}',
            422,
        ),
        (
            b'{"leads": [{"lead_id": "a", "created_at": "2026-01-01", "activities": '
            b'[{"occurred_at": "2026-01-01", "type": "call", "duration_s": Infinity}]}]}',
            422,
        ),
        (b"not json at all", 422),
        (b"", 422),
        (b"[1, 2, 3]", 422),
    ],
)
def test_malformed_bodies_are_422_not_5xx(server: Server, raw: bytes, status: int) -> None:
    with server.client() as client:
        answer = client.post("/v1/leads/score", content=raw, headers={"content-type": "application/json"})
    assert answer.status_code == status, answer.text


def test_an_oversized_body_is_413(server: Server) -> None:
    padding = "x" * (33 * 2**20)
    with server.client() as client:
        answer = client.post("/v1/leads/score", content=json.dumps({"leads": [], "pad": padding}).encode())
    assert answer.status_code == 413
    assert "MiB" in answer.json()["message"]


def test_every_scored_item_is_logged_with_its_inputs_hash_and_outputs(server: Server) -> None:
    leads = [_lead(f"logged-{i}") for i in range(3)]
    with server.client() as client:
        answer = client.post("/v1/leads/score", json={**LEAD_EXAMPLE, "leads": leads})
    body = answer.json()
    records = [r for r in read_log(server.log_dir) if r["request_id"] == body["request_id"]]
    assert sorted(r["entity_id"] for r in records) == [f"logged-{i}" for i in range(3)]
    by_id = {r["lead_id"]: r for r in body["results"]}
    for record in records:
        assert record["model"] == "lead_score" and record["model_version"] == "1"
        assert record["probability"] == by_id[record["entity_id"]]["probability"]
        assert record["grade"] == by_id[record["entity_id"]]["grade"]
        assert len(record["input_hash"]) == 64
        assert record["inputs"]["source"] == "referral"
    assert len({r["input_hash"] for r in records}) == 3  # the hash is of each item's own input


def test_calls_at_once_are_answered_as_if_alone(server: Server) -> None:
    """Concurrent calls are scored in shared batches (serving.batching): each answer is the one it gets alone,
    whatever its as-of time and language, and calls repeating another call's lead are answered too."""
    bodies = [
        {
            **LEAD_EXAMPLE,
            "leads": [_lead(f"together-{i % 6}", source=("referral", "web_form")[i % 2])],
            "as_of": f"2026-01-0{5 + i % 3}T09:00:00Z",
            "locale": ("zh-CN", "en")[i % 4 == 0],
        }
        for i in range(12)
    ]

    def results(answer: httpx.Response) -> list[dict]:
        assert answer.status_code == 200, answer.text
        return answer.json()["results"]

    with server.client() as client:
        alone = [results(client.post("/v1/leads/score", json=body)) for body in bodies]
        with ThreadPoolExecutor(12) as pool:
            together = list(pool.map(lambda body: results(client.post("/v1/leads/score", json=body)), bodies))
    assert together == alone
    assert len({json.dumps(r) for r in alone}) > 6  # the calls differ in more than their ids


@pytest.mark.slow  # a server of its own
def test_overload_is_answered_429_not_queued(stores: Stores, tmp_path: Path) -> None:
    """Past SALESML_MAX_CONCURRENCY requests in progress, callers get 429 at once (no unbounded queue)."""
    busy = Server(stores, tmp_path / "log", env={"SALESML_MAX_CONCURRENCY": "1"}).start()
    body = {**LEAD_EXAMPLE, "leads": [_lead(f"busy-{i}") for i in range(200)]}
    try:
        with busy.client() as client, ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: client.post("/v1/leads/score", json=body), range(12)))
    finally:
        busy.stop()
    statuses = Counter(a.status_code for a in answers)
    assert statuses[200] >= 1 and statuses[429] >= 1 and set(statuses) <= {200, 429}, statuses
    assert "retry" in next(a for a in answers if a.status_code == 429).json()["message"]
