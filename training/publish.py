"""A fitted training run's last steps, whichever engine fitted it (``training.train`` in this process,
``training.distributed_training`` on Dask): the tested model evaluated on test beside the baselines and the current
champion, the gate, the run's report, figures and artifacts, and the served model registered (alias
``challenger``, and ``champion`` when it passes the gate)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd

from features.errors import DataError
from features.pit.catalog import Feature
from features.scoring.inputs import InputFeature, encode_inputs
from features.scoring.metrics import auc_interval, binary_metrics
from features.scoring.pyfunc import CHALLENGER, CHAMPION
from features.scoring.scorer import Head, Scorer, training_reference
from training.baselines import baseline_probabilities
from training.calibrate import choose_calibrator
from training.data import TrainingData, label_horizon_days
from training.evaluate import evaluate_model, global_factors, test_calibration
from training.gate import baseline_floor, champion_comparison, gate_blockers, promotion_reason
from training.guards import LeakageFlag
from training.metrics import skill_verdict
from training.registry import TRAIN, log_scorer, set_alias, set_data_window, set_gate_note
from training.run_log import log_artifacts, log_figures
from training.segments import Judge
from training.spec import ModelSpec
from training.split import SPLIT_NOTES
from training.tune import TuningResult

Matrices = dict[str, pd.DataFrame]
#: The candidate features, the leakage flags, the encoded inputs, and the inputs and labels of every segment.
Prepared = tuple[list[Feature], list[LeakageFlag], list[InputFeature], Matrices, dict[str, np.ndarray]]


@dataclass
class TrainResult:
    spec: ModelSpec
    version: str
    run_id: str
    promoted: bool
    report: dict[str, Any]
    test_rows: pd.DataFrame  # entity_id, cutoff_time, label and the calibrated probability of every test row
    scorer: Scorer


@dataclass
class Fitted:
    """What a run fitted: Optuna's result, the chosen candidate, the scorer fitted on train (the one tested) with
    every candidate's summary, the served scorer with its out-of-fold probabilities and the report's ``refit``
    section (``trained_until`` included), and the protocol the report states."""

    tuned: TuningResult
    chosen: str
    scorer: Scorer
    weighed: dict[str, dict[str, Any]]
    served: Scorer
    oof: np.ndarray
    refit: dict[str, Any]
    protocol: str


def window_matrices(
    data: TrainingData, days: int, inputs: list[InputFeature], segments: tuple[str, ...]
) -> tuple[Matrices, dict[str, np.ndarray]]:
    rows = data.windows[days]
    parts = {name: rows.table[rows.rows(name)] for name in segments}
    x = {name: encode_inputs(inputs, part)[0] for name, part in parts.items()}
    return x, {name: part[f"label_{days}d"].to_numpy(dtype=float) for name, part in parts.items()}


def head_matrices(
    spec: ModelSpec, data: TrainingData, days: int, inputs: list[InputFeature]
) -> tuple[Matrices, dict[str, np.ndarray]]:
    """A window head's train, valid and calib rows (its label's own rows) encoded with the main model's inputs;
    DataError when the data has no such label."""
    if days not in data.windows:
        raise DataError(f"{spec.name}: window_heads_days has {days}, but the data has no 'label_{days}d' labels")
    return window_matrices(data, days, inputs, ("train", "valid", "calib"))


def calibrated_head(spec: ModelSpec, days: int, booster: lgb.Booster, x: Matrices, y: dict[str, np.ndarray]) -> Head:
    """A window head's booster with its own calibration, chosen on its calib rows."""
    calibrator, _ = choose_calibrator(booster.predict(x["calib"], raw_score=True), y["calib"], spec.split.seed)
    return Head(days, booster, calibrator)


def _evaluate_windows(scorer: Scorer, data: TrainingData) -> dict[str, Any]:
    """Each window head on its own test rows, after the consistency caps (against the main probability)."""
    out = {}
    for head in scorer.heads:
        x, y = window_matrices(data, head.days, scorer.inputs, ("test",))
        if not len(y["test"]):
            continue
        probability = scorer.windows(x["test"], scorer.probability(x["test"]))[head.days]
        out[f"{head.days}d"] = binary_metrics(y["test"].astype(int), probability)
    return out


def register_run(
    data: TrainingData,
    matrices: Prepared,
    spec_text: str,
    fitted: Fitted,
    promote: bool = False,
    judge: Judge | None = None,
    segment: dict[str, str] | None = None,
) -> TrainResult:
    """Test, gate, log and register what the active MLflow run fitted on ``data`` (see ``fit_and_register``)."""
    spec, table = data.spec, data.table
    features, flags, _, x, y = matrices
    scorer, served = fitted.scorer, fitted.served
    evaluation = evaluate_model(scorer, x["test"], y["test"])
    evaluation["windows"] = _evaluate_windows(scorer, data)
    auc = evaluation["metrics"]["roc_auc"]
    test_ids = data.entity_ids("test")
    interval = auc_interval(y["test"], evaluation["probability"], test_ids)
    evaluation["skill"] = {"roc_auc_95": list(interval), "verdict": skill_verdict(auc, interval)}
    evaluation["calibration"] = test_calibration(spec, evaluation, y, test_ids)
    horizon = label_horizon_days(spec)
    trained_until = fitted.refit["trained_until"]
    served.metadata = scorer.metadata = {
        "data_window": [str(table["cutoff_time"].min()), trained_until],
        "trained_until": trained_until,
        "metrics": evaluation["metrics"],
        "data_hash": data.data_hash,
        "label": spec.label,
        "horizon_days": horizon,
        "horizon_note": data.horizon_note,
        "model_kind": fitted.chosen,
        "monitoring": spec.monitoring.model_dump(),
        **({"segment": segment} if segment is not None else {}),
    }
    served.training_reference = training_reference(table, served, spec.split.seed)
    x_cols = [f.name for f in features]
    baselines = baseline_probabilities(data, features, x_cols)
    floor = baseline_floor(y["test"], evaluation["probability"], baselines, test_ids, spec.gate.floor_margin)
    factors = global_factors(scorer, x["test"])
    comparison = champion_comparison(scorer, spec, table[data.rows("test")], y["test"])
    distinct = fitted.weighed[fitted.chosen]["test_distinct"]
    blockers = gate_blockers(evaluation, comparison, floor, spec, min(distinct, len(np.unique(fitted.oof))))
    judged, added = judge(evaluation["probability"]) if judge is not None else ({}, [])
    blockers += added
    promoted = promote or not blockers
    report = {
        "model": spec.name,
        "entity": spec.entity,
        "label": spec.label,
        "horizon_days": horizon,
        "horizon_note": data.horizon_note,
        "protocol": fitted.protocol,
        "split": {
            "kind": data.split_kind,
            "note": SPLIT_NOTES[data.split_kind],
            "segment_starts": data.segment_starts,
            "rows": {name: int(len(v)) for name, v in y.items()},
            "positives": {name: int(v.sum()) for name, v in y.items()},
        },
        "data_window": scorer.metadata["data_window"],
        "data_hash": data.data_hash,
        "features_used": x_cols,
        "leakage_flags": [asdict(f) for f in flags],
        "tuning": asdict(fitted.tuned),
        "candidates": fitted.weighed,
        "chosen": fitted.chosen,
        "selection": spec.selection.model_dump(),
        "calibration": {"chosen": scorer.calibrator.kind, "chosen_on": "calib"},
        "test": {k: v for k, v in evaluation.items() if k != "probability"},
        "refit": fitted.refit,
        "baselines": {name: binary_metrics(y["test"], p) for name, p in baselines.items()},
        "global_factors": factors[:20],
        "champion": comparison,
        **({"versus_global": judged} if judge is not None else {}),
        "gate": {"promoted": promoted, "blockers": blockers, "forced": promote and bool(blockers), "floor": floor},
    }
    log_figures(report)
    log_artifacts(report, spec_text, scorer, x["test"], y["test"], evaluation["probability"])
    version = log_scorer(served, table.loc[data.rows("test"), x_cols].head(5).reset_index(drop=True))
    set_alias(spec.name, CHALLENGER, version, "newly trained", TRAIN)
    set_gate_note(spec.name, version, "; ".join(blockers))
    set_data_window(spec.name, version, scorer.metadata["data_window"])
    if promoted:
        set_alias(spec.name, CHAMPION, version, promotion_reason(blockers), TRAIN)
    report["version"], report["promoted"] = version, promoted
    mlflow.set_tags({"model_version": version, "promoted": str(promoted)})
    test_rows = table.loc[data.rows("test"), ["entity_id", "cutoff_time"]].reset_index(drop=True)
    test_rows["label"], test_rows["probability"] = y["test"], evaluation["probability"]
    run_id = mlflow.active_run().info.run_id  # type: ignore[union-attr]
    return TrainResult(spec, version, run_id, promoted, report, test_rows, served)
