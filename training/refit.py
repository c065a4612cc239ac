"""The served model: the chosen candidate refit on every settled labelled row, calibrated across folds.

The model evaluated out of time never saw the test period, and on an export whose channels or base rates shift
it would be served blind to the present. So after the honest test the chosen candidate is refit on all labelled
rows with its validated settings, its categorical levels learned again on all of them (a new channel value is a
level, not "unseen"). Its calibration cannot be fitted on rows it was trained on: each row's margin comes from a
model fitted on the other folds (entities never straddle folds), and the calibrator of the kind chosen out of
time is fitted on those out-of-fold margins, which are also the reference population for scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.pit.catalog import Feature
from features.scoring.blend import Model
from features.scoring.inputs import InputFeature, encode_inputs
from features.scoring.scorer import Calibrator, Head, Scorer, reference_quantiles
from training.calibrate import fit_calibrator
from training.candidates import Candidate
from training.encode import model_inputs
from training.spec import ModelSpec


@dataclass
class Refit:
    """A model refit on all rows with its cross-fitted calibration and out-of-fold probabilities."""

    model: Model
    calibrator: Calibrator
    oof_probability: np.ndarray


def entity_folds(entity_ids: pd.Series, folds: int, seed: int) -> np.ndarray:
    """A fold per row, every snapshot of one entity in the same fold."""
    codes, uniques = pd.factorize(entity_ids)
    order = np.random.default_rng(seed).permutation(len(uniques))
    return (order % folds)[codes]


def cross_fit(
    candidate: Candidate,
    inputs: list[InputFeature],
    x: pd.DataFrame,
    y: np.ndarray,
    fold: np.ndarray,
    kind: str,
    min_distinct: int,
) -> Refit:
    """The model on all rows, and a calibrator of ``kind`` on out-of-fold margins (``fit_calibrator``)."""
    margin = np.empty(len(y))
    for k in np.unique(fold):
        held = fold == k
        margin[held] = candidate.fit(inputs, x[~held], y[~held]).predict(x[held], raw_score=True)
    calibrator = fit_calibrator(margin, y, kind, min_distinct)
    return Refit(candidate.fit(inputs, x, y), calibrator, np.clip(calibrator(margin), 0.0, 1.0))


def refit_scorer(
    spec: ModelSpec,
    evaluated: Scorer,
    features: list[Feature],
    table: pd.DataFrame,
    y: np.ndarray,
    candidate: Candidate,
    heads: dict[int, tuple[Candidate, str, pd.DataFrame, np.ndarray]],
) -> tuple[Scorer, np.ndarray]:
    """The served scorer (``evaluated``'s kind and calibration kind, every settled row), and its out-of-fold
    probabilities; ``heads`` gives per window head its LightGBM candidate, calibration kind and rows."""
    inputs = model_inputs(features, table, spec.categorical)
    x, _ = encode_inputs(inputs, table)
    fold = entity_folds(table["entity_id"], spec.split.refit_folds, spec.split.seed)
    main = cross_fit(candidate, inputs, x, y, fold, evaluated.calibrator.kind, spec.gate.min_distinct)
    scorer = Scorer(
        spec.name,
        spec.entity,
        inputs,
        main.model,
        main.calibrator,
        reference_quantiles(main.oof_probability),
        spec.grades.model_dump(),
    )
    for days, (head_candidate, kind, rows, labels) in heads.items():
        head_x, _ = encode_inputs(inputs, rows)
        head_fold = entity_folds(rows["entity_id"], spec.split.refit_folds, spec.split.seed)
        head = cross_fit(head_candidate, inputs, head_x, labels, head_fold, kind, spec.gate.min_distinct)
        scorer.heads.append(Head(days, head.model, head.calibrator))
    return scorer, main.oof_probability


def new_levels(evaluated: Scorer, served: Scorer) -> dict[str, int]:
    """Per categorical input, the levels the refit learned that the evaluated model did not know."""
    before = {f.name: set(f.levels or []) for f in evaluated.inputs}
    return {
        f.name: len(set(f.levels or []) - before.get(f.name, set()))
        for f in served.inputs
        if f.kind == "categorical" and set(f.levels or []) - before.get(f.name, set())
    }
