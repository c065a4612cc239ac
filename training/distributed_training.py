"""Training on Dask (``salesml train --engine dask``): the spec's snapshots and their honest split made here from the
lead and deal tables, their features built on the cluster (``features.pit.distributed``, the local path's family
code), Optuna on a stratified sample of the train split that fits this process, the final LightGBM
(``lightgbm.dask.DaskLGBMClassifier``) on the whole train split where its features were built, brought here
(``to_local``), calibrated on calib and tested on test as ``salesml train`` does, then registered the same way.

This process holds the snapshot frame, the tuning sample and the valid, calib and test splits' features; the train
split's features stay on the workers. The served model is that LightGBM: the local path's other candidates and its
refit on every row need all rows in one process, which is what this engine is for when they no longer fit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import dask
import dask.dataframe as dd
import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from lightgbm.dask import DaskLGBMClassifier

from features.errors import DataError, NotEnoughData
from features.pit.cluster import dask_client
from features.pit.distributed import Tables, distributed_features
from features.scoring.inputs import InputFeature, encode_inputs
from features.scoring.metrics import binary_metrics
from training.candidates import grown_rounds
from training.data import TrainingData, frame_only, labelled_snapshots, split_snapshots
from training.publish import Fitted, TrainResult, register_run
from training.registry import use_local_store
from training.spec import ModelSpec, load_spec
from training.train import Budget, calibrated_scorer, model_matrices, tune_on_valid

#: Train-split rows Optuna tunes on, drawn stratified by label (the whole split when smaller): about 200 MB of
#: features and each trial's LightGBM in one process, and enough rows that the tuned settings carry to the full fit.
TUNING_SAMPLE_ROWS = 50_000
#: Frame columns that tell the cluster each row's part: in the train split; features brought to this process.
IN_TRAIN, KEPT = "_in_train", "_kept"

PROTOCOL = (
    "segments by time (label horizon gap before each; test alone by time when the data are too thin); features "
    "built on a Dask cluster; Optuna on a stratified sample of train, LightGBM fitted on the whole train split on "
    "the cluster (lightgbm.dask), calibrated on calib, tested on test; the served model is that fit (no refit on "
    "every row)"
)


def train_on_dask(
    spec_ref: str | Path,
    data_dir: Path,
    *,
    workers: int,
    scheduler: str | None,
    partitions: int,
    say: Callable[[str], None],
    trials: int | None = None,
    timeout_s: float | None = None,
    promote: bool = False,
    progress: bool = True,
) -> TrainResult:
    """``training.train.train`` with the features and the final fit on a Dask cluster (``dask_client``'s:
    ``workers`` embedded processes, or ``scheduler``), its shuffles in ``partitions`` partitions.

    Raises:
        DataError: as ``train``; also a spec with window heads or segments (trained by ``--engine local`` only),
            too little data for a model (``--engine local`` registers a prior then), an unreachable scheduler.
    """
    spec, spec_text = load_spec(spec_ref)
    _check_supported(spec)
    experiment = use_local_store(spec.name)
    tables = Tables.read(data_dir)
    try:
        data = split_snapshots(labelled_snapshots(spec, tables.local, progress, build=frame_only))
    except NotEnoughData as why:
        raise DataError(f"{why}; --engine local registers a prior model for data this small") from None
    kept = tuning_rows(data, TUNING_SAMPLE_ROWS)
    frame = data.table.assign(**{IN_TRAIN: data.rows("train"), KEPT: kept})
    budget = Budget(trials or spec.tuning.trials, timeout_s or spec.tuning.timeout_s, progress)
    with dask_client(workers, scheduler, say) as client:
        table = distributed_features(tables, data.spec.entity, frame, partitions)  # held while its parts compute
        here = replace(
            data,
            table=table[table[KEPT]].compute().drop(columns=[IN_TRAIN, KEPT]).reset_index(drop=True),
            y=data.y[kept],
            segment=data.segment[kept],
        )
        prepared = model_matrices(here.spec, here)
        features, _, inputs, x, y = prepared
        train_x, train_y = _train_split(table, inputs, data.spec.label)
        with mlflow.start_run(experiment_id=experiment, run_name=f"train-{spec.name}"):
            tuned = tune_on_valid(here, x, y, budget)
            rows = int(data.rows("train").sum())
            rounds = grown_rounds(tuned.best_iteration, len(y["train"]), rows)
            booster = _fit_on_cluster(client, tuned.params, rounds, train_x, train_y)
            scorer, losses = calibrated_scorer(here.spec, inputs, booster, x, y)
            mlflow.log_params({"engine": "dask", "dask_tuning_sample": len(y["train"]), "dask_train_rows": rows})
            test_p = scorer.probability(x["test"])
            weighed = {
                "lightgbm": {
                    "settings": {"rounds": rounds, "train_rows": rows, "tuning_sample": len(y["train"])},
                    "calibration": scorer.calibrator.kind,
                    "test": binary_metrics(y["test"], test_p),
                    "test_distinct": int(len(np.unique(test_p))),
                    "calib_log_loss": float(losses.mean()),
                    "vs_default": 0.0,
                    "se": 0.0,
                }
            }
            refit = {
                "rows": rows,
                "positives": int(data.y[data.rows("train")].sum()),
                "folds": 0,
                "calibration": scorer.calibrator.kind,
                "trained_until": str(data.table.loc[data.rows("train"), "cutoff_time"].max()),
                "new_levels": {},
                "engine": "dask",
                "tuning_sample": len(y["train"]),
            }
            oof = scorer.probability(x["calib"])
            fitted = Fitted(tuned, "lightgbm", scorer, weighed, scorer, oof, refit, PROTOCOL)
            return register_run(here, prepared, spec_text, fitted, promote)


def _check_supported(spec: ModelSpec) -> None:
    if spec.window_heads_days:
        raise DataError(
            f"{spec.name}: window heads (window_heads_days) are trained by --engine local only; "
            "use it, or a copy of the spec with window_heads_days: []"
        )
    if spec.segments is not None:
        raise DataError(f"{spec.name}: segment models (segments) are trained by --engine local only")


def tuning_rows(data: TrainingData, sample: int) -> np.ndarray:
    """Which rows this process gets features for: every valid, calib and test row, and of the train split a sample
    of ``sample`` rows stratified by label (seeded by the spec's split seed), or all of it when smaller."""
    train = data.rows("train")
    kept = data.rows("valid") | data.rows("calib") | data.rows("test")
    if train.sum() <= sample:
        return kept | train
    rng = np.random.default_rng(data.spec.split.seed)
    for label in (0, 1):
        members = np.flatnonzero(train & (data.y == label))
        take = int(round(sample * len(members) / train.sum()))
        kept[rng.choice(members, size=take, replace=False)] = True
    return kept


def _train_split(table: dd.DataFrame, inputs: list[InputFeature], label: str) -> tuple[dd.DataFrame, dd.Series]:
    """The train split's encoded inputs and labels on the workers, its empty partitions left out (LightGBM's
    workers each need rows)."""
    train = table[table[IN_TRAIN]].persist()
    sizes = dask.compute(*(dask.delayed(len)(part) for part in train.to_delayed()))
    parts = [part for part, size in zip(train.to_delayed(), sizes, strict=True) if size]
    meta = encode_inputs(inputs, table._meta)[0]
    x = dd.from_delayed([dask.delayed(_encoded)(part, inputs) for part in parts], meta=meta, verify_meta=False)
    y = dd.from_delayed([dask.delayed(_labels)(part, label) for part in parts], meta=pd.Series([], dtype=int))
    return x, y


def _encoded(part: pd.DataFrame, inputs: list[InputFeature]) -> pd.DataFrame:
    return encode_inputs(inputs, part)[0]


def _labels(part: pd.DataFrame, label: str) -> pd.Series:
    return pd.Series(part[label].to_numpy(dtype=int))


def _fit_on_cluster(
    client: object, params: dict[str, object], rounds: int, x: dd.DataFrame, y: dd.Series
) -> lgb.Booster:
    """LightGBM fitted by the workers on the partitions they hold, as one model here."""
    threads = ("num_threads", "n_jobs")  # lightgbm.dask gives each worker its own threads
    model = DaskLGBMClassifier(
        client=client, n_estimators=rounds, **{k: v for k, v in params.items() if k not in threads}
    )
    return model.fit(x, y).to_local().booster_
