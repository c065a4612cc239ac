"""``GET /v1/leads/{lead_id}/trend`` and ``GET /v1/opportunities/{opportunity_id}/trend`` over real HTTP: the
served champion's history of a lead and a deal is the one ``features.insights.trend`` computes with that champion,
an unknown id is 404 with a one-line message, a key is required, and every answer is in the prediction log."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from features.crm.dataset import read_dataset
from features.insights.monitoring.outcomes import read_log
from features.insights.trend import TREND_POINTS, entity_trend
from features.pit.frames import scoring_frame
from tests.serving.server import KEY, REVOKED, Server, Stores

ROUTES = {
    "lead": ("/v1/leads/{lead_id}/trend", "lead_score"),
    "opportunity": ("/v1/opportunities/{opportunity_id}/trend", "close_probability"),
}


def _path(entity: str, entity_id: str) -> str:
    return ROUTES[entity][0].format(**{f"{entity}_id": entity_id})


@pytest.mark.parametrize("entity", list(ROUTES))
def test_the_history_of_an_open_entity_is_the_champions(server: Server, stores: Stores, entity: str) -> None:
    ds = read_dataset(stores.data)
    at = ds.manifest.exported_at
    frame = scoring_frame(ds, entity, at)
    created = frame.merge(ds.get("leads" if entity == "lead" else "opportunities"), left_on="entity_id",
                          right_on=f"{entity}_id")["created_at"]  # fmt: skip
    entity_id = str(frame["entity_id"][(created < at - pd.Timedelta(days=21)).to_numpy()].iloc[0])
    model = ROUTES[entity][1]
    with server.client() as client:
        answer = client.get(_path(entity, entity_id), headers={"X-Request-ID": f"trend-{entity}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    expected = entity_trend(ds, stores.trained[model].scorer, entity_id, at)
    assert (body["model"], body["entity"], body["entity_id"]) == (model, entity, entity_id)
    assert pd.Timestamp(body["as_of"]) == at and body["closed_at"] is None
    assert [pd.Timestamp(p["cutoff_time"]) for p in body["points"]] == expected.points["cutoff_time"].tolist()
    assert [p["probability"] for p in body["points"]] == pytest.approx(expected.points["probability"].tolist())
    assert body["probability"] == pytest.approx(expected.probability)
    assert body["p_7d_ago"] == pytest.approx(expected.p_7d_ago) and body["trend"] == expected.label
    assert body["threshold_points"] == TREND_POINTS and str(int(TREND_POINTS)) in body["rule"]
    logged = {r["request_id"]: r for r in read_log(server.log_dir)}[f"trend-{entity}"]
    assert logged["status"] == 200 and logged["request"] == {f"{entity}_id": entity_id}
    assert logged["answer"]["points"] == body["points"]


@pytest.mark.parametrize("entity", list(ROUTES))
def test_an_unknown_id_is_404_with_one_line(server: Server, entity: str) -> None:
    with server.client() as client:
        answer = client.get(_path(entity, "no-such-id"))
    assert answer.status_code == 404
    message = answer.json()["message"]
    assert "no-such-id" in message and "\n" not in message and "Traceback" not in message


def test_an_id_no_route_takes_is_a_json_404_too(server: Server) -> None:
    with server.client() as client:
        answer = client.get("/v1/opportunities/%0A/trend")  # a line break: the /v1 mount takes no such path
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("application/json")
    assert answer.json()["message"]


def test_a_key_is_required(server: Server, stores: Stores) -> None:
    deal = str(read_dataset(stores.data).get("opportunities")["opportunity_id"].iloc[0])
    for key, status in ((None, 401), ("made-up-key", 401), (REVOKED, 403), (KEY, 200)):
        with server.client(key=key) as client:
            assert client.get(f"/v1/opportunities/{deal}/trend").status_code == status, key
            assert client.get("/v1/leads/no-such-id/trend").status_code == (404 if key == KEY else status)


def test_the_routes_are_documented(server: Server) -> None:
    paths = httpx.get(f"{server.url}/docs.json").json()["paths"]
    for path, _ in ROUTES.values():
        operation = paths[path]["get"]
        assert operation["description"] and {"200", "401", "403", "404"} <= set(operation["responses"])
        assert operation["security"] == [{"bearer": []}]
