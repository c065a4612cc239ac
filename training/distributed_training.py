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

import dask.dataframe as dd
import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from distributed import Client
from lightgbm.dask import DaskLGBMClassifier

from features.errors import DataError, NotEnoughData
from features.pit.cluster import dask_client
from features.pit.distributed import Tables, distributed_features
from features.scoring.inputs import InputFeature, encode_inputs
from features.scoring.metrics import binary_metrics
from training.candidates import grown_rounds
from training.data import TrainingData, frame_only, labelled_snapshots, split_snapshots
from training.publish import Fitted, Prepared, TrainResult, register_run
from training.registry import use_local_store
from training.spec import load_spec, require_dask_trainable
from training.train import Budget, calibrated_scorer, model_matrices, tune_on_valid

#: Train-split rows Optuna tunes on, drawn stratified by label (the whole split when smaller): 36 MB of encoded
#: inputs for lead_score's 90 features, a trial in seconds in one process, and enough rows that the tuned settings
#: carry to the full fit.
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
    require_dask_trainable(spec)
    experiment = use_local_store(spec.name)
    tables = Tables.read(data_dir)
    try:
        data = split_snapshots(labelled_snapshots(spec, tables.local, progress, build=frame_only))
    except NotEnoughData as why:
        raise DataError(f"{why}; --engine local registers a prior model for data this small") from None
    kept = tuning_rows(data.segment, data.y, TUNING_SAMPLE_ROWS, spec.split.seed)
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
        train_x, train_y = _train_split(client, table, prepared[2], data.spec.label)
        with mlflow.start_run(experiment_id=experiment, run_name=f"train-{spec.name}"):
            fitted = _fit(client, data, here, prepared, (train_x, train_y), budget)
            return register_run(here, prepared, spec_text, fitted, promote)


def _fit(
    client: Client,
    data: TrainingData,
    here: TrainingData,
    prepared: Prepared,
    train: tuple[dd.DataFrame, dd.Series],
    budget: Budget,
) -> Fitted:
    """Optuna on the sample (``here``'s train rows), the tuned LightGBM on the whole train split (``train``, on the
    cluster) with its trees grown in proportion, calibrated on calib: what ``register_run`` tests and registers."""
    _, _, inputs, x, y = prepared
    sample, rows = len(y["train"]), int(data.rows("train").sum())
    tuned = tune_on_valid(here, x, y, budget)
    rounds = grown_rounds(tuned.best_iteration, sample, rows)
    booster = _fit_on_cluster(client, tuned.params, rounds, *train)
    scorer, losses = calibrated_scorer(here.spec, inputs, booster, x, y)
    mlflow.log_params({"engine": "dask", "dask_tuning_sample": sample, "dask_train_rows": rows})
    test_p = scorer.probability(x["test"])
    summary = {
        "settings": {"rounds": rounds, "train_rows": rows, "tuning_sample": sample},
        "calibration": scorer.calibrator.kind,
        "test": binary_metrics(y["test"], test_p),
        "test_distinct": int(len(np.unique(test_p))),
        "calib_log_loss": float(losses.mean()),
        "vs_default": 0.0,  # the only candidate
        "se": 0.0,
    }
    served = {
        "rows": rows,
        "positives": int(data.y[data.rows("train")].sum()),
        "folds": 0,
        "calibration": scorer.calibrator.kind,
        "trained_until": str(data.table.loc[data.rows("train"), "cutoff_time"].max()),
        "new_levels": {},
        "engine": "dask",
        "tuning_sample": sample,
    }
    calib_p = scorer.probability(x["calib"])  # the gate's distinct-values check, as the refit's out-of-fold values
    return Fitted(tuned, "lightgbm", scorer, {"lightgbm": summary}, scorer, calib_p, served, PROTOCOL)


def tuning_rows(segment: np.ndarray, y: np.ndarray, sample: int, seed: int) -> np.ndarray:
    """Which rows this process gets features for: every valid, calib and test row, and of the train rows a sample
    of ``sample`` stratified by label (each label's share kept, drawn with ``seed``), or all of them when fewer."""
    train = segment == "train"
    kept = (segment == "valid") | (segment == "calib") | (segment == "test")  # None: a gap, used by no fit here
    if train.sum() <= sample:
        return kept | train
    rng = np.random.default_rng(seed)
    for label in np.unique(y[train]):
        members = np.flatnonzero(train & (y == label))
        kept[rng.choice(members, size=int(round(sample * len(members) / train.sum())), replace=False)] = True
    return kept


def _train_split(
    client: Client, table: dd.DataFrame, inputs: list[InputFeature], label: str
) -> tuple[dd.DataFrame, dd.Series]:
    """The train split's encoded inputs and labels on the workers, one part a worker: its partitions dealt round the
    workers in turn (in address order) and joined where they were dealt, so that each worker's rows and their order
    depend only on the partitions and the cluster's size (LightGBM's workers each grow bins from the rows they
    hold)."""
    parts = client.compute(table[table[IN_TRAIN]].to_delayed())
    workers = sorted(client.scheduler_info()["workers"])
    dealt = [(worker, parts[number :: len(workers)]) for number, worker in enumerate(workers) if number < len(parts)]
    x, y = [], []
    for worker, held in dealt:
        joined = client.submit(_joined, held, workers=[worker], allow_other_workers=False)
        x.append(client.submit(_encoded, joined, inputs, workers=[worker], allow_other_workers=False))
        y.append(client.submit(_labels, joined, label, workers=[worker], allow_other_workers=False))
    sizes = client.gather([client.submit(len, part) for part in y])
    x, y = [p for p, n in zip(x, sizes, strict=True) if n], [p for p, n in zip(y, sizes, strict=True) if n]
    meta = encode_inputs(inputs, table._meta)[0]
    return dd.from_delayed(x, meta=meta, verify_meta=False), dd.from_delayed(y, meta=pd.Series([], dtype=int))


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


def _encoded(part: pd.DataFrame, inputs: list[InputFeature]) -> pd.DataFrame:
    return encode_inputs(inputs, part)[0]


def _labels(part: pd.DataFrame, label: str) -> pd.Series:
    return pd.Series(part[label].to_numpy(dtype=int))


def _fit_on_cluster(
    client: Client, params: dict[str, object], rounds: int, x: dd.DataFrame, y: dd.Series
) -> lgb.Booster:
    """LightGBM fitted by the workers on the partitions they hold, as one model here."""
    threads = ("num_threads", "n_jobs")  # lightgbm.dask gives each worker its own threads
    model = DaskLGBMClassifier(
        client=client, n_estimators=rounds, **{k: v for k, v in params.items() if k not in threads}
    )
    return model.fit(x, y).to_local().booster_
