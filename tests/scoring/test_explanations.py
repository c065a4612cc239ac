"""Key factors: exact SHAP summed per business driver, consistent with the scores, in zh-CN and en, with effects
on the calibrated probability that add up to it."""

from __future__ import annotations

import re
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from features.crm.dataset import Manifest, read_dataset
from features.crm.schema import ExtraColumn
from features.pit.build import build_features
from features.pit.catalog import feature_catalog
from features.pit.frames import scoring_frame
from features.scoring.additive import AdditiveModel
from features.scoring.blend import Blend, Model
from features.scoring.explanations import MIN_EFFECT, FactorEffect, Factors
from features.scoring.factors import factor_of
from features.scoring.inputs import OTHER, InputFeature, encode_matrix
from features.scoring.scorer import (
    Calibrator,
    Scorer,
    _scores_frame,
    consistent_windows,
    expected_days,
    reference_quantiles,
)
from tests.helpers import Stores
from training.encode import model_inputs
from training.spec import Categorical

TOLERANCE = 0.005  # half a point: what the rounded effects in scores.csv may miss the probability by (top 3 each way)


@pytest.fixture(scope="module")
def trained(small_crm: Stores) -> tuple[Path, Path, Scorer]:
    """The private MLflow store a lead model was trained into (the session's small CRM), its data, and the model."""
    return small_crm.store, small_crm.data, small_crm.trained["lead_score"].scorer


@pytest.fixture(scope="module")
def scored(trained: tuple[Path, Path, Scorer]) -> tuple[Scorer, pd.DataFrame]:
    _, data, scorer = trained
    ds = read_dataset(data)
    table = build_features(ds, "lead", scoring_frame(ds, "lead", None))
    return scorer, table


def test_one_pass_scores_match_predict(scored: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = scored
    together, _ = scorer.predict_with_factors(table)
    explained = together.drop(columns=["base_probability", "other_effect", "warnings"])
    pd.testing.assert_frame_equal(explained, scorer.predict(table), atol=1e-12, rtol=0)


def test_effects_are_shares_of_the_change_from_the_base_and_add_up(scored: tuple[Scorer, pd.DataFrame]) -> None:
    """Each factor's effect is its share of probability - base in proportion to its contribution; the base, the
    listed effects and the others' sum make the probability."""
    scorer, table = scored
    scores, reasons = scorer.predict_with_factors(table, top=3, locale="en")
    p, base = scores["probability"].to_numpy(), scores["base_probability"].to_numpy()
    effect, keys, bias = _factor_effects(scorer, table)
    np.testing.assert_allclose(base, np.clip(scorer.calibrator(bias), 0, 1), atol=1e-12)
    assert np.ptp(base) < 1e-9 and 0 < base[0] < 1  # one typical lead for all
    column = {key: j for j, key in enumerate(keys)}
    assert sum(bool(r["positive"]) and bool(r["negative"]) for r in reasons) > len(reasons) / 2
    for i, r in enumerate(reasons):
        listed = r["positive"] + r["negative"]
        for e in listed:
            assert e.delta_probability == pytest.approx(effect[i, column[e.factor]], abs=1e-12)
        others = effect[i, [j for key, j in column.items() if key not in {e.factor for e in listed}]].sum()
        assert scores["other_effect"].iat[i] == pytest.approx(others, abs=1e-9)
        total = base[i] + sum(e.delta_probability for e in listed) + scores["other_effect"].iat[i]
        assert total == pytest.approx(p[i], abs=TOLERANCE)
    assert (scores["other_effect"].abs() > MIN_EFFECT).any()  # the unlisted factors are not all negligible


def test_no_listed_effect_shows_as_zero_and_each_has_its_sides_sign(scored: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = scored
    reasons = scorer.explain(table, top=20, locale="zh-CN")
    positive = [e for r in reasons for e in r["positive"]]
    negative = [e for r in reasons for e in r["negative"]]
    assert positive and negative
    assert all(e.delta_probability >= MIN_EFFECT and e.contribution > 0 for e in positive)
    assert all(e.delta_probability <= -MIN_EFFECT and e.contribution < 0 for e in negative)
    assert all(f"{e.delta_probability:+.1%}" not in ("+0.0%", "-0.0%") for e in positive + negative)
    effect, _, _ = _factor_effects(scorer, table)
    assert ((effect != 0) & (np.abs(effect) < MIN_EFFECT)).any()  # there were such small effects to leave out


def _factor_effects(scorer: Scorer, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every factor's effect (rows x factors), restated from the definition: its contribution's share of the
    calibrated probability's change from the bias (the expected margin) to the row's margin; the keys; the bias."""
    x, _ = encode_matrix(scorer.inputs, table)
    full = scorer.booster.predict(x, pred_contrib=True)
    margin, bias = full.sum(axis=1), full[:, -1]
    change = np.clip(scorer.calibrator(margin), 0, 1) - np.clip(scorer.calibrator(bias), 0, 1)
    _, by_factor, keys = scorer.contributions(x)
    return by_factor * (change / (margin - bias))[:, None], keys, bias


def test_scores_csv_lists_values_and_effects_that_add_up(
    trained: tuple[Path, Path, Scorer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.scoring import score_open

    store, data, _ = trained
    monkeypatch.setenv("SALESML_STORE", str(store))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    scores = score_open("lead_score", data, as_of=None, locale="en", top=3)
    assert len(scores) > 100
    columns = list(scores.columns)
    assert columns.index("base_probability") < columns.index("top_positive") < columns.index("other_effect")
    for row in scores.itertuples():
        listed = [t for t in (row.top_positive, row.top_negative) if t]
        texts = [t for side in listed for t in side.split("; ")]
        assert all(re.fullmatch(r".+ = .+ \([+-]\d+\.\d%\)", t) for t in texts), texts
        assert not any("__other__" in t or " = nan" in t for t in texts)
        effects = [float(t.rsplit("(", 1)[1].rstrip("%)")) / 100 for t in texts]
        assert row.base_probability + sum(effects) + row.other_effect == pytest.approx(row.probability, abs=TOLERANCE)
    assert scores["top_positive"].str.contains(": ").any()  # a factor of several inputs names the one shown


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


def _exact_shap(model: Model, x: pd.DataFrame) -> np.ndarray:
    """SHAP values computed apart from the scorer: shap's own TreeExplainer for trees, an additive model's terms
    less their training means, a blend's members weighted."""
    if isinstance(model, Blend):
        return sum(w * _exact_shap(m, x) for w, m in zip(model.weights, model.members, strict=True))
    if isinstance(model, AdditiveModel):
        return model.effects(x) - np.array([t.mean for t in model.terms])
    return shap.TreeExplainer(model).shap_values(x)


def test_factors_sum_their_members_and_match_shap(scored: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = scored
    x, _ = scorer.encode(table)
    raw, by_factor, keys = scorer.contributions(x)
    np.testing.assert_allclose(raw, _exact_shap(scorer.booster, x), atol=1e-9)
    for j, key in enumerate(keys):
        members = [i for i, f in enumerate(scorer.inputs) if f.factor == key]
        np.testing.assert_allclose(by_factor[:, j], raw[:, members].sum(axis=1), atol=1e-12)
    assert len(keys) < len(scorer.inputs)  # windows of one count are one factor
    margin = scorer.margin(x)
    bias = margin - raw.sum(axis=1)
    assert np.ptp(bias) < 1e-9  # the same expected value for every row: additivity holds


@given(
    st.lists(st.integers(0, 5), min_size=1, max_size=30).flatmap(
        lambda factor: st.tuples(
            st.just(factor),
            arrays(
                np.float64,
                st.tuples(st.integers(0, 5), st.just(len(factor))),
                elements=st.sampled_from([-1.5, -0.1, 0.0, 0.1, 0.3, 1.5]),
            ),
        )
    )
)
def test_factor_sums_and_leaders_are_the_member_by_member_ones(case: tuple[list[int], np.ndarray]) -> None:
    """Summed one member at a time in input order (a row's sums are then the same in any batch), and the leader the
    first of the members with the largest contribution: ties are frequent (equal values, zeros)."""
    factor, raw = case
    inputs = [InputFeature(f"x{i}", "numeric", "x", "x", f"f{j}", "f", "f") for i, j in enumerate(factor)]
    factors = Factors.of(inputs)
    sums = np.zeros((len(raw), len(factors.keys)))
    leaders = np.zeros((len(raw), len(factors.keys)), dtype=int)
    for j, key in enumerate(factors.keys):
        members = [i for i, f in enumerate(inputs) if f.factor == key]
        for i in members:
            sums[:, j] += raw[:, i]
        for row in range(len(raw)):
            leaders[row, j] = members[int(np.argmax(np.abs(raw[row, members])))]
    assert np.array_equal(factors.sums(raw), sums)
    assert np.array_equal(factors.leaders(raw), leaders)


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


EXTRAS = [
    ExtraColumn("age", "numeric", display="age"),
    ExtraColumn("landing_page", "categorical", "落地页"),
    ExtraColumn("customer_id", "categorical", "Customer ID"),
]
MANIFEST = Manifest(source="t", exported_at=pd.Timestamp("2026-01-01", tz="UTC"), extra_columns={"leads": EXTRAS})


def test_extras_are_named_apart_from_built_features_in_both_locales() -> None:
    catalog = {f.name: f for f in feature_catalog(MANIFEST, "lead")}
    age, page, built = catalog["x_age"], catalog["x_landing_page"], catalog["age_days"]
    assert (age.zh, age.en) == ("age（属性）", "age (attribute)")
    assert (page.zh, page.en) == ("落地页（属性）", "落地页 (attribute)")
    assert built.en == "Age (days)" and age.en != built.en and age.zh != built.zh
    factor = factor_of(age)  # an extra without a concept is its own factor, named the same way
    assert (factor.zh, factor.en) == (age.zh, age.en)


def test_training_records_how_many_values_a_categorical_takes() -> None:
    pages = pd.Series([f"lp-{i % 512:03d}" for i in range(5000)] + [None] * 10)
    (feature,) = [f for f in feature_catalog(MANIFEST, "lead") if f.name == "x_landing_page"]
    (page,) = model_inputs([feature], pd.DataFrame({feature.name: pages}), Categorical(min_count=5, max_levels=50))
    assert page.distinct == 512 and len(page.levels or []) == 50 and (page.levels or [])[-1] == OTHER


@pytest.fixture(scope="module")
def with_ids() -> tuple[Scorer, pd.DataFrame]:
    """A tiny real scorer over the extras: a landing page (512 values in training, 9 kept as levels), a customer id
    (from before distinct counts were recorded) and an age; rare landing pages, customer c1 and age convert more."""
    rng = np.random.default_rng(5)
    n = 3000
    page = rng.integers(0, 10, n)  # 9 frequent levels, code 9 is the pooled rare ones
    customer = rng.integers(0, 3, n)
    age = rng.normal(40, 10, n)
    rate = np.where(page == 9, 0.6, 0.1) + np.where(customer == 1, 0.2, 0.0) + 0.005 * (age - 40)
    y = (rng.random(n) < rate).astype(float)
    x = np.column_stack([page, customer, age]).astype(float)
    params = {"objective": "binary", "num_leaves": 8, "min_data_in_leaf": 20, "verbose": -1, "deterministic": True}
    booster = lgb.train(params, lgb.Dataset(x, y, categorical_feature=[0, 1]), num_boost_round=30)
    extras = {f.name: f for f in feature_catalog(MANIFEST, "lead") if f.name.startswith("x_")}
    inputs = [
        InputFeature.of(extras["x_landing_page"], [f"lp-{i:03d}" for i in range(9)] + [OTHER], 512),
        InputFeature.of(extras["x_customer_id"], ["c0", "c1", "c2"]),
        InputFeature.of(extras["x_age"]),
    ]
    calibrator = Calibrator("sigmoid")
    reference = reference_quantiles(calibrator(booster.predict(x, raw_score=True)))
    scorer = Scorer("ids", "lead", inputs, booster, calibrator, reference, {"A": 85, "B": 60})
    table = pd.DataFrame({"x_landing_page": ["lp-321", "lp-001"], "x_customer_id": ["c1", None], "x_age": [61.0, 40.5]})
    return scorer, table


def test_id_like_inputs_show_how_many_values_and_the_value_sent(with_ids: tuple[Scorer, pd.DataFrame]) -> None:
    scorer, table = with_ids
    names = {
        "en": (
            "落地页 (attribute) (one of 512 values)",
            "Customer ID (attribute) (one of many values)",
            "age (attribute)",
        ),
        "zh-CN": ("落地页（属性）（共512种取值）", "Customer ID（属性）（取值众多）", "age（属性）"),
    }
    for locale, (page_name, id_name, age_name) in names.items():
        _, reasons = scorer.predict_with_factors(table, top=3, locale=locale)  # type: ignore[arg-type]
        effects = {e.feature: e for e in reasons[0]["positive"]}
        assert set(effects) == {"x_landing_page", "x_customer_id", "x_age"}
        page = effects["x_landing_page"]
        assert page.value == "lp-321" and page.feature_name == page_name  # the page sent, not the pooled level
        assert page.text(locale).startswith(f"{page_name} = lp-321 (+")  # its own factor: named once
        assert effects["x_customer_id"].feature_name == id_name and effects["x_customer_id"].value == "c1"
        assert effects["x_age"].feature_name == age_name and effects["x_age"].name == age_name


def test_values_print_compactly_in_the_locale() -> None:
    def text(value: object, locale: str = "en") -> str:
        effect = FactorEffect("age", "Lead age", "age_days", "Age (days)", value, 0.3, 0.066)
        return effect.text(locale)  # type: ignore[arg-type]

    assert text(66.0) == "Lead age: Age (days) = 66 (+6.6%)"
    assert text(0.66666) == "Lead age: Age (days) = 0.667 (+6.6%)"
    assert text(12345.6) == "Lead age: Age (days) = 12346 (+6.6%)"
    assert text(None) == "Lead age: Age (days) = missing (+6.6%)"
    assert text(None, "zh-CN") == "Lead age: Age (days) = 缺失 (+6.6%)"
    assert text(OTHER) == "Lead age: Age (days) = other (rare value) (+6.6%)"


@pytest.mark.parametrize("rows", [0, 1, 3])
def test_the_scores_frame_is_the_one_the_dict_constructor_makes(rows: int) -> None:
    """Scores taken from their columns as they are: the dtypes and values pandas' own constructor gives, warnings
    one list a row whatever their lengths (of no rows, a column of objects, where pandas would make it floats)."""
    columns = {
        "probability": np.linspace(0.1, 0.9, rows),
        "score": np.arange(rows, dtype=int),
        "grade": np.array(["A", "C", "B"][:rows], dtype="<U1"),  # as ``Scorer.grade`` gives them
        "p_30d": np.full(rows, np.nan),
        "warnings": [["x: not provided"], [], ["a", "b"]][:rows],
    }
    pd.testing.assert_frame_equal(_scores_frame(columns, rows), pd.DataFrame(columns).astype({"warnings": object}))
