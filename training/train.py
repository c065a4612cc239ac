"""``salesml train``: spec + dataset -> the best calibrated candidate, tested out of time and refit on every
labelled row, in the MLflow registry with a report.

Steps: point-in-time training rows and an honest split -> guards (minimum data, leakage) -> Optuna over LightGBM
on train/valid -> LightGBM, logistic regression, naive Bayes and the LightGBM + logistic blend fitted on train,
each calibrated on calib, the spec's default candidate served unless another is clearly better there
(``choose_candidate``) -> evaluation on test beside the baselines -> the chosen candidate refit on all rows
(``training.refit``) -> MLflow run (nested trials), registered version aliased ``challenger`` -> ``champion`` when
it shows skill, does not collapse, is not worse than the best baseline beyond noise, and passes the spec's gate
against the current champion (or ``promote``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd

from features.crm.dataset import read_dataset
from features.errors import NotEnoughData
from features.scoring.blend import Model
from features.scoring.inputs import InputFeature, encode_inputs
from features.scoring.metrics import binary_metrics
from features.scoring.scorer import Head, Scorer, reference_quantiles
from training.calibrate import choose_calibrator
from training.candidates import (
    Candidate,
    blend_candidate,
    choose_candidate,
    lightgbm_candidate,
    logistic_candidate,
    naive_bayes_candidate,
)
from training.data import TrainingData, labelled_snapshots, require_entities, split_snapshots
from training.encode import model_inputs
from training.guards import check_eval_splits, require_enough, usable_features
from training.prior import train_prior
from training.publish import Fitted, Matrices, Prepared, TrainResult, calibrated_head, head_matrices, register_run
from training.refit import new_levels, refit_scorer
from training.registry import use_local_store
from training.segments import Judge, train_segments
from training.spec import ModelSpec, load_spec
from training.tune import TuningResult, fit_booster, tune


def model_matrices(
    spec: ModelSpec, data: TrainingData, evaluated: tuple[str, ...] = ("valid", "calib", "test")
) -> Prepared:
    """Guards (minimum data, the ``evaluated`` splits, leakage), then the encoded inputs and labels of every
    segment."""
    require_enough(data.y[data.rows("train")], spec, "train")
    check_eval_splits(data, spec, evaluated)
    features, flags = usable_features(data, spec)
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
) -> Scorer:
    """LightGBM (``rounds`` trees, or early stopping on valid) on train, its calibration chosen on calib, the
    reference population for scores and the window heads."""
    y = {name: data.y[data.rows(name)] for name in x}
    if rounds is None:
        booster = fit_booster(params, lgb.Dataset(x["train"], y["train"]), lgb.Dataset(x["valid"], y["valid"]))
    else:
        booster = lgb.train(params, lgb.Dataset(x["train"], y["train"]), num_boost_round=rounds)
    scorer, _ = calibrated_scorer(spec, inputs, booster, x, y)
    scorer.heads = _window_heads(spec, data, inputs, params)
    return scorer


def calibrated_scorer(
    spec: ModelSpec, inputs: list[InputFeature], model: Model, x: Matrices, y: dict[str, np.ndarray]
) -> tuple[Scorer, np.ndarray]:
    """A model fitted on train as a scorer: calibration chosen on calib (never collapsing onto fewer than the
    gate's distinct values there), the reference population on valid + calib; and the per-row out-of-fold log
    loss on calib of the calibration kept."""
    margin = model.predict(x["calib"], raw_score=True)
    calibrator, losses = choose_calibrator(margin, y["calib"], spec.split.seed, spec.gate.min_distinct)
    reference = calibrator(model.predict(pd.concat([x["valid"], x["calib"]]), raw_score=True))
    scorer = Scorer(
        spec.name, spec.entity, inputs, model, calibrator, reference_quantiles(reference), spec.grades.model_dump()
    )
    return scorer, losses[calibrator.kind]


def _window_heads(
    spec: ModelSpec, data: TrainingData, inputs: list[InputFeature], params: dict[str, Any]
) -> list[Head]:
    """One head per window label (``label_30d``...) on that label's own rows: the main model's inputs and
    parameters, its own early stopping and calibration."""
    heads = []
    for days in spec.window_heads_days:
        x, y = head_matrices(spec, data, days, inputs)
        booster = fit_booster(params, lgb.Dataset(x["train"], y["train"]), lgb.Dataset(x["valid"], y["valid"]))
        heads.append(calibrated_head(spec, days, booster, x, y))
    return heads


def _weigh(
    spec: ModelSpec, data: TrainingData, inputs: list[InputFeature], x: Matrices, y: dict[str, np.ndarray], tuned
) -> tuple[Candidate, Scorer, dict[str, dict[str, Any]]]:
    """Every candidate fitted on train and calibrated on calib, where its out-of-fold calibrated log loss (out of
    time for all of them: LightGBM stopped early on valid) decides by ``choose_candidate``; each is also scored
    on test, for the report."""
    trees = lightgbm_candidate(tuned.params, tuned.best_iteration, len(y["train"]))
    linear = logistic_candidate(
        inputs,
        x["train"],
        y["train"],
        x["valid"],
        y["valid"],
        data.entity_ids("valid"),
        spec.selection.clearly_better_se,
    )
    candidates = {c.name: c for c in (trees, linear, naive_bayes_candidate(), blend_candidate(trees, linear))}
    scorers, losses, summary = {}, {}, {}
    for name, candidate in candidates.items():
        scorer, losses[name] = calibrated_scorer(spec, inputs, candidate.fit(inputs, x["train"], y["train"]), x, y)
        test_p = scorer.probability(x["test"])
        scorers[name] = scorer
        summary[name] = {
            "settings": candidate.settings,
            "calibration": scorer.calibrator.kind,
            "test": binary_metrics(y["test"], test_p),
            "test_distinct": int(len(np.unique(test_p))),
        }
    chosen, selection = choose_candidate(
        losses, data.entity_ids("calib"), spec.selection.default, spec.selection.clearly_better_se
    )
    for name, row in selection.items():
        summary[name] |= {"calib_log_loss": row["log_loss"], "vs_default": row["vs_default"], "se": row["se"]}
    return candidates[chosen], scorers[chosen], summary


def _refit_heads(
    spec: ModelSpec, data: TrainingData, evaluated: Scorer, params: dict[str, Any]
) -> dict[int, tuple[Candidate, str, pd.DataFrame, np.ndarray]]:
    """Per window head, what its refit needs: its validated tree count, its calibration kind, all its rows."""
    heads = {}
    for head in evaluated.heads:
        rows = data.windows[head.days]
        rounds = max(int(head.booster.best_iteration or head.booster.num_trees()), 1)
        candidate = lightgbm_candidate(params, rounds, int(rows.rows("train").sum()))
        labels = rows.table[f"label_{head.days}d"].to_numpy(dtype=float).astype(int)
        heads[head.days] = (candidate, head.calibrator.kind, rows.table, labels)
    return heads


PROTOCOL = (
    "segments by time (label horizon gap before each; test alone by time when the data are too thin), candidates "
    "fitted on train, calibrated and chosen on calib, tested on test; the served model is the chosen candidate "
    "refit on every settled labelled row with cross-fitted calibration"
)


def train(
    spec_ref: str | Path,
    data_dir: Path,
    *,
    trials: int | None = None,
    timeout_s: float | None = None,
    promote: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train, test out of time, refit and register a model version (what ``salesml train`` runs).

    Builds point-in-time training rows with the spec's snapshot policy and label (``build_features``, the code the
    service runs), splits them by time, fits the four candidates on train, calibrates and chooses on calib, tests
    the chosen one on test beside the baselines, and refits it on every settled labelled row: the served model.
    Everything is logged to one MLflow run (a nested run per Optuna trial) in the local store (``SALESML_STORE``,
    or ``MLFLOW_TRACKING_URI``), and the served model is registered under the spec's name with the alias
    ``challenger``, and ``champion`` too when it passes the gate (test ROC AUC's 95% interval above 0.5, at least
    ``gate.min_distinct`` distinct probabilities, not below the best baseline's test ROC AUC beyond noise, better
    than the current champion by ``gate.min_improvement``).

    Args:
        spec_ref: A model spec by name (``"lead_score"``, ``"close_probability"``: ``training/specs/``) or the
            path of a spec YAML: an analyst trains a variant by editing a copy, not code.
        data_dir: A canonical dataset directory (``salesml data import`` or ``salesml data synth``).
        trials: Optuna trials over LightGBM's parameters; default the spec's ``tuning.trials``.
        timeout_s: Optuna's time budget in seconds; default the spec's ``tuning.timeout_s``.
        promote: Make the version ``champion`` whatever the gate says (the report says it was forced).
        progress: Show progress bars on stderr.

    Returns:
        A ``TrainResult``: ``spec`` (as trained, the label horizon resolved), ``version`` (the registered model
        version), ``run_id`` (the MLflow run), ``promoted`` (whether it became ``champion``), ``report`` (split,
        horizon, candidates, calibration, test metrics with their interval, baselines, factors, gate: also the run's
        ``report.json``), ``test_rows`` (``entity_id``, ``cutoff_time``, ``label`` and the tested model's
        ``probability`` for every test row) and ``scorer`` (the served, refit model).

    Raises:
        DataError: The spec is not found or not valid; the dataset cannot be read; it has no entity the model scores
            (no deals in a leads-only export); it has no labels or no settled labelled rows; too few positives or
            negatives for ``min_data``; no honest split (one line naming the counts and the knobs:
            ``horizon_days``, ``split.fractions``, ``min_data``).
        StoreError: The local MLflow or Optuna store is unreadable; checked before any feature is built.

    Example:
        >>> from pathlib import Path
        >>> result = train("lead_score", Path("/tmp/crm"), trials=2, progress=False)  # doctest: +SKIP
        >>> result.version, result.promoted, result.report["chosen"], result.report["split"]["kind"]  # doctest: +SKIP
        ('1', True, 'logistic', 'time')
        >>> list(result.test_rows.columns)  # doctest: +SKIP
        ['entity_id', 'cutoff_time', 'label', 'probability']
    """
    spec, spec_text = load_spec(spec_ref)
    experiment = use_local_store(spec.name)  # a damaged store stops training before the features are built
    ds = read_dataset(data_dir)
    require_entities(ds, spec)
    labelled = labelled_snapshots(spec, ds, progress=progress)
    try:
        data = split_snapshots(labelled)
        matrices = model_matrices(data.spec, data)
    except NotEnoughData as why:
        prior = train_prior(labelled, spec_text, experiment, str(why), promote)
        return TrainResult(labelled.spec, prior.version, prior.run_id, prior.promoted, prior.report, *prior.served)
    budget = Budget(trials or spec.tuning.trials, timeout_s or spec.tuning.timeout_s, progress)
    result = fit_and_register(data, matrices, spec_text, experiment, budget, promote)
    if data.spec.segments is not None:  # the segment models follow the global one

        def fit(part: TrainingData, matrices: Any, judge: Judge, segment: dict[str, str]) -> TrainResult:
            return fit_and_register(part, matrices, spec_text, experiment, budget, judge=judge, segment=segment)

        result.report["segments"] = train_segments(data, result, fit, model_matrices)
    return result


@dataclass(frozen=True)
class Budget:
    """Optuna's trials and time budget, and whether progress bars show."""

    trials: int
    timeout_s: float
    progress: bool


def tune_on_valid(data: TrainingData, x: Matrices, y: dict[str, np.ndarray], budget: Budget) -> TuningResult:
    """Optuna over LightGBM fitted on the train rows ``x`` holds and stopped early on valid, in the study of
    ``data``'s spec and rows."""
    return tune(
        x["train"],
        y["train"],
        x["valid"],
        y["valid"],
        study_name=f"{data.spec.name}-{data.data_hash[:12]}",
        trials=budget.trials,
        timeout_s=budget.timeout_s,
        seed=data.spec.tuning.seed,
        progress=budget.progress,
    )


def fit_and_register(
    data: TrainingData,
    matrices: Prepared,
    spec_text: str,
    experiment: str,
    budget: Budget,
    promote: bool = False,
    judge: Judge | None = None,
    segment: dict[str, str] | None = None,
) -> TrainResult:
    """Tune, weigh, test, refit and register one model of split rows (``train``'s steps after the split), under
    ``data.spec.name``; ``judge`` adds blockers to its gate, ``segment`` (by, column, value) marks a segment's model
    in its metadata, which the service routes by."""
    spec, table = data.spec, data.table
    features, _, inputs, x, y = matrices
    with mlflow.start_run(experiment_id=experiment, run_name=f"train-{spec.name}"):
        tuned = tune_on_valid(data, x, y, budget)
        chosen, scorer, weighed = _weigh(spec, data, inputs, x, y, tuned)
        scorer.heads = _window_heads(spec, data, inputs, tuned.params)
        served, oof = refit_scorer(
            spec, scorer, features, table, data.y, chosen, _refit_heads(spec, data, scorer, tuned.params)
        )
        refit = {
            "rows": int(len(table)),
            "positives": int(data.y.sum()),
            "folds": spec.split.refit_folds,
            "calibration": served.calibrator.kind,
            "trained_until": str(table["cutoff_time"].max()),
            "new_levels": new_levels(scorer, served),
        }
        fitted = Fitted(tuned, chosen.name, scorer, weighed, served, oof, refit, PROTOCOL)
        return register_run(data, matrices, spec_text, fitted, promote, judge, segment)
