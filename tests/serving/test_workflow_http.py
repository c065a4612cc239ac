"""The silent-lead sweep and follow-up quality over real HTTP: the answers ``features.insights.sweep`` and
``features.insights.activity_quality`` give on the same data and champions, refusals a scheduler or CRM can act on,
keys,
and the prediction log; and the CLI commands on the same stores."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset
from features.insights.activity_quality import score_activities
from features.insights.monitoring.outcomes import read_log
from features.insights.sweep import sweep
from features.scoring.pyfunc import CHAMPION, load_registered
from features.scoring.scorer import Scorer
from serving.schemas.workflow import QUALITY_EXAMPLE, SWEEP_EXAMPLE
from tests.helpers import ROOT, assert_one_line_error, salesml
from tests.serving.server import REVOKED, Server, Stores

ENDPOINTS = {"/v1/leads/sweep": SWEEP_EXAMPLE, "/v1/activities/quality": QUALITY_EXAMPLE}


@pytest.fixture(scope="module")
def exported(stores: Stores) -> tuple[Dataset, dict[str, Scorer]]:
    """The data and the champions the service was exported with, to call the features functions directly."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESML_STORE", stores.env["SALESML_STORE"])
        mp.setenv("MLFLOW_TRACKING_URI", stores.env["MLFLOW_TRACKING_URI"])
        scorers = {name: load_registered(name, CHAMPION)[0] for name in ("lead_score", "close_probability")}
    return read_dataset(stores.data), scorers


def test_the_example_files_are_the_documented_examples() -> None:
    """docs/serving.md's curl commands send examples/*.json: they must stay the examples the OpenAPI document shows."""
    for name, example in (("sweep", SWEEP_EXAMPLE), ("activity-quality", QUALITY_EXAMPLE)):
        assert json.loads((ROOT / "examples" / f"{name}.json").read_text(encoding="utf-8")) == example


def test_the_documented_examples_answer(server: Server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    with server.client() as client:
        for path, example in ENDPOINTS.items():
            operation = spec["paths"][path]["post"]
            assert operation["description"] and operation["security"] == [{"bearer": []}]
            assert {"401", "403", "413", "422", "503"} <= set(operation["responses"])
            assert operation["requestBody"]["content"]["application/json"]["schema"]["example"] == example
            answer = client.post(path, json=example)
            assert answer.status_code == 200, answer.text


def test_the_sweep_is_features_sweep_on_the_same_data_and_model(server: Server, exported) -> None:
    ds, scorers = exported
    with server.client() as client:
        body = client.post("/v1/leads/sweep", json={**SWEEP_EXAMPLE, "locale": "zh-CN"}).json()
    expected = sweep(ds, scorers["lead_score"], SWEEP_EXAMPLE["as_of"], SWEEP_EXAMPLE["since"], locale="zh-CN")
    assert body["open_leads"] == expected.open_leads > 0
    assert body["reassign"] == expected.counts()["reassign"]
    got = pd.DataFrame(body["rows"])
    assert got["lead_id"].tolist() == expected.rows["lead_id"].tolist()
    assert got["action"].tolist() == expected.rows["action"].tolist()
    assert got["note"].tolist() == expected.rows["note"].tolist()
    assert got["probability_now"].to_numpy() == pytest.approx(expected.rows["probability_now"].to_numpy())
    assert (got["silent_hours"] >= 24).sum() == body["silent_24h"]


def test_the_sweep_of_named_leads_defaults_to_the_export(server: Server, exported) -> None:
    ds, _ = exported
    with server.client() as client:
        everyone = client.post("/v1/leads/sweep", json={}).json()
        assert everyone["as_of"].startswith(ds.manifest.exported_at.strftime("%Y-%m-%dT%H:%M:%S"))
        named = [row["lead_id"] for row in everyone["rows"][:3]]
        body = client.post("/v1/leads/sweep", json={"lead_ids": named}).json()
    assert [row["lead_id"] for row in body["rows"]] == named


def test_quality_of_a_deal_in_the_history_is_features_quality(server: Server, exported) -> None:
    ds, scorers = exported
    expected = score_activities(ds, scorers["close_probability"])
    deal = expected["entity_id"].value_counts().index[0]
    with server.client() as client:
        body = client.post("/v1/activities/quality", json={"opportunity_id": deal}).json()
    mine = expected[expected["entity_id"] == deal]
    got = pd.DataFrame(body["activities"])
    assert got["activity_id"].tolist() == mine["activity_id"].tolist()
    assert got["score"].tolist() == mine["score"].tolist()
    assert got["p_after"].to_numpy() == pytest.approx(mine["p_after"].to_numpy())
    assert body["counting"] == int(mine["counts"].sum())
    checks = pd.DataFrame(got["checks"].tolist())
    assert checks["attachment"].notna().all()  # the simulator records attachments


def test_quality_of_a_sent_deal(server: Server) -> None:
    with server.client() as client:
        body = client.post("/v1/activities/quality", json=QUALITY_EXAMPLE).json()
    call, demo, visit = body["activities"]
    assert [a["index"] for a in body["activities"]] == [0, 1, 2]
    assert call["checks"]["duration"] is False and demo["checks"]["duration"] is None
    assert demo["checks"] == {"duration": None, "attachment": True, "next_step": True, "note": True}
    assert set(demo["note_keywords"]) == {"go_live_timeline", "data_migration"}
    assert visit["backfilled"] and visit["checks"]["note"] is False and visit["recorded_late_hours"] == 261
    assert demo["score"] > visit["score"] and not visit["counts"]
    assert body["counting"] == sum(a["counts"] for a in body["activities"])


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/leads/sweep", {"as_of": "2025-12-15T00:00:00Z", "since": "2025-12-15T00:00:00Z"}, "before as_of"),
        ("/v1/leads/sweep", {"as_of": "2030-01-01T00:00:00Z"}, "outside the history"),
        ("/v1/leads/sweep", {"since": "2030-01-01T00:00:00Z"}, "before as_of"),
        ("/v1/leads/sweep", {"lead_ids": ["L-nope"]}, "not in the history"),
        ("/v1/leads/sweep", {"locale": "fr"}, "locale"),
        ("/v1/activities/quality", {}, "exactly one"),
        ("/v1/activities/quality", {"lead_id": "L1", "opportunity_id": "O1"}, "exactly one"),
        ("/v1/activities/quality", {"opportunity_id": "O-nope"}, "not in the history"),
        ("/v1/activities/quality", {**QUALITY_EXAMPLE, "as_of": "2025-12-10T00:00:00Z"}, "leak the future"),
    ],
)
def test_bad_requests_are_422_with_the_reason(server: Server, path: str, body: dict, fragment: str) -> None:
    with server.client() as client:
        answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["message"]


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("made-up", 401), (REVOKED, 403)])
def test_keys_are_required(server: Server, key: str | None, status: int) -> None:
    with server.client(key) as client:
        for path, example in ENDPOINTS.items():
            assert client.post(path, json=example).status_code == status


def test_each_call_is_logged_with_its_request_and_answer(server: Server) -> None:
    """Notes (the sweep's too) are in the log as their hashes, the request's and the answer's alike."""
    with server.client() as client:
        for path, example in ENDPOINTS.items():
            body = client.post(path, json=example).json()
            (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == body["request_id"]]
            assert record["endpoint"] == path and record["model_version"] == body["model_version"]
            assert record["answer"] == server.redactor().redact(body)


@pytest.mark.slow  # a salesml process beside the server
def test_the_cli_sweep_writes_what_the_endpoint_answers(server: Server, stores: Stores, tmp_path: Path) -> None:
    out = tmp_path / "sweep.csv"
    args = ("--as-of", SWEEP_EXAMPLE["as_of"], "--since", SWEEP_EXAMPLE["since"], "--locale", "en")
    done = salesml("sweep", "--data", stores.data, *args, "--out", out, env=stores.env)
    assert done.returncode == 0, done.stderr
    with server.client() as client:
        body = client.post("/v1/leads/sweep", json=SWEEP_EXAMPLE).json()
    written = pd.read_csv(out, encoding="utf-8-sig")
    assert written["lead_id"].tolist() == [row["lead_id"] for row in body["rows"]]
    assert written["note"].tolist() == [row["note"] for row in body["rows"]]
    assert f"{body['reassign']:,} to reassign" in done.stdout


@pytest.mark.slow  # a salesml process
def test_the_cli_scores_activities(stores: Stores, tmp_path: Path) -> None:
    out = tmp_path / "quality.csv"
    done = salesml("activities", "score", "--data", stores.data, "--days", "7", "--out", out, env=stores.env)
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out, encoding="utf-8-sig")
    assert len(written) > 0 and written["score"].between(0, 100).all()
    assert (written["counts"] == (written["score"] >= 60)).all()
    assert set(written["entity"]) == {"opportunity"} and "rep actions scored" in done.stdout


@pytest.mark.slow  # salesml processes
@pytest.mark.parametrize(
    ("command", "args", "fragment"),
    [
        (("sweep",), ("--as-of", "2025-12-01", "--since", "2025-12-02"), "must be before"),
        (("activities", "score"), ("--opportunity", "O-nope"), "not in the history"),
    ],
)
def test_cli_user_errors_are_one_line(
    stores: Stores, command: tuple[str, ...], args: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(salesml(*command, "--data", stores.data, *args, env=stores.env), fragment)
