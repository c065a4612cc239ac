"""The leakage guard judges a feature by what it says of other entities' outcomes, not of its own entity's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.guards import entity_halves, single_feature_auc

ENTITIES, SNAPSHOTS = 600, 5


def _snapshots(rng: np.random.Generator) -> tuple[pd.Series, np.ndarray]:
    """Each entity's snapshots as consecutive rows, as the training table holds them, all with its label."""
    entities = pd.Series(np.repeat([f"L{i:05d}" for i in range(ENTITIES)], SNAPSHOTS))
    y = np.repeat(rng.random(ENTITIES) < 0.2, SNAPSHOTS).astype(int)
    return entities, y


def test_an_id_like_category_of_no_signal_is_no_leak() -> None:
    """A level per entity (a landing page that only this lead has) says nothing of any other entity's outcome."""
    entities, y = _snapshots(np.random.default_rng(0))
    pages = pd.Series([f"lp-{i}" for i in pd.factorize(entities)[0]], dtype="string")
    assert single_feature_auc(pages, y, "categorical", entity_halves(entities)) < 0.6


def test_a_category_that_spells_the_outcome_is_caught() -> None:
    entities, y = _snapshots(np.random.default_rng(1))
    tags = pd.Series(np.where(y == 1, "will enrol", "not interested"), dtype="string")
    assert single_feature_auc(tags, y, "categorical", entity_halves(entities)) == pytest.approx(1.0)


def test_a_mildly_informative_category_keeps_its_signal() -> None:
    """Direction: a category whose levels carry a real lift ranks the labels better than chance, well below a leak."""
    rng = np.random.default_rng(2)
    entities, y = _snapshots(rng)
    source = np.where(rng.random(ENTITIES) < np.where(y[::SNAPSHOTS] == 1, 0.6, 0.3), "referral", "web")
    sources = pd.Series(np.repeat(source, SNAPSHOTS), dtype="string")
    auc = single_feature_auc(sources, y, "categorical", entity_halves(entities))
    assert 0.6 < auc < 0.8
