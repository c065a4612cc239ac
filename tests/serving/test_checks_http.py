"""``POST /v1/checks`` over real HTTP: duplicates among the sent records and against the history the service holds,
a deal against its rep's recent deals, the answer equal to ``features.crm.checks`` on the history with the records
added, refusals a CRM can act on, keys, and the prediction log."""

from __future__ import annotations

import pandas as pd
import pytest

from features.crm.checks import check_dataset
from features.crm.dataset import Dataset, conform, read_dataset
from features.insights.monitoring.outcomes import read_log
from serving.schemas.checks import CHECKS_EXAMPLE
from tests.serving.server import REVOKED, Server, Stores

AS_OF = "2025-12-30T12:00:00Z"


@pytest.fixture(scope="module")
def history(stores: Stores) -> Dataset:
    return read_dataset(stores.data)


def _post(server: Server, body: dict, key: str | None = None) -> tuple[int, dict]:
    with server.client(*([key] if key else [])) as client:
        answer = client.post("/v1/checks", json=body)
    return answer.status_code, answer.json()


def test_the_documented_example_finds_its_duplicate_pair(server: Server) -> None:
    status, body = _post(server, CHECKS_EXAMPLE)
    assert status == 200, body
    pairs = {(f["record_id"], f["other_record_id"]) for f in body["findings"] if f["rule"] == "duplicate_lead"}
    assert pairs == {("L-2026-0108", "L-2026-0107")}
    assert "entered by different reps" in body["findings"][0]["evidence"]
    assert set(body["rules"]) == {"duplicate_lead", "duplicate_account", "outlier_amount", "discount_over_authority"}


def test_records_that_find_nothing_get_an_empty_list(server: Server) -> None:
    """Before the history begins nothing can be found: no findings, not a server error."""
    status, body = _post(server, {"as_of": "2000-01-01T00:00:02Z", "accounts": [{"account_id": "A-NEW", "phone": ""}]})
    assert status == 200, body
    assert body["findings"] == []


def test_a_lead_typed_again_by_another_rep_matches_the_history(server: Server, history: Dataset) -> None:
    original = history.get("leads").dropna(subset=["phone", "company_name"]).iloc[10]
    typed = {
        "lead_id": "NEW-1",
        "created_at": AS_OF,
        "company_name": original["company_name"].upper().replace(" CO., LTD.", "有限公司"),
        "phone": "+86 " + original["phone"],
        "owner_rep_id": "R9999",
    }
    status, body = _post(server, {"as_of": AS_OF, "leads": [typed]})
    assert status == 200, body
    matches = [f for f in body["findings"] if f["rule"] == "duplicate_lead"]
    assert original["lead_id"] in {f["other_record_id"] for f in matches}
    assert all(f["record_id"] == "NEW-1" for f in matches)


def test_the_answer_is_features_checks_on_the_history_with_the_records_added(server: Server, history: Dataset) -> None:
    deals = history.get("opportunities")
    rep = deals["owner_rep_id"].value_counts().index[0]
    recent = deals[(deals["owner_rep_id"] == rep) & (deals["created_at"] > pd.Timestamp(AS_OF) - pd.Timedelta(days=91))]
    sent = [
        {"opportunity_id": "BIG", "created_at": AS_OF, "owner_rep_id": rep, "amount": 50 * recent["amount"].max()},
        {"opportunity_id": "SMALL", "created_at": AS_OF, "owner_rep_id": rep, "amount": 1.0, "discount": 0.9},
    ]
    status, body = _post(server, {"as_of": AS_OF, "opportunities": sent})
    assert status == 200, body
    rows = conform("opportunities", pd.DataFrame(sent))
    merged = Dataset(history.manifest, history.tables | {"opportunities": pd.concat([deals, rows], ignore_index=True)})
    expected = check_dataset(merged, pd.Timestamp(AS_OF)).findings
    expected = expected[expected["record_id"].isin(["BIG", "SMALL"])]
    got = pd.DataFrame(body["findings"])
    assert sorted(zip(got["rule"], got["record_id"], got["action"], strict=True)) == sorted(
        zip(expected["rule"], expected["record_id"], expected["action"], strict=True)
    )
    assert ("outlier_amount", "BIG") in set(zip(got["rule"], got["record_id"], strict=True))
    assert ("discount_over_authority", "SMALL", "block") in set(
        zip(got["rule"], got["record_id"], got["action"], strict=True)
    )


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({}, 422, "at least one"),
        ({"as_of": AS_OF, "leads": [{"lead_id": "L1", "created_at": "2026-02-01T00:00:00Z"}]}, 422, "after as_of"),
        ({"leads": [{"lead_id": "L1", "created_at": AS_OF}] * 2}, 422, "repeats"),
        ({"similarity": 1.5, "leads": [{"lead_id": "L1", "created_at": AS_OF}]}, 422, "similarity"),
        ({"opportunities": [{"opportunity_id": "O", "created_at": AS_OF, "discount": 2}]}, 422, "discount"),
        ({"accounts": [{"account_id": f"C{i}"} for i in range(1001)]}, 413, "1,000"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(server: Server, body: dict, status: int, fragment: str) -> None:
    got, answer = _post(server, body)
    assert got == status, answer
    assert fragment in answer["message"]


@pytest.mark.parametrize(("key", "status"), [("", 401), ("wrong", 401), (REVOKED, 403)])
def test_keys_are_required(server: Server, key: str, status: int) -> None:
    with server.client(key or None) as client:
        assert client.post("/v1/checks", json=CHECKS_EXAMPLE).status_code == status


def test_each_call_is_logged_with_its_records_and_findings(server: Server) -> None:
    status, body = _post(server, CHECKS_EXAMPLE)
    assert status == 200
    (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == body["request_id"]]
    assert record["endpoint"] == "/v1/checks"
    assert record["request"]["leads"] == ["L-2026-0107", "L-2026-0108"]
    assert record["findings"] == body["findings"]
