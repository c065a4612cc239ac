"""Training on Dask (``salesml train --engine dask``): the spec's snapshots and their honest split made here from the
lead and deal tables, their features built once on the cluster (``features.pit.distributed``, the local path's
family code) for every snapshot some fit needs, Optuna on a stratified sample of the train split that fits this
process, the final LightGBM (``lightgbm.dask.DaskLGBMClassifier``) on the whole train split where its features were
built, brought here (``to_local``), calibrated on calib and tested on test as ``salesml train`` does, then
registered the same way. Window heads (``window_heads_days``) are fitted the same way on their own labels' rows.

This process holds the snapshot frame, the tuning samples and the valid, calib and test splits' features; the train
splits' features stay on the workers. The served model is that LightGBM: the local path's other candidates and its
refit on every row need all rows in one process, which is what this engine is for when they no longer fit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dask.dataframe as dd
import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from distributed import Client, Future
from lightgbm.dask import DaskLGBMClassifier

from features.errors import DataError, NotEnoughData
from features.pit.cluster import dask_client
from features.pit.distributed import Tables, distributed_features
from features.scoring.inputs import InputFeature, encode_inputs
from features.scoring.metrics import binary_metrics
from features.scoring.scorer import Head
from training.candidates import grown_rounds
from training.data import SNAPSHOT, TrainingData, WindowRows, frame_only, labelled_snapshots, split_snapshots
from training.publish import Fitted, Prepared, TrainResult, calibrated_head, head_matrices, register_run
from training.registry import use_local_store
from training.spec import load_spec, require_dask_trainable
from training.train import Budget, calibrated_scorer, model_matrices, tune_on_valid
from training.tune import fit_booster

#: Train-split rows Optuna tunes on, drawn stratified by label (the whole split when smaller): 36 MB of encoded
#: inputs for lead_score's 90 features, a trial in seconds in one process, and enough rows that the tuned settings
#: carry to the full fit.
TUNING_SAMPLE_ROWS = 50_000
#: The frame column that marks the snapshots whose features this process gets.
KEPT = "_kept"

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
    """``training.train.train`` with the features and the final fits on a Dask cluster (``dask_client``'s:
    ``workers`` embedded processes, or ``scheduler``), its shuffles in ``partitions`` partitions.

    Raises:
        DataError: as ``train``; also a spec with segments (trained by ``--engine local`` only), too little data
            for a model (``--engine local`` registers a prior then), an unreachable scheduler.
    """
    spec, spec_text = load_spec(spec_ref)
    require_dask_trainable(spec)
    experiment = use_local_store(spec.name)
    tables = Tables.read(data_dir)
    try:
        data = split_snapshots(labelled_snapshots(spec, tables.local, progress, build=frame_only))
    except NotEnoughData as why:
        raise DataError(f"{why}; --engine local registers a prior model for data this small") from None
    seed = spec.split.seed
    kept = tuning_rows(data.segment, data.y, TUNING_SAMPLE_ROWS, seed)
    heads_kept = {
        days: tuning_rows(rows.segment, rows.table[f"label_{days}d"].to_numpy(dtype=int), TUNING_SAMPLE_ROWS, seed)
        for days, rows in data.windows.items()
    }
    frame = _marked_snapshots(data, kept, heads_kept)
    budget = Budget(trials or spec.tuning.trials, timeout_s or spec.tuning.timeout_s, progress)
    with dask_client(workers, scheduler, say) as client:
        table = distributed_features(tables, data.spec.entity, frame, partitions)  # held while its parts compute
        cluster = Cluster(client, client.compute(table.to_delayed()), table._meta)
        gathered = pd.concat(client.gather(client.map(_marked, cluster.parts, marker=KEPT)), ignore_index=True)
        marks = [column for column in frame.columns if column not in data.table.columns]
        by_snapshot = gathered.drop(columns=marks).set_index(SNAPSHOT)
        here = replace(
            data,
            table=_rows(by_snapshot, data.table, kept),
            y=data.y[kept],
            segment=data.segment[kept],
            windows={
                days: WindowRows(_rows(by_snapshot, rows.table, heads_kept[days]), rows.segment[heads_kept[days]])
                for days, rows in data.windows.items()
            },
        )
        prepared = model_matrices(here.spec, here)
        with mlflow.start_run(experiment_id=experiment, run_name=f"train-{spec.name}"):
            fitted = _fit(cluster, data, here, prepared, budget)
            return register_run(here, prepared, spec_text, fitted, promote)


@dataclass(frozen=True)
class Cluster:
    """The client, the feature table's partitions computed once on the workers (every fit's train split is cut
    from them there) and the table's empty frame."""

    client: Client
    parts: list[Future]
    meta: pd.DataFrame


def _in_train(label: str) -> str:
    """The frame column that marks the rows in the train split of the fit of ``label``."""
    return f"_train_{label}"


def _marked_snapshots(data: TrainingData, kept: np.ndarray, heads_kept: dict[int, np.ndarray]) -> pd.DataFrame:
    """The snapshots some fit needs, each once (a deal's snapshot is a row of the main table and of the window
    tables): marked ``KEPT`` where this process gets its features, and ``_in_train(label)`` where it is in the
    train split of the fit of ``label``."""
    fits = [(data.spec.label, data.table, data.segment, kept)] + [
        (f"label_{days}d", rows.table, rows.segment, heads_kept[days]) for days, rows in data.windows.items()
    ]
    frame = pd.concat([table for _, table, _, _ in fits]).drop_duplicates(SNAPSHOT)
    frame = frame.sort_values(SNAPSHOT).reset_index(drop=True)
    marks = {KEPT: np.zeros(len(frame), dtype=bool)}
    for label, table, segment, here in fits:
        marks[KEPT] |= frame[SNAPSHOT].isin(table[SNAPSHOT][here]).to_numpy()
        marks[_in_train(label)] = frame[SNAPSHOT].isin(table[SNAPSHOT][segment == "train"]).to_numpy()
    return frame.assign(**marks)


def _rows(by_snapshot: pd.DataFrame, table: pd.DataFrame, chosen: np.ndarray) -> pd.DataFrame:
    """``table``'s ``chosen`` rows with their features, in its order."""
    return by_snapshot.loc[table[SNAPSHOT].to_numpy()[chosen]].reset_index(drop=True)


def _fit(cluster: Cluster, data: TrainingData, here: TrainingData, prepared: Prepared, budget: Budget) -> Fitted:
    """Optuna on the sample (``here``'s train rows), the tuned LightGBM on the whole train split (on the cluster)
    with its trees grown in proportion, calibrated on calib, and its window heads: what ``register_run`` tests and
    registers."""
    _, _, inputs, x, y = prepared
    sample, rows = len(y["train"]), int(data.rows("train").sum())
    tuned = tune_on_valid(here, x, y, budget)
    rounds = grown_rounds(tuned.best_iteration, sample, rows)
    booster = _fit_on_cluster(cluster, tuned.params, rounds, inputs, data.spec.label)
    scorer, losses = calibrated_scorer(here.spec, inputs, booster, x, y)
    scorer.heads = _window_heads(cluster, data, here, inputs, tuned.params)
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


def _window_heads(
    cluster: Cluster, data: TrainingData, here: TrainingData, inputs: list[InputFeature], params: dict[str, Any]
) -> list[Head]:
    """The local path's window heads (``training.train``) with each head's train split on the cluster: its trees
    found by early stopping on valid after a fit on its sample here, grown in proportion for the fit on all of its
    train rows there, its calibration chosen on its calib rows here."""
    heads = []
    for days in data.spec.window_heads_days:
        x, y = head_matrices(here.spec, here, days, inputs)
        validated = fit_booster(params, lgb.Dataset(x["train"], y["train"]), lgb.Dataset(x["valid"], y["valid"]))
        rows = int(data.windows[days].rows("train").sum())
        rounds = grown_rounds(validated.best_iteration, len(y["train"]), rows)
        mlflow.log_params({f"dask_train_rows_{days}d": rows, f"dask_rounds_{days}d": rounds})
        booster = _fit_on_cluster(cluster, params, rounds, inputs, f"label_{days}d")
        heads.append(calibrated_head(here.spec, days, booster, x, y))
    return heads


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


def _train_split(cluster: Cluster, inputs: list[InputFeature], label: str) -> tuple[dd.DataFrame, dd.Series]:
    """The train split of the fit of ``label``: its encoded inputs and labels on the workers, one part a worker: the
    partitions dealt round the workers in turn (in address order) and their train rows joined where they were dealt,
    so that each worker's rows and their order depend only on the partitions and the cluster's size (LightGBM's
    workers each grow bins from the rows they hold)."""
    client, parts = cluster.client, cluster.parts
    workers = sorted(client.scheduler_info()["workers"])
    dealt = [(worker, parts[number :: len(workers)]) for number, worker in enumerate(workers) if number < len(parts)]
    x, y = [], []
    for worker, held in dealt:
        joined = client.submit(_joined, held, _in_train(label), workers=[worker], allow_other_workers=False)
        x.append(client.submit(_encoded, joined, inputs, workers=[worker], allow_other_workers=False))
        y.append(client.submit(_labels, joined, label, workers=[worker], allow_other_workers=False))
    sizes = client.gather([client.submit(len, part) for part in y])
    x, y = [p for p, n in zip(x, sizes, strict=True) if n], [p for p, n in zip(y, sizes, strict=True) if n]
    meta = encode_inputs(inputs, cluster.meta)[0]
    return dd.from_delayed(x, meta=meta, verify_meta=False), dd.from_delayed(y, meta=pd.Series([], dtype=int))


def _marked(part: pd.DataFrame, marker: str) -> pd.DataFrame:
    return part[part[marker]]


def _joined(parts: list[pd.DataFrame], marker: str) -> pd.DataFrame:
    return pd.concat([_marked(part, marker) for part in parts], ignore_index=True)


def _encoded(part: pd.DataFrame, inputs: list[InputFeature]) -> pd.DataFrame:
    return encode_inputs(inputs, part)[0]


def _labels(part: pd.DataFrame, label: str) -> pd.Series:
    return pd.Series(part[label].to_numpy(dtype=int))


def _fit_on_cluster(
    cluster: Cluster, params: dict[str, Any], rounds: int, inputs: list[InputFeature], label: str
) -> lgb.Booster:
    """LightGBM of ``rounds`` trees fitted by the workers on the train split of ``label`` they hold, as one model
    here."""
    threads = ("num_threads", "n_jobs")  # lightgbm.dask gives each worker its own threads
    model = DaskLGBMClassifier(
        client=cluster.client, n_estimators=rounds, **{k: v for k, v in params.items() if k not in threads}
    )
    return model.fit(*_train_split(cluster, inputs, label)).to_local().booster_
