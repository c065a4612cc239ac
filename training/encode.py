"""Categorical levels learned on the training split (rare ones pooled), the model's input contract."""

from __future__ import annotations

import pandas as pd

from features.catalog import Feature
from features.scoring import OTHER, InputFeature
from training.spec import Categorical


def learn_levels(values: pd.Series, policy: Categorical) -> list[str]:
    """The most frequent levels seen at least ``min_count`` times (at most ``max_levels - 1``), plus OTHER."""
    counts = values.astype("string").value_counts(dropna=True)
    frequent = counts[counts >= policy.min_count].index[: policy.max_levels - 1]
    return [*map(str, frequent), OTHER]


def model_inputs(features: list[Feature], train: pd.DataFrame, policy: Categorical) -> list[InputFeature]:
    return [
        InputFeature.of(f, learn_levels(train[f.name], policy) if f.kind == "categorical" else None) for f in features
    ]
