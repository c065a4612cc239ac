"""The prior model a new CRM is scored with until its data can train and test an ML model.

Below the spec's minimum data (too few settled labelled rows for an honest split) ``salesml train`` registers a
prior instead of stopping, so that ``score`` and the service answer from day one, marked ``kind: prior``:

- ``frequency``: with at least ``MIN_CLASS`` positives and negatives, a naive-Bayes-style frequency model on the
  inputs with support. Per input, each value (numbers: quantile bins) seen on at least ``MIN_SUPPORT`` rows moves
  the log-odds by its rate shrunk toward the base rate, ``(positives + PSEUDO_ROWS * base) / (rows + PSEUDO_ROWS)``;
  rarer values move nothing. Correlated inputs add up their evidence too fast, so the sum is calibrated by a
  sigmoid fitted on out-of-fold margins (folds by entity), as the ML model's refit is.
- ``points``: otherwise, the field's points rules (``training.baselines.RULES``) on the inputs the export has,
  ``LOG_ODDS_PER_POINT`` per point around the base rate.

The prior is registered like any version (challenger, and champion while no ML model is); an ML model replaces it
through the normal gate as soon as the data suffice: the prior has no test figures to defend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from scipy.special import logit

from features.pit.catalog import Feature
from features.scoring import PRIOR
from features.scoring.additive import AdditiveModel, Term, as_matrix
from features.scoring.inputs import InputFeature, encode_inputs
from features.scoring.pyfunc import CHALLENGER, CHAMPION
from features.scoring.scorer import Calibrator, Scorer, reference_quantiles, training_reference
from training.baselines import RULES, Rule, applicable_rules, quantile_edges
from training.calibrate import row_log_loss
from training.candidates import NAIVE_BAYES_BINS, Candidate, choose_candidate
from training.data import Labelled, label_horizon_days, table_hash
from training.encode import model_inputs
from training.guards import leakage_flags
from training.refit import cross_fit, entity_folds
from training.registry import TRAIN, alias_version, load_scorer, log_scorer, set_alias, set_data_window
from training.spec import ModelSpec

#: The frequency prior needs at least this many positives and negatives; below, the points rules.
MIN_CLASS = 5
#: A value (or bin) moves the log-odds only when seen on at least this many rows.
MIN_SUPPORT = 10
#: Each value's rate is shrunk toward the base rate as if this many rows at the base rate were added.
PSEUDO_ROWS = 20
#: Points rules: log-odds per point (20 points, an answer within the hour, multiply the odds by e).
LOG_ODDS_PER_POINT = 0.05
#: The base rate with no labelled row: the field reference's share of raw B2B leads that convert (under 7%);
#: for deals there is no field figure, so a quarter is assumed.
FIELD_BASE_RATE = {"lead": 0.07, "opportunity": 0.25}


@dataclass
class Prior:
    """A registered prior: its version, whether it became champion, its report and scorer."""

    version: str
    run_id: str
    promoted: bool
    report: dict[str, Any]
    scorer: Scorer

    @property
    def served(self) -> tuple[pd.DataFrame, Scorer]:
        """What a ``TrainResult`` ends with: the test rows (none: a prior is not tested) and the scorer."""
        return pd.DataFrame(columns=["entity_id", "cutoff_time", "label", "probability"]), self.scorer


def base_rate(y: np.ndarray, entity: str) -> float:
    """The observed rate shrunk toward the field's (``PSEUDO_ROWS`` rows of it)."""
    return float((y.sum() + PSEUDO_ROWS * FIELD_BASE_RATE[entity]) / (len(y) + PSEUDO_ROWS))


def _shifts(codes: np.ndarray, y: np.ndarray, width: int, base: float) -> np.ndarray:
    """Per code (``width`` of them, the last for missing), its shrunk rate's log-odds against the base; 0 where
    the code has fewer than ``MIN_SUPPORT`` rows."""
    rows = np.bincount(codes, minlength=width)
    rate = (np.bincount(codes, weights=y, minlength=width) + PSEUDO_ROWS * base) / (rows + PSEUDO_ROWS)
    return np.where(rows >= MIN_SUPPORT, logit(rate) - logit(base), 0.0)


def fit_frequency(inputs: list[InputFeature], x: pd.DataFrame, y: np.ndarray) -> AdditiveModel:
    """The frequency prior (module docstring) on these rows: one term per input, zero where nothing has support."""
    matrix = as_matrix(x)
    base = float((y.sum() + 1) / (len(y) + 2))
    terms = []
    for j, f in enumerate(inputs):
        column = matrix[:, j]
        known = ~np.isnan(column)
        if f.kind == "categorical":
            edges: list[float] = []
            width = len(f.levels or [])
            codes = np.where(known, column, width).astype(np.int64)
        else:
            bins = min(NAIVE_BAYES_BINS, int(known.sum()) // MIN_SUPPORT)
            edges = quantile_edges(column, bins).tolist() if bins >= 2 else []
            width = len(edges) + 1
            codes = np.where(known, np.searchsorted(edges, np.nan_to_num(column), side="right"), width)
        shift = _shifts(codes, y, width + 1, base)
        kind = "levels" if f.kind == "categorical" else "bins"
        terms.append(Term(kind, edges=edges, values=shift[:-1].tolist(), missing=float(shift[-1])))
    return AdditiveModel(PRIOR, float(logit(base)), terms).with_means(matrix)


def _points_term(f: InputFeature, rules: list[Rule]) -> Term:
    """The points ``rules`` give each value of one input, in log-odds (``LOG_ODDS_PER_POINT``); missing: none."""
    if f.kind == "categorical":
        levels = f.levels or []
        points = [sum(r.points for r in rules if level in r.values) for level in levels]
        return Term("levels", values=[p * LOG_ODDS_PER_POINT for p in points])
    steps = {float(k) for r in rules if r.cap is not None for k in range(1, int(np.ceil(r.cap / r.points)) + 1)}
    limits = {float(v) for r in rules for v in (r.low, r.high) if np.isfinite(v)}
    edges = sorted(steps | limits)
    at = np.array([edges[0] - 1.0, *edges]) if edges else np.zeros(1)  # a value inside each left-closed bin
    points = sum((r.score(pd.Series(at)) for r in rules), np.zeros(len(at)))
    return Term("bins", edges=edges, values=(points * LOG_ODDS_PER_POINT).tolist())


def fit_points(inputs: list[InputFeature], x: pd.DataFrame, base: float) -> AdditiveModel:
    """The field's points rules on the inputs there are, centred so that the rows' mean log-odds is the base's."""
    chosen = applicable_rules(RULES, {f.name for f in inputs})
    terms = [_points_term(f, [r for r in chosen if r.feature == f.name]) for f in inputs]
    matrix = as_matrix(x)
    model = AdditiveModel(PRIOR, 0.0, terms).with_means(matrix)
    model.intercept = float(logit(base)) - sum(t.mean for t in terms)
    return model


def _supported(features: list[Feature], labelled: Labelled) -> list[Feature]:
    """The candidate features that vary on the rows and that the leakage guard lets through."""
    table, y, spec = labelled.table, labelled.y, labelled.spec
    rows = table if len(table) else labelled.built
    varying = [f for f in features if f.name in rows.columns and rows[f.name].nunique(dropna=False) > 1]
    if not len(table) or len(np.unique(y)) < 2:
        return varying
    flagged = {f.feature for f in leakage_flags(table, y, varying, spec) if not f.allowed}
    return [f for f in varying if f.name not in flagged]


def fit_prior(labelled: Labelled) -> tuple[Scorer, str]:
    """The prior's scorer and its method. The points rules around the base rate by default; with ``MIN_CLASS`` of
    each label, the frequency model (calibrated by a sigmoid on out-of-fold margins) instead when its out-of-fold
    log loss is clearly lower (``choose_candidate``, the spec's ``selection.clearly_better_se``): a few hundred rows
    rarely support many values, and the field's rules are what a team would use without data."""
    spec, table, y = labelled.spec, labelled.table, labelled.y
    enough = min(int(y.sum()), int(len(y) - y.sum())) >= MIN_CLASS
    rows = table if enough else labelled.built
    inputs = model_inputs(_supported(labelled.candidates, labelled), rows, spec.categorical)
    x, _ = encode_inputs(inputs, rows)

    def points(inputs: list[InputFeature], x: pd.DataFrame, y: np.ndarray) -> AdditiveModel:
        return fit_points(inputs, x, base_rate(y, spec.entity))

    if not enough:
        return _scorer(labelled, inputs, points(inputs, x, y), Calibrator("none")), "points"
    folds = entity_folds(table["entity_id"], spec.split.refit_folds, spec.split.seed)
    fits = {
        "points": cross_fit(Candidate(PRIOR, points), inputs, x, y, folds, "none", 0),
        "frequency": cross_fit(Candidate(PRIOR, fit_frequency), inputs, x, y, folds, "sigmoid", 0),
    }
    losses = {method: row_log_loss(y, fit.oof_probability) for method, fit in fits.items()}
    ids = table["entity_id"].to_numpy()
    method, _ = choose_candidate(losses, ids, "points", spec.selection.clearly_better_se)
    return _scorer(labelled, inputs, fits[method].model, fits[method].calibrator), method


def _scorer(labelled: Labelled, inputs: list[InputFeature], model: AdditiveModel, calibrator: Calibrator) -> Scorer:
    """The prior as a scorer, its reference population every snapshot there is."""
    spec = labelled.spec
    everyone, _ = encode_inputs(inputs, labelled.built)
    reference = reference_quantiles(np.clip(calibrator(model.predict(everyone, raw_score=True)), 0.0, 1.0))
    return Scorer(spec.name, spec.entity, inputs, model, calibrator, reference, spec.grades.model_dump())


def _metadata(labelled: Labelled, method: str, reason: str) -> dict[str, Any]:
    spec, rows = labelled.spec, labelled.table if len(labelled.table) else labelled.built
    window = [str(rows["cutoff_time"].min()), str(rows["cutoff_time"].max())] if len(rows) else []
    return {
        "data_window": window,
        "trained_until": window[1] if window else None,
        "metrics": {},
        "data_hash": table_hash(rows),
        "label": spec.label,
        "horizon_days": label_horizon_days(spec),
        "horizon_note": labelled.horizon_note,
        "model_kind": PRIOR,
        "prior": {"method": method, "reason": reason},
        "monitoring": spec.monitoring.model_dump(),
    }


def _replaces_champion(spec: ModelSpec) -> bool:
    """A prior becomes champion where there is none, or where the champion is an older prior."""
    if alias_version(spec.name, CHAMPION) is None:
        return True
    return load_scorer(spec.name, CHAMPION)[0].model_kind == PRIOR


def train_prior(labelled: Labelled, spec_text: str, experiment: str, reason: str, promote: bool) -> Prior:
    """Fit, log and register the prior of ``labelled.spec`` (``reason``: why no ML model could be trained)."""
    spec = labelled.spec
    scorer, method = fit_prior(labelled)
    scorer.metadata = _metadata(labelled, method, reason)
    rows = labelled.table if len(labelled.table) else labelled.built
    if len(rows):
        scorer.training_reference = training_reference(rows, scorer, spec.split.seed)
    used = [t for t in scorer.booster.terms if any(t.values) or t.missing]
    report = {
        "model": spec.name,
        "entity": spec.entity,
        "label": spec.label,
        "horizon_days": label_horizon_days(spec),
        "horizon_note": labelled.horizon_note,
        "kind": PRIOR,
        "prior": {
            "method": method,
            "reason": reason,
            "rows": int(len(rows)),
            "labelled_rows": int(len(labelled.table)),
            "positives": int(labelled.y.sum()),
            "inputs_used": len(used),
        },
        "data_window": scorer.metadata["data_window"],
        "global_factors": [],
    }
    promoted = promote or _replaces_champion(spec)
    with mlflow.start_run(experiment_id=experiment, run_name=f"prior-{spec.name}") as run:
        mlflow.log_dict(report, "report.json")
        mlflow.log_text(spec_text, "spec.yaml")
        mlflow.set_tags({"kind": PRIOR, "prior_method": method})
        example = rows[scorer.feature_names].head(5).reset_index(drop=True)
        version = log_scorer(scorer, example)
        set_alias(spec.name, CHALLENGER, version, f"prior ({method}): {reason}", TRAIN)
        set_data_window(spec.name, version, scorer.metadata["data_window"])
        if promoted:
            set_alias(spec.name, CHAMPION, version, f"prior ({method}) while no ML model can be trained", TRAIN)
        report |= {"version": version, "promoted": promoted}
        mlflow.set_tags({"model_version": version, "promoted": str(promoted)})
    return Prior(version, run.info.run_id, promoted, report, scorer)
