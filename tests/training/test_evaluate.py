"""Global factors: each factor's mean effect and the direction its leading feature moves the odds."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.scoring.inputs import InputFeature
from training.evaluate import global_factors

ROWS = 1119


@dataclass
class Explained:
    """What ``global_factors`` reads of a scorer: its inputs and their SHAP contributions."""

    inputs: list[InputFeature]
    raw: np.ndarray

    def contributions(self, x: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.raw, self.raw, np.array([f.factor for f in self.inputs])


def _numeric(name: str) -> InputFeature:
    return InputFeature(name, "numeric", name, name, name, name, name)


def test_directions_and_an_effect_the_same_everywhere() -> None:
    """A contribution equal on every row (whose float std is 3e-17, not 0) has no direction, and says so without
    a warning from the rank correlation; a rising one raises the odds."""
    x = pd.DataFrame({"age_days": np.arange(ROWS) % 2, "visits": np.arange(ROWS, dtype=float)})
    raw = np.column_stack([np.full(ROWS, 0.1), np.linspace(-1, 1, ROWS)])
    assert np.std(raw[:, 0]) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        factors = global_factors(Explained([_numeric("age_days"), _numeric("visits")], raw), x)
    directions = {f["leading_feature"]: f["direction"] for f in factors}
    assert directions == {"age_days": "mixed", "visits": "higher raises odds"}
