"""``salesml train``: spec + dataset -> tuned, calibrated LightGBM scorer in the MLflow registry, with a report.

Steps: point-in-time training rows and an honest split -> guards (minimum data, leakage) -> Optuna over LightGBM
on train/valid -> calibration chosen on calib -> reference population for scores -> evaluation on test beside the
baselines -> MLflow run (nested trials), registered version aliased ``challenger`` -> ``champion`` if it passes
the spec's gate against the current champion on the same test rows (or ``promote``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd

from features.catalog import Feature
from features.errors import DataError
from features.pyfunc import CHALLENGER, CHAMPION, alias_version
from features.scoring import Head, InputFeature, Scorer, encode_inputs, reference_quantiles
from training.baselines import BASELINES
from training.calibrate import choose_calibrator
from training.data import TrainingData, label_horizon_days, load_training_data
from training.encode import model_inputs
from training.evaluate import beeswarm_plot, calibration_plot, evaluate_model, global_factors
from training.guards import LeakageFlag, leakage_flags, require_enough
from training.metrics import auc_interval, binary_metrics, skill_verdict
from training.registry import load_scorer, log_scorer, set_alias, use_local_store
from training.report import render_markdown
from training.spec import ModelSpec, load_spec
from training.tune import BASE_PARAMS, fit_booster, tune

MIN_EVAL_CLASS = 10  # each of valid, calib and test needs this many positives and negatives


@dataclass
class TrainResult:
    spec: ModelSpec
    version: str
    run_id: str
    promoted: bool
    report: dict[str, Any]
    test_rows: pd.DataFrame  # entity_id, cutoff_time, label and the calibrated probability of every test row
    scorer: Scorer


def _gate_value(metrics: dict[str, float], metric: str) -> float:
    """Gate metrics as 'higher is better'."""
    return -metrics[metric] if metric in ("log_loss", "brier") else metrics[metric]


def passes_gate(comparison: dict[str, Any], spec: ModelSpec, promote: bool) -> bool:
    """Champion moves with --promote, when there is none yet, or when the challenger wins by the spec's gate."""
    return promote or comparison["champion_version"] is None or comparison["gain"] >= spec.gate.min_improvement


def _check_eval_splits(data: TrainingData, spec: ModelSpec, names: tuple[str, ...]) -> None:
    for name in names:
        y = data.y[data.rows(name)]
        if y.sum() < MIN_EVAL_CLASS or len(y) - y.sum() < MIN_EVAL_CLASS:
            raise DataError(
                f"the {name} split of {spec.name} has {int(y.sum())} positives and {int(len(y) - y.sum())} negatives;"
                f" at least {MIN_EVAL_CLASS} of each are needed: use a longer history or change split.fractions"
            )


def _usable(data: TrainingData, spec: ModelSpec) -> tuple[list[Feature], list[LeakageFlag]]:
    train = data.rows("train")
    flags = leakage_flags(data.table[train], data.y[train], data.candidates, spec)
    dropped = {f.feature for f in flags if not f.allowed}
    return [f for f in data.candidates if f.name not in dropped], flags


def _baselines(data: TrainingData, features: list[Feature], x_cols: list[str]) -> dict[str, dict[str, float]]:
    """Each baseline fit on train and scored on test: the same rows as the model."""
    train, test = data.rows("train"), data.rows("test")
    out = {}
    for name, make in BASELINES.items():
        model = make(features).fit(data.table.loc[train, x_cols], data.y[train])
        out[name] = binary_metrics(data.y[test], model.predict_proba(data.table.loc[test, x_cols])[:, 1])
    return out


Matrices = dict[str, pd.DataFrame]


def model_matrices(
    spec: ModelSpec, data: TrainingData, evaluated: tuple[str, ...] = ("valid", "calib", "test")
) -> tuple[list[Feature], list[LeakageFlag], list[InputFeature], Matrices, dict[str, np.ndarray]]:
    """Guards (minimum data, the ``evaluated`` splits, leakage), then the encoded inputs and labels of every
    segment."""
    require_enough(data.y[data.rows("train")], spec, "train")
    _check_eval_splits(data, spec, evaluated)
    features, flags = _usable(data, spec)
    inputs = model_inputs(features, data.table[data.rows("train")], spec.categorical)
    x = {name: encode_inputs(inputs, data.table[data.rows(name)])[0] for name in ("train", "valid", "calib", "test")}
    return features, flags, inputs, x, {name: data.y[data.rows(name)] for name in x}


def fit_scorer(
    spec: ModelSpec,
    data: TrainingData,
    x: Matrices,
    inputs: list[InputFeature],
    params: dict[str, Any],
    rounds: int | None = None,
) -> tuple[Scorer, dict[str, float]]:
    """Booster (``rounds`` trees, or early stopping on valid), calibration chosen on calib, the reference population
    for scores, and the window heads; and the calibrators' cross-validated losses."""
    y = {name: data.y[data.rows(name)] for name in x}
    if rounds is None:
        booster = fit_booster(params, lgb.Dataset(x["train"], y["train"]), lgb.Dataset(x["valid"], y["valid"]))
    else:
        booster = lgb.train(params, lgb.Dataset(x["train"], y["train"]), num_boost_round=rounds)
    calibrator, losses = choose_calibrator(booster.predict(x["calib"], raw_score=True), y["calib"], spec.split.seed)
    reference = calibrator(booster.predict(pd.concat([x["valid"], x["calib"]]), raw_score=True))
    scorer = Scorer(
        spec.name, spec.entity, inputs, booster, calibrator, reference_quantiles(reference), spec.grades.model_dump()
    )
    scorer.heads = _window_heads(spec, data, inputs, params)
    return scorer, losses


def _window_heads(
    spec: ModelSpec, data: TrainingData, inputs: list[InputFeature], params: dict[str, Any]
) -> list[Head]:
    """One head per window label (``label_30d``...) on that label's own rows: the main model's inputs and
    parameters, its own early stopping and calibration."""
    heads = []
    for days in spec.window_heads_days:
        if days not in data.windows:
            raise DataError(f"{spec.name}: window_heads_days has {days}, but the data has no 'label_{days}d' labels")
        x, y = _window_matrices(data, days, inputs, ("train", "valid", "calib"))
        booster = fit_booster(params, lgb.Dataset(x["train"], y["train"]), lgb.Dataset(x["valid"], y["valid"]))
        calibrator, _ = choose_calibrator(booster.predict(x["calib"], raw_score=True), y["calib"], spec.split.seed)
        heads.append(Head(days, booster, calibrator))
    return heads


def _window_matrices(
    data: TrainingData, days: int, inputs: list[InputFeature], segments: tuple[str, ...]
) -> tuple[Matrices, dict[str, np.ndarray]]:
    rows = data.windows[days]
    parts = {name: rows.table[rows.rows(name)] for name in segments}
    x = {name: encode_inputs(inputs, part)[0] for name, part in parts.items()}
    return x, {name: part[f"label_{days}d"].to_numpy(dtype=float) for name, part in parts.items()}


def _evaluate_windows(scorer: Scorer, data: TrainingData) -> dict[str, Any]:
    """Each window head on its own test rows, after the consistency caps (against the main probability)."""
    out = {}
    for head in scorer.heads:
        x, y = _window_matrices(data, head.days, scorer.inputs, ("test",))
        if not len(y["test"]):
            continue
        probability = scorer.windows(x["test"], scorer.probability(x["test"]))[head.days]
        out[f"{head.days}d"] = binary_metrics(y["test"].astype(int), probability)
    return out


def _champion_comparison(scorer: Scorer, spec: ModelSpec, test: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """The current champion scored on the challenger's test rows, if there is a champion."""
    version = alias_version(spec.name, CHAMPION)
    if version is None:
        return {"champion_version": None}
    champion, _ = load_scorer(spec.name, CHAMPION)
    theirs = binary_metrics(y, champion.predict(test)["probability"].to_numpy())
    ours = binary_metrics(y, scorer.predict(test)["probability"].to_numpy())
    gain = _gate_value(ours, spec.gate.metric) - _gate_value(theirs, spec.gate.metric)
    return {"champion_version": version, "champion_metrics": theirs, "gain": gain}


def train(
    spec_ref: str | Path,
    data_dir: Path,
    *,
    trials: int | None = None,
    timeout_s: float | None = None,
    promote: bool = False,
    progress: bool = True,
) -> TrainResult:
    spec, spec_text = load_spec(spec_ref)
    data = load_training_data(spec, data_dir, progress=progress)
    features, flags, inputs, x, y = model_matrices(spec, data)
    table = data.table

    experiment = use_local_store(spec.name)
    with mlflow.start_run(experiment_id=experiment, run_name=f"train-{spec.name}") as run:
        tuned = tune(
            x["train"],
            y["train"],
            x["valid"],
            y["valid"],
            study_name=f"{spec.name}-{data.data_hash[:12]}",
            trials=trials or spec.tuning.trials,
            timeout_s=timeout_s or spec.tuning.timeout_s,
            seed=spec.tuning.seed,
            progress=progress,
        )
        scorer, calibration_losses = fit_scorer(spec, data, x, inputs, tuned.params, tuned.best_iteration)
        evaluation = evaluate_model(scorer, x["test"], y["test"])
        evaluation["windows"] = _evaluate_windows(scorer, data)
        auc = evaluation["metrics"]["roc_auc"]
        interval = auc_interval(
            y["test"], evaluation["probability"], table.loc[data.rows("test"), "entity_id"].to_numpy()
        )
        evaluation["skill"] = {"roc_auc_95": list(interval), "verdict": skill_verdict(auc, interval)}
        scorer.metadata = {
            "data_window": [str(table["cutoff_time"].min()), str(table["cutoff_time"].max())],
            "metrics": evaluation["metrics"],
            "data_hash": data.data_hash,
            "label": spec.label,
            "horizon_days": label_horizon_days(spec),
        }
        x_cols = [f.name for f in features]
        baselines = _baselines(data, features, x_cols)
        factors = global_factors(scorer, x["test"])
        comparison = _champion_comparison(scorer, spec, table[data.rows("test")], y["test"])
        report = {
            "model": spec.name,
            "entity": spec.entity,
            "label": spec.label,
            "horizon_days": label_horizon_days(spec),
            "split": {
                "kind": data.split_kind,
                "note": "time split by first snapshot; a row's label is known before the next segment starts"
                if data.split_kind == "time"
                else "the dataset has no event times: seeded stratified split by entity",
                "segment_starts": data.segment_starts,
                "rows": {name: int(len(v)) for name, v in y.items()},
                "positives": {name: int(v.sum()) for name, v in y.items()},
            },
            "data_window": scorer.metadata["data_window"],
            "data_hash": data.data_hash,
            "features_used": x_cols,
            "leakage_flags": [asdict(f) for f in flags],
            "tuning": asdict(tuned),
            "calibration": {"chosen": scorer.calibrator.kind, "cv_log_loss": calibration_losses},
            "test": {k: v for k, v in evaluation.items() if k != "probability"},
            "baselines": baselines,
            "global_factors": factors[:20],
            "champion": comparison,
        }
        mlflow.log_params({"spec": spec.name, "split": data.split_kind, "n_features": len(x_cols)})
        mlflow.log_params({f"lgb_{k}": v for k, v in tuned.params.items() if k not in BASE_PARAMS})
        mlflow.log_metric("best_iteration", tuned.best_iteration)
        mlflow.log_metrics({f"test_{k}": v for k, v in evaluation["metrics"].items() if np.isfinite(v)})
        for window, metrics in evaluation["windows"].items():
            mlflow.log_metrics({f"test_{window}_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        for row in evaluation["grades"]:
            mlflow.log_metrics({f"test_grade_{row['grade']}_share": row["share"]})
            if np.isfinite(row["conversion_rate"]):
                mlflow.log_metric(f"test_grade_{row['grade']}_conversion", row["conversion_rate"])
        for name, metrics in baselines.items():
            mlflow.log_metrics({f"baseline_{name}_{k}": v for k, v in metrics.items() if np.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            curves = {"salesml": evaluation["probability"]}
            calibration_plot(y["test"], curves, out / "calibration.png")
            beeswarm_plot(scorer, x["test"], out / "shap_beeswarm.png")
            (out / "features.json").write_text(json.dumps(x_cols, indent=1), encoding="utf-8")
            (out / "data_hash.txt").write_text(data.data_hash + "\n", encoding="utf-8")
            (out / "spec.yaml").write_text(spec_text, encoding="utf-8")
            (out / "report.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")
            (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
            mlflow.log_artifacts(str(out))
        version = log_scorer(scorer, table.loc[data.rows("test"), x_cols].head(5).reset_index(drop=True))
        set_alias(spec.name, CHALLENGER, version)
        promoted = passes_gate(comparison, spec, promote)
        if promoted:
            set_alias(spec.name, CHAMPION, version)
        report["version"], report["promoted"] = version, promoted
        mlflow.set_tags({"model_version": version, "promoted": str(promoted)})
        test_rows = table.loc[data.rows("test"), ["entity_id", "cutoff_time"]].reset_index(drop=True)
        test_rows["label"], test_rows["probability"] = y["test"], evaluation["probability"]
        return TrainResult(spec, version, run.info.run_id, promoted, report, test_rows, scorer)
