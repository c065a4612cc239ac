"""A real, tiny scorer whose probability rises with one count feature: known grades for hand-made datasets.

Trained in a second on exact shares (``x`` of ``top`` positive at count ``x``), so the probability rises with the
count; the reference population is the counts 0..top equally often, so at the default thresholds the top count
grades A, the next B, the rest C.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

from features.scoring.inputs import InputFeature
from features.scoring.scorer import Calibrator, Scorer, reference_quantiles

ROWS_PER_COUNT = 60
GRADES = {"A": 80, "B": 65}


def count_scorer(model_name: str, entity: str, feature: str, top: int = 6) -> Scorer:
    """A scorer of ``entity`` reading only ``feature`` (a count, 0..top; more is better)."""
    counts = np.repeat(np.arange(top + 1), ROWS_PER_COUNT)
    rank = np.tile(np.arange(ROWS_PER_COUNT), top + 1)
    labels = (rank < np.round(ROWS_PER_COUNT * counts / top)).astype(float)
    params = {"objective": "binary", "num_leaves": 8, "min_data_in_leaf": 5, "verbose": -1, "deterministic": True}
    x = counts.reshape(-1, 1).astype(float)
    booster = lgb.train(params, lgb.Dataset(x, labels), num_boost_round=40)
    calibrator = Calibrator("sigmoid")  # a = 1, b = 0: the booster's own probability
    inputs = [InputFeature(feature, "numeric", feature, feature, feature, feature, feature)]
    reference = reference_quantiles(calibrator(booster.predict(x, raw_score=True)))
    return Scorer(model_name, entity, inputs, booster, calibrator, reference, dict(GRADES))
