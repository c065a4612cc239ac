"""Shadow scoring on the real service: a copy of the small tier with a lead_score challenger exported beside the
champion, served at ``SALESML_SHADOW_SHARE`` 1 and 0 with the same calls; then ``salesml models compare`` on the
log the first one wrote."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from features.crm.dataset import read_dataset
from features.insights.monitoring.outcomes import SHADOW, read_log
from tests.helpers import lead_request, salesml
from tests.serving.server import Server, Stores

MODEL = "lead_score"
SHADOW_WAIT_S = 30


@pytest.fixture(scope="module")
def shadow_stores(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    copy = small_crm.copy(tmp_path_factory.mktemp("shadow") / "stores")
    assert copy.with_challenger(MODEL) == "2"
    return copy


def bodies(stores: Stores) -> list[dict[str, Any]]:
    """Three calls of the leads open at three times, whose outcomes the history shows (a few converted of each),
    and a single-lead call."""
    ds = read_dataset(stores.data)
    leads = ds.get("leads")
    calls = []
    for quantile in (0.3, 0.5, 0.7):
        as_of = leads["created_at"].quantile(quantile) + pd.Timedelta(days=1)
        resolved = (leads["converted_at"] <= as_of) | (leads["disqualified_at"] <= as_of)
        ids = leads[(leads["created_at"] <= as_of) & ~resolved]["lead_id"].tolist()
        calls.append(lead_request(ds, ids, as_of).model_dump(mode="json"))
    return [*calls, lead_request(ds, ids[:1], as_of).model_dump(mode="json")]


def served(stores: Stores, log: Path, share: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answers of ``calls`` on a server at ``share``; once they are all in, the log's records (the shadow ones
    come after the answers: waited for)."""
    server = Server(stores, log, env={"SALESML_SHADOW_SHARE": share}).start()
    try:
        with server.client() as client:
            answers = [client.post("/v1/leads/score", json=body) for body in calls]
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        expected = sum(len(body["leads"]) for body in calls) * (2 if share == "1" else 1)
        deadline = time.monotonic() + SHADOW_WAIT_S
        while server.scored() < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # a share of 0 would have written its shadow records by now
    finally:
        server.stop()
    return [a.json() for a in answers]


@pytest.mark.slow
def test_shadow_logs_both_versions_and_answers_as_before(shadow_stores: Stores, tmp_path: Path) -> None:
    calls = bodies(shadow_stores)
    shadowed = served(shadow_stores, tmp_path / "log-1", "1", calls)
    plain = served(shadow_stores, tmp_path / "log-0", "0", calls)

    records = [r for r in read_log(tmp_path / "log-1") if r.get("model") == MODEL]
    for answer, body in zip(shadowed, calls, strict=True):
        ids = sorted(lead["lead_id"] for lead in body["leads"])
        mine = [r for r in records if r["request_id"] == answer["request_id"]]
        champion = [r for r in mine if not r.get(SHADOW)]
        challenger = [r for r in mine if r.get(SHADOW)]
        assert sorted(r["entity_id"] for r in champion) == ids
        assert sorted(r["entity_id"] for r in challenger) == ids
        assert {r["model_version"] for r in champion} == {"1"} and {r["model_version"] for r in challenger} == {"2"}
        assert all(r["model_version"] == "1" for r in answer["results"])  # the challenger is never answered
    assert not [r for r in read_log(tmp_path / "log-0") if r.get(SHADOW)]

    def without_ids(answers: list[dict[str, Any]]) -> list[Any]:
        return [a["results"] for a in answers]

    assert without_ids(shadowed) == without_ids(plain)

    compared = salesml(
        "models", "compare", "--model", MODEL, "--log", tmp_path / "log-1", "--json", env=shadow_stores.env
    )
    assert compared.returncode == 0, compared.stderr
    figures = json.loads(compared.stdout)
    items = sum(len(body["leads"]) for body in calls)
    assert figures["pairs"] == items and figures["agreement"] == 1.0  # the challenger is a copy of the champion
    assert sum(sum(row.values()) for row in figures["confusion"].values()) == items
    assert figures["labelled"] >= 300 and figures["realised"]["champion"] == figures["realised"]["challenger"]
    assert figures["difference_95"] == [0.0, 0.0] and not figures["loses"], figures
    assert "ties within noise" in figures["verdict"]
