"""An additive model's effects, applied to all inputs at once, are each term's definition applied to its own column."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.scoring.additive import AdditiveModel, Term

VALUES = st.floats(-3, 3, allow_nan=False)
CELLS = st.one_of(st.just(math.nan), st.integers(-2, 6).map(float), st.floats(-50, 50, allow_nan=False))
TERMS = st.one_of(
    st.builds(
        lambda w, c, s, low, width, m: Term("linear", w, c, s, low, low + width, missing=m),
        VALUES,
        VALUES,
        st.floats(0.1, 3),
        st.floats(-4, 1),
        st.floats(0, 5),
        VALUES,
    ),
    st.builds(
        lambda edges, m, values: Term("bins", edges=sorted(edges), values=values[: len(edges) + 1], missing=m),
        st.lists(st.floats(-20, 20, allow_nan=False), max_size=4, unique=True),
        VALUES,
        st.lists(VALUES, min_size=5, max_size=5),
    ),
    st.builds(lambda values, m: Term("levels", values=values, missing=m), st.lists(VALUES, max_size=5), VALUES),
)


def defined(term: Term, x: float) -> float:
    """A term's effect on one value, as its docstring defines it."""
    if math.isnan(x):
        return term.missing
    if term.kind == "linear":
        held = min(max(math.copysign(math.log1p(abs(x)), x), term.low), term.high)
        return term.weight * (held - term.center) / term.scale
    if term.kind == "bins":
        return term.values[sum(edge <= x for edge in term.edges)]
    code = int(x)
    return term.values[code] if 0 <= code < len(term.values) else term.missing


@settings(max_examples=200, deadline=None)
@given(
    st.lists(TERMS, min_size=1, max_size=8).flatmap(
        lambda terms: st.tuples(
            st.just(terms), st.lists(st.lists(CELLS, min_size=len(terms), max_size=len(terms)), min_size=1, max_size=4)
        )
    )
)
def test_each_column_gets_its_terms_defined_effect(case: tuple[list[Term], list[list[float]]]) -> None:
    terms, rows = case
    model = AdditiveModel("logistic", 0.3, terms)
    got = model.effects(np.array(rows, dtype=np.float64))
    expected = [[defined(t, x) for t, x in zip(terms, row, strict=True)] for row in rows]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_new_means_are_the_contributions_centre() -> None:
    terms = [Term("linear", 1.0), Term("levels", values=[0.5, -0.5])]
    model = AdditiveModel("logistic", 0.0, terms)
    x = np.array([[1.0, 0.0], [3.0, 1.0], [np.nan, 0.0]])
    model.predict(x, pred_contrib=True)  # with the means of before: all zero
    contributions = model.with_means(x).predict(x, pred_contrib=True)
    np.testing.assert_allclose(contributions[:, :-1].mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(contributions.sum(axis=1), model.predict(x, raw_score=True), atol=1e-12)
