"""The drift done-when: on a simulated CRM whose lead sources and buyer intent change after 2025-07-01, a model trained
on the export of 2025-06-30 is served by the real ``salesml serve``, and a sample of the lead snapshots that came
after is scored through HTTP as a CRM would send them. ``salesml monitor`` on the year-end export must flag the
planted source shift and the fall in realised ROC AUC, and exit 1."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from features.crm.dataset import read_dataset, write_dataset
from features.pit.frames import dataset_as_of, entity_frame
from features.synth import synthesize
from tests.helpers import Stores, lead_request, salesml
from tests.serving.server import Server

pytestmark = pytest.mark.slow

DRIFT, TRAINED_UNTIL = "2025-07-01", pd.Timestamp("2025-06-30", tz="UTC")
LEADS, SEED, CALLS = 6_000, 3, 1_500
SENDERS = 4  # calls in flight at once, as a CRM's workers send them: the service batches them


def test_monitor_flags_planted_drift_through_the_service(tmp_path: Path) -> None:
    full, early = tmp_path / "full", tmp_path / "early"
    synthesize(full, leads=LEADS, seed=SEED, outlier_share=0, drift=DRIFT)
    ds = read_dataset(full)
    write_dataset(dataset_as_of(ds, TRAINED_UNTIL), early)
    stores = Stores.trained_on(tmp_path / "stores", early, trials=2, models=("lead_score",))
    frame = entity_frame(ds, "lead")
    later = frame[frame["cutoff_time"] > TRAINED_UNTIL].sample(CALLS, random_state=0)
    bodies = [
        lead_request(ds, [lead_id], at).model_dump(mode="json")
        for lead_id, at in zip(later["entity_id"], later["cutoff_time"], strict=True)
    ]
    server = Server(stores, tmp_path / "log").start()
    try:
        with server.client() as client, ThreadPoolExecutor(SENDERS) as senders:
            statuses = list(senders.map(lambda body: client.post("/v1/leads/score", json=body).status_code, bodies))
    finally:
        server.stop()
    assert statuses == [200] * CALLS
    out = tmp_path / "monitor.html"
    proc = salesml("monitor", "--data", full, "--log", tmp_path / "log", "--out", out, "--json", env=stores.env)
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    (model,) = summary["models"]
    kinds = {(a["kind"], a["subject"]) for a in summary["alerts"]}
    months = {m["key"]: m["realised"]["roc_auc"] for m in model["months"] if m["realised"]["n"] >= 100}
    print(json.dumps({"realised": model["realised"], "test": model["test"], "months": months, "alerts": sorted(kinds)}))
    assert model["predictions"] == CALLS
    assert ("feature_drift", "source") in kinds
    assert ("auc", "") in kinds
    assert model["realised"]["roc_auc"] < model["test"]["roc_auc"] - model["thresholds"]["auc_drop"]
    assert max(months.values()) < model["test"]["roc_auc"]
