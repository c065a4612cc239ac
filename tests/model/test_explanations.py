"""Key factors: exact tree SHAP summed per business driver, consistent with the scores, in zh-CN and en."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shap
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.build import build_features
from features.dataset import read_dataset
from features.pit import scoring_frame
from features.scoring import Scorer, consistent_windows, encode_matrix, expected_days
from features.synth import synthesize
from tests.helpers import train_in_store


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scorer, pd.DataFrame]:
    data = tmp_path_factory.mktemp("explain") / "data"
    synthesize(data, leads=4000, seed=21)
    scorer = train_in_store(tmp_path_factory.mktemp("store"), "lead_score", data, 2).scorer
    ds = read_dataset(data)
    table = build_features(ds, "lead", scoring_frame(ds, "lead", None))
    return scorer, table


def test_one_pass_scores_match_predict(scored: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = scored
    together, _ = scorer.predict_with_factors(table)
    pd.testing.assert_frame_equal(together.drop(columns="warnings"), scorer.predict(table), atol=1e-12, rtol=0)


def test_the_matrix_path_equals_lightgbms_pandas_path(scored: tuple[Scorer, pd.DataFrame]) -> None:
    """Serving hands LightGBM a float matrix of level codes; training handed it pandas categoricals."""
    scorer, table = scored
    frame, _ = scorer.encode(table)
    matrix, _ = encode_matrix(scorer.inputs, table)
    assert any(f.kind == "categorical" for f in scorer.inputs)
    np.testing.assert_array_equal(scorer.margin(matrix), scorer.margin(frame))
    np.testing.assert_array_equal(
        scorer.booster.predict(matrix, pred_contrib=True), scorer.booster.predict(frame, pred_contrib=True)
    )


def test_factors_sum_their_members_and_match_shap(scored: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = scored
    x, _ = scorer.encode(table)
    raw, by_factor, keys = scorer.contributions(x)
    np.testing.assert_allclose(raw, shap.TreeExplainer(scorer.booster).shap_values(x), atol=1e-9)
    for j, key in enumerate(keys):
        members = [i for i, f in enumerate(scorer.inputs) if f.factor == key]
        np.testing.assert_allclose(by_factor[:, j], raw[:, members].sum(axis=1), atol=1e-12)
    assert len(keys) < len(scorer.inputs)  # windows of one count are one factor
    margin = scorer.margin(x)
    bias = margin - raw.sum(axis=1)
    assert np.ptp(bias) < 1e-9  # the same expected value for every row: additivity holds


def test_top_factors_are_ordered_signed_and_bounded(scored: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = scored
    reasons = scorer.explain(table, top=3, locale="en")
    assert len(reasons) == len(table)
    assert any(r["positive"] for r in reasons) and any(r["negative"] for r in reasons)
    for r in reasons:
        up = [e.contribution for e in r["positive"]]
        down = [e.contribution for e in r["negative"]]
        assert len(up) <= 3 and len(down) <= 3
        assert all(c > 0 for c in up) and all(c < 0 for c in down)
        assert up == sorted(up, reverse=True) and down == sorted(down)
        assert all(e.delta_probability > 0 for e in r["positive"])
        assert all(e.delta_probability < 0 for e in r["negative"])


def test_locales_change_the_words_not_the_numbers(scored: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = scored
    head = table.head(50)
    zh, en = scorer.explain(head, locale="zh-CN"), scorer.explain(head, locale="en")
    pairs = [(a, b) for rz, re in zip(zh, en, strict=True) for a, b in zip(rz["positive"], re["positive"], strict=True)]
    assert pairs
    assert all(a.factor == b.factor and a.contribution == b.contribution for a, b in pairs)
    assert any(a.name != b.name for a, b in pairs)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in a.name) for a, _ in pairs)


def test_scorer_round_trips_through_its_files(scored: tuple[Scorer, pd.DataFrame], tmp_path: Path) -> None:
    scorer, table = scored
    again = Scorer.load(scorer.save(tmp_path / "scorer"))
    pd.testing.assert_frame_equal(again.predict(table), scorer.predict(table))


@given(
    arrays(np.float64, 6, elements=st.floats(0, 1)),
    arrays(np.float64, (3, 6), elements=st.floats(0, 1)),
)
def test_time_windows_never_exceed_longer_ones_or_the_probability(p: np.ndarray, heads: np.ndarray) -> None:
    windows = consistent_windows(p, {30: heads[0], 90: heads[2], 60: heads[1]})
    assert list(windows) == [30, 60, 90]
    assert (windows[30] <= windows[60]).all() and (windows[60] <= windows[90]).all() and (windows[90] <= p).all()
    consistent = (heads[0] <= heads[1]) & (heads[1] <= heads[2]) & (heads[2] <= p)
    np.testing.assert_array_equal(windows[30][consistent], heads[0][consistent])  # only inconsistencies change


def test_expected_days_is_where_the_window_curve_reaches_half_the_probability() -> None:
    p = np.array([0.8, 0.8, 0.8, 0.0, 0.5])
    windows = {
        30: np.array([0.4, 0.2, 0.0, 0.0, 0.5]),
        60: np.array([0.6, 0.4, 0.1, 0.0, 0.5]),
        90: np.array([0.8, 0.6, 0.2, 0.0, 0.5]),
    }
    # half reached at 30 days; at 60; never within 90; no event; halfway to 30 days (linear from day 0)
    np.testing.assert_allclose(expected_days(p, windows), [30, 60, np.nan, np.nan, 15])
