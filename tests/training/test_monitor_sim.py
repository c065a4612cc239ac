"""``salesml monitor`` on a simulated CRM without drift: a model trained on the export as of mid-2025 scores the leads
that came after (the snapshots training makes, scored as the service scores them, in its prediction log); the real
command then runs on an export from a month later (no label yet) and on the year-end export (labels arrived)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset, write_dataset
from features.crm.privacy import Redactor, personal_fields
from features.pit.build import build_features
from features.pit.frames import dataset_as_of, entity_frame
from features.synth import synthesize
from serving.predlog import PredictionLog
from serving.results import model_inputs
from serving.store import Exported
from tests.helpers import Stores, salesml, train_in_store

pytestmark = pytest.mark.slow

TRAINED_UNTIL = pd.Timestamp("2025-06-30", tz="UTC")
LEADS, SEED = 6_000, 3
#: Estimated ROC AUC before the labels arrive, against the realised one after (the done-when figure).
ESTIMATE_TOLERANCE = 0.03


def log_predictions(ds: Dataset, stores: Stores, log: Path) -> int:
    """Every lead snapshot after the training cutoff scored by the champion and logged as the service logs it."""
    scorer = stores.trained["lead_score"].scorer
    frame = entity_frame(ds, "lead")
    frame = frame[frame["cutoff_time"] > TRAINED_UNTIL][["entity_id", "cutoff_time"]].reset_index(drop=True)
    table = build_features(ds, "lead", frame)
    scores = scorer.predict(table)
    inputs = model_inputs(table, Exported(scorer, {}))
    head = {"model": "lead_score", "model_version": stores.trained["lead_score"].version, "endpoint": "/v1/leads/score"}
    PredictionLog(log, Redactor(b"monitor-test-key-0123", personal_fields(ds.manifest))).append(
        [
            {**head, "entity_id": e, "as_of": t.isoformat(), "probability": p, "grade": g, "warnings": [], "inputs": i}
            for e, t, p, g, i in zip(
                frame["entity_id"], frame["cutoff_time"], scores["probability"], scores["grade"], inputs, strict=True
            )
        ]
    )
    return len(frame)


def monitored(stores: Stores, data: Path, log: Path, out: Path, *args: str) -> tuple[int, dict]:
    proc = salesml("monitor", "--data", data, "--log", log, "--out", out, "--json", *args, env=stores.env)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_monitor_without_drift(tmp_path: Path) -> None:
    full = tmp_path / "full"
    synthesize(full, leads=LEADS, seed=SEED, outlier_share=0)
    ds = read_dataset(full)
    early, later = tmp_path / "early", tmp_path / "later"
    write_dataset(dataset_as_of(ds, TRAINED_UNTIL), early)
    write_dataset(dataset_as_of(ds, TRAINED_UNTIL + pd.Timedelta(days=30)), later)
    stores = Stores(tmp_path, early, {"lead_score": train_in_store(tmp_path / "mlflow", "lead_score", early, 2)})
    assert stores.trained["lead_score"].promoted
    log = tmp_path / "log"
    logged = log_predictions(ds, stores, log)

    code, before = monitored(stores, later, log, tmp_path / "before.html", "--locale", "en")
    (model,) = before["models"]
    assert code == 0 and before["alerts"] == []
    assert model["predictions"] == logged and model["labelled"] == 0
    assert model["estimated"]["n"] == logged

    code, after = monitored(stores, full, log, tmp_path / "after.html")
    (model,) = after["models"]
    assert code == 0, after["alerts"]
    assert after["alerts"] == []
    assert model["labelled"] > 0.8 * logged
    assert not any(r["flags"] for r in model["slices"]) and not any(m["flags"] for m in model["months"])
    assert not any(f["drifted"] for f in model["drift"]["features"]) and not model["drift"]["score"]["drifted"]
    guess, truth = before["models"][0]["estimated"]["roc_auc"], model["realised"]["roc_auc"]
    print(f"estimated ROC AUC {guess:.4f} a month in, realised {truth:.4f} at the year end")
    assert abs(guess - truth) < ESTIMATE_TOLERANCE
    page = (tmp_path / "after.html").read_text(encoding="utf-8")
    assert "模型线上质量" in page and "无告警" in page
    assert "Live model quality" in (tmp_path / "before.html").read_text(encoding="utf-8")
