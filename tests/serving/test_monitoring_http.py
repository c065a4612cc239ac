"""``GET /v1/monitoring`` and the monitoring gauges on the real service: leads scored as of a time whose label window
has closed in the service's history come back labelled, the summary is ``salesml monitor``'s, and ``/metrics``
carries the model's gauges after it, also once another server of the same store has started (BentoML empties its
store's one metrics directory at every start: each salesml server keeps its own)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pandas as pd
import pytest

from features.crm.dataset import read_dataset
from tests.helpers import lead_request
from tests.serving.server import Server


def gauge(metrics: str, name: str) -> float | None:
    found = re.search(rf'^{name}{{model="lead_score"}} (\S+)$', metrics, re.M)
    return float(found[1]) if found else None


@pytest.mark.slow  # a second server started and stopped
def test_monitoring_answers_the_summary_and_sets_the_gauges(server: Server, tmp_path: Path) -> None:
    ds = read_dataset(server.stores.data)
    leads = ds.get("leads")
    as_of = leads["created_at"].quantile(0.5) + pd.Timedelta(days=1)
    resolved = (leads["converted_at"] <= as_of) | (leads["disqualified_at"] <= as_of)
    open_then = leads[(leads["created_at"] <= as_of) & ~resolved]
    ids = open_then.sort_values("created_at")["lead_id"].tail(300).tolist()
    assert httpx.get(f"{server.url}/v1/monitoring").status_code == 401
    with server.client() as client:
        scored = client.post("/v1/leads/score", json=lead_request(ds, ids, as_of).model_dump(mode="json"))
        assert scored.status_code == 200
        answer = client.get("/v1/monitoring")
        assert answer.status_code == 200
        summary = answer.json()
        metrics = client.get("/metrics").text
    model = next(m for m in summary["models"] if m["model"] == "lead_score")
    assert model["predictions"] >= len(ids) and model["labelled"] >= len(ids)
    assert 0.5 < model["realised"]["roc_auc"] <= 1 and model["drift"]["features"]
    assert {"alerts", "as_of", "models"} <= set(summary)
    for name in ("salesml_model_age_days", "salesml_live_auc", "salesml_drift_alerts"):
        assert gauge(metrics, name) is not None, name
    assert gauge(metrics, "salesml_model_age_days") == model["age_days"]
    other = Server(server.stores, tmp_path / "log").start()
    other.stop()
    with server.client() as client:
        assert gauge(client.get("/metrics").text, "salesml_model_age_days") == model["age_days"]
