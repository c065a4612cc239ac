"""Segment models through export and the real service: a copy of the small tier with a lead_score segment champion
registered for one region (the global model's copy marked as that segment's, so that the answers can only tell them
apart by the routing), exported with ``salesml export`` and served; then the same through ``salesml score``."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import read_dataset
from features.scoring.segments import segment_model_name
from tests.helpers import lead_request, salesml
from tests.serving.server import Server, Stores

pytestmark = pytest.mark.slow  # trains a segment champion, exports and serves it

MODEL = "lead_score"


def register_segment_champion(stores: Stores, region: str, constant: float | None = None) -> str:
    """The global champion's copy registered as ``region``'s segment model, aliased champion; its name. With
    ``constant``, its calibration answers that probability for every row, so that its scores tell it apart."""
    import mlflow

    from features.scoring.pyfunc import CHAMPION
    from features.scoring.scorer import Calibrator
    from training.registry import load_scorer, log_scorer, set_alias, use_local_store

    name = segment_model_name(MODEL, "region", region)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in stores.env.items():
            mp.setenv(key, value)
        mlflow.set_tracking_uri(stores.env["MLFLOW_TRACKING_URI"])
        mlflow.set_registry_uri(stores.env["MLFLOW_TRACKING_URI"])
        experiment = use_local_store(MODEL)
        scorer, _ = load_scorer(MODEL)
        segment = copy.deepcopy(scorer)
        segment.model_name = name
        segment.metadata = {**scorer.metadata, "segment": {"by": "region", "column": "region", "value": region}}
        if constant is not None:
            segment.calibrator = Calibrator("sigmoid", a=0.0, b=float(np.log(constant / (1 - constant))))
        example = scorer.training_reference[scorer.feature_names].head(5).reset_index(drop=True)
        with mlflow.start_run(experiment_id=experiment):
            version = log_scorer(segment, example)
        set_alias(name, CHAMPION, version, "test", "test")
    return name


@pytest.fixture(scope="module")
def segment_stores(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, str, str]:
    stores = small_crm.copy(tmp_path_factory.mktemp("segments") / "stores")
    region = str(read_dataset(stores.data).get("leads")["region"].mode()[0])
    name = register_segment_champion(stores, region)
    exported = salesml("export", "--data", stores.data, env=stores.env)
    assert exported.returncode == 0, exported.stderr
    return stores, region, name


def test_service_routes_each_lead_to_its_segments_champion(
    segment_stores: tuple[Stores, str, str], tmp_path: Path
) -> None:
    stores, region, name = segment_stores
    ds = read_dataset(stores.data)
    leads = ds.get("leads")
    as_of = leads["created_at"].quantile(0.6) + pd.Timedelta(days=1)
    open_leads = leads[leads["created_at"] <= as_of].tail(40)
    body = lead_request(ds, open_leads["lead_id"].tolist(), as_of).model_dump(mode="json")
    server = Server(stores, tmp_path / "log").start()
    try:
        with server.client() as client:
            models = client.get("/v1/models").json()["models"]
            answer = client.post("/v1/leads/score", json=body)
    finally:
        server.stop()
    listed = {m["name"]: m["segment"] for m in models}
    assert listed[name] == {"by": "region", "column": "region", "value": region}
    assert listed[MODEL] is None
    assert answer.status_code == 200, answer.text
    regions = open_leads.set_index("lead_id")["region"]
    results = answer.json()["results"]
    assert {regions[r["lead_id"]] == region for r in results} == {True, False}  # both kinds of lead were sent
    for result in results:
        mine = regions[result["lead_id"]] == region
        assert result["model"] == (name if mine else MODEL)
        assert result["segment"] == (region if mine else None)


def test_score_routes_the_same_way(segment_stores: tuple[Stores, str, str], tmp_path: Path) -> None:
    stores, region, name = segment_stores
    out = tmp_path / "scores.csv"
    scored = salesml("score", "--model", MODEL, "--data", stores.data, "--out", out, env=stores.env)
    assert scored.returncode == 0, scored.stderr
    rows = pd.read_csv(out)
    regions = read_dataset(stores.data).get("leads").set_index("lead_id")["region"]
    mine = rows["entity_id"].map(regions).eq(region)
    assert mine.any() and (~mine).any()
    assert (rows.loc[mine, "model"] == name).all() and (rows.loc[mine, "segment"] == region).all()
    assert (rows.loc[~mine, "model"] == MODEL).all() and rows.loc[~mine, "segment"].isna().all()
