"""The bootstrap of entities behind every AUC interval: each draw's AUC is scikit-learn's on the drawn rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from features.scoring.metrics import auc_interval, entity_resamples, resampled_aucs


def _drawn_rows(groups: np.ndarray, resamples: int, seed: int) -> list[np.ndarray]:
    """The draws as row indices, each entity's rows repeated as often as it was drawn (the plain bootstrap)."""
    codes, uniques = pd.factorize(groups)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(uniques), len(uniques))
        rows.append(np.concatenate([np.flatnonzero(codes == entity) for entity in drawn]))
    return rows


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 60),
    entities=st.integers(1, 15),
    levels=st.integers(1, 6),  # few distinct scores: many ties
    seed=st.integers(0, 2**16),
)
def test_each_draw_is_the_auc_of_the_drawn_rows(n: int, entities: int, levels: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, entities, n).astype(str)
    y = rng.integers(0, 2, n)
    scores = [rng.integers(0, levels, n) / levels, rng.random(n)]
    expected = [
        [roc_auc_score(y[r], s[r]) for s in scores] for r in _drawn_rows(groups, 30, seed) if len(set(y[r])) == 2
    ]
    got = resampled_aucs(y, scores, groups, 30, seed)
    assert got.shape == (len(expected), 2)
    np.testing.assert_allclose(got, np.asarray(expected).reshape(-1, 2), rtol=0, atol=1e-12)


def test_an_entity_moves_with_all_its_rows() -> None:
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    for weights in entity_resamples(groups, 20, 0):
        assert weights[0] == weights[1] and weights[3] == weights[4] == weights[5]
        assert weights[[0, 2, 3]].sum() == 3  # three entities drawn, with replacement


def test_the_interval_narrows_with_more_entities() -> None:
    rng = np.random.default_rng(0)
    narrow = []
    for n in (200, 5_000):
        y = rng.integers(0, 2, n)
        p = y * 0.3 + rng.random(n)
        lo, hi = auc_interval(y, p, np.arange(n))
        assert lo < roc_auc_score(y, p) < hi
        narrow.append(hi - lo)
    assert narrow[1] < narrow[0] / 3
