"""``salesml train --engine dask``: features and the final LightGBM on a cluster (the test's LocalCluster, named by
its address), Optuna on a sample whose size the run records; the registered version (with its window heads where
the spec has them) tests within noise of the local path's on the same data and is scored by the local
``salesml score``; a user's mistake is one line and exit 2."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client
from mlflow.tracking import MlflowClient

from tests.helpers import UNREACHABLE_SCHEDULER, Stores, assert_one_line_error, salesml
from tests.training.test_segments import spec_with
from training.distributed_training import TUNING_SAMPLE_ROWS, tuning_rows

#: How far the Dask path's test ROC AUC may sit from the local path's on the same rows (a different fit: LightGBM
#: across two workers, the local path's chosen candidate refit on every row).
AUC_TOLERANCE = 0.03


@pytest.mark.slow  # a training run on the cluster, then a local scoring run
def test_dask_training_registers_a_model_the_local_path_scores(
    small_crm: Stores, dask_client: Client, tmp_path: Path
) -> None:
    stores = small_crm.copy(tmp_path / "stores")
    trials = str(small_crm.trained["lead_score"].report["tuning"]["trials"])
    proc = salesml(
        "train", "--model", "lead_score", "--data", stores.data, "--trials", trials, "--promote",
        "--engine", "dask", "--scheduler", dask_client.scheduler.address, "--partitions", "4",
        env=stores.env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"Dask scheduler {dask_client.scheduler.address}" in proc.stderr
    assert "fitted on the Dask cluster on the" in proc.stdout
    registered = re.search(r"registered lead_score version (\d+) as champion.*MLflow run (\w+)", proc.stdout)
    assert registered, proc.stdout
    version, run_id = registered.groups()
    uri = stores.env["MLFLOW_TRACKING_URI"]
    run = MlflowClient(tracking_uri=uri, registry_uri=uri).get_run(run_id)
    local = small_crm.trained["lead_score"].report
    train_rows = local["split"]["rows"]["train"]
    assert run.data.params["engine"] == "dask"
    assert int(run.data.params["dask_tuning_sample"]) == min(train_rows, TUNING_SAMPLE_ROWS)
    assert int(run.data.params["dask_train_rows"]) == train_rows
    assert run.data.metrics["test_roc_auc"] == pytest.approx(local["test"]["metrics"]["roc_auc"], abs=AUC_TOLERANCE)

    out = tmp_path / "scores.csv"
    scored = salesml("score", "--model", "lead_score", "--data", stores.data, "--out", out, env=stores.env)
    assert scored.returncode == 0, scored.stderr
    scores = pd.read_csv(out, dtype={"model_version": str})
    assert len(scores) > 0
    assert (scores["model_version"] == version).all()
    assert scores["probability"].between(0, 1).all() and scores["probability"].nunique() > 10


@pytest.mark.slow  # a training run on the cluster with three window heads, then a local scoring run
def test_dask_training_fits_the_window_heads_and_the_local_path_scores_them(
    small_crm: Stores, dask_client: Client, tmp_path: Path
) -> None:
    stores = small_crm.copy(tmp_path / "stores")
    local = small_crm.trained["close_probability"].report
    proc = salesml(
        "train", "--model", "close_probability", "--data", stores.data, "--trials", str(local["tuning"]["trials"]),
        "--promote", "--engine", "dask", "--scheduler", dask_client.scheduler.address, "--partitions", "4",
        env=stores.env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    registered = re.search(r"registered close_probability version (\d+) as champion.*MLflow run (\w+)", proc.stdout)
    assert registered, proc.stdout
    version, run_id = registered.groups()
    uri = stores.env["MLFLOW_TRACKING_URI"]
    run = MlflowClient(tracking_uri=uri, registry_uri=uri).get_run(run_id)
    assert run.data.params["engine"] == "dask"
    assert run.data.metrics["test_roc_auc"] == pytest.approx(local["test"]["metrics"]["roc_auc"], abs=AUC_TOLERANCE)
    for days in (30, 60, 90):  # each head fitted on the cluster on its own label's train rows, tested on its own
        assert int(run.data.params[f"dask_train_rows_{days}d"]) > 0
        assert 0.5 < run.data.metrics[f"test_{days}d_roc_auc"] <= 1

    out = tmp_path / "scores.csv"
    scored = salesml("score", "--model", "close_probability", "--data", stores.data, "--out", out, env=stores.env)
    assert scored.returncode == 0, scored.stderr
    scores = pd.read_csv(out, dtype={"model_version": str})
    assert len(scores) > 0 and (scores["model_version"] == version).all()
    p30, p60, p90, p_win = (scores[column].to_numpy() for column in ("p_30d", "p_60d", "p_90d", "probability"))
    assert (p30 <= p60).all() and (p60 <= p90).all() and (p90 <= p_win).all()
    assert np.unique(p30).size > 10 and (p30 < p90).any()


@pytest.mark.parametrize(
    ("model", "options", "env", "fragment"),
    [
        ("lead_score", ("--workers", "2"), {}, "--workers applies only with --engine dask"),
        ("segmented", ("--engine", "dask"), {}, "segment models (segments) are trained by --engine local only"),
        pytest.param(
            "lead_score",
            ("--engine", "dask"),
            UNREACHABLE_SCHEDULER,
            "Dask scheduler tcp://127.0.0.1:9 unreachable",
            marks=pytest.mark.slow,  # the snapshots are made and Dask loaded before the scheduler is tried
        ),
    ],
)
def test_train_engine_mistakes_are_one_line(
    small_crm: Stores, tmp_path: Path, model: str, options: tuple[str, ...], env: dict[str, str], fragment: str
) -> None:
    stores = small_crm.copy(tmp_path / "stores")
    spec = spec_with(tmp_path, {"by": "region"}) if model == "segmented" else model
    proc = salesml("train", "--model", spec, "--data", stores.data, "--trials", "1", *options, env=stores.env | env)
    assert_one_line_error(proc, fragment)


def test_the_tuning_sample_keeps_every_evaluation_row_and_each_labels_share_of_train() -> None:
    rng = np.random.default_rng(3)
    segment = rng.choice(np.array(["train", "valid", "calib", "test", None], dtype=object), 10_000)
    y = (rng.random(10_000) < 0.1).astype(int)
    kept = tuning_rows(segment, y, 1_000, seed=5)
    train = segment == "train"
    assert kept[~train & (segment != None)].all() and not kept[segment == None].any()  # noqa: E711
    assert (kept & train).sum() == pytest.approx(1_000, abs=1)
    assert y[kept & train].mean() == pytest.approx(y[train].mean(), abs=0.002)
    assert (tuning_rows(segment, y, 1_000, seed=5) == kept).all()
    assert (tuning_rows(segment, y, 1_000, seed=6) != kept).any()
    assert (tuning_rows(segment, y, int(train.sum()), seed=5) == (segment != None)).all()  # noqa: E711
