"""Categorical levels learned on the training split (rare ones pooled), the model's input contract."""

from __future__ import annotations

import pandas as pd

from features.pit.catalog import Feature
from features.scoring.inputs import OTHER, InputFeature
from training.spec import Categorical


def learn_levels(counts: pd.Series, policy: Categorical) -> list[str]:
    """The most frequent levels seen at least ``min_count`` times (at most ``max_levels - 1``), plus OTHER."""
    frequent = counts[counts >= policy.min_count].index[: policy.max_levels - 1]
    return [*map(str, frequent), OTHER]


def model_inputs(features: list[Feature], train: pd.DataFrame, policy: Categorical) -> list[InputFeature]:
    """The inputs with, for categoricals, their levels and how many distinct values training saw (explanations
    show a value of an id-like input as one of that many)."""
    return [_input(f, train[f.name], policy) for f in features]


def _input(feature: Feature, values: pd.Series, policy: Categorical) -> InputFeature:
    if feature.kind != "categorical":
        return InputFeature.of(feature)
    counts = values.astype("string").value_counts(dropna=True)
    return InputFeature.of(feature, learn_levels(counts, policy), len(counts))
