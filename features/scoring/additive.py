"""Additive models in log-odds (a regularised logistic regression, a naive-Bayes frequency model) in the shape the
scorer applies: ``predict(x, raw_score=True)`` for the margin and ``predict(x, pred_contrib=True)`` for exact
per-input contributions plus a bias column, as LightGBM's booster gives them.

The margin is ``intercept + sum_j effect_j(x_j)``, one effect per input, so the contribution of input ``j`` is
``effect_j(x_j) - mean_j`` (its mean effect on the training rows) and the bias is ``intercept + sum_j mean_j``:
exact SHAP values of an additive model. Inputs come as the scorer encodes them: numbers as floats, categoricals
as their training level codes, missing as NaN.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

ADDITIVE_FILE = "additive.json"


def signed_log1p(values: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): tames heavy-tailed counts, minutes and money; monotone, so order is kept."""
    return np.sign(values) * np.log1p(np.abs(values))


@dataclass
class Term:
    """One input's effect on the margin.

    - ``linear``: ``weight * (signed_log1p(x) - center) / scale``, ``signed_log1p(x)`` held within the range
      seen in training (``low``, ``high``): a fitted line is not extended past its data (a lead older than any
      training snapshot, a month after the training period);
    - ``bins``: ``values[k]`` for the bin ``k`` of ``x`` among the inner ``edges`` (left-closed);
    - ``levels``: ``values[code]`` for a categorical's training level code;
    and ``missing`` when the value is missing (or a code the term does not know).
    """

    kind: Literal["linear", "bins", "levels"]
    weight: float = 0.0
    center: float = 0.0
    scale: float = 1.0
    low: float = -np.inf
    high: float = np.inf
    edges: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    missing: float = 0.0
    mean: float = 0.0  # mean effect on the training rows


_LINEAR = ("weight", "center", "scale", "low", "high", "missing")


def _parameters(terms: list[Term]) -> tuple[np.ndarray, ...]:
    return tuple(np.array([getattr(t, name) for t in terms]) for name in _LINEAR)


def _linear(
    x: np.ndarray,
    weight: np.ndarray,
    center: np.ndarray,
    scale: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    missing: np.ndarray,
) -> np.ndarray:
    known = ~np.isnan(x)
    value = weight * (np.clip(signed_log1p(np.where(known, x, 0.0)), low, high) - center) / scale
    return np.where(known, value, missing)


class _Stacked:
    """The terms' parameters stacked by kind, made once per model: gathering them term by term costs more than
    applying them to a request's row. Linear terms in one pass; level terms in one look-up of a table with a row
    per term (its values, then its ``missing`` up to the widest term's width); bins a term at a time."""

    def __init__(self, terms: list[Term]) -> None:
        self.linear = [j for j, t in enumerate(terms) if t.kind == "linear"]
        self.parameters = _parameters([terms[j] for j in self.linear])
        self.levels = [j for j, t in enumerate(terms) if t.kind == "levels"]
        levels = [terms[j] for j in self.levels]
        self.counts = np.array([len(t.values) for t in levels], dtype=np.int64)
        width = int(self.counts.max(initial=0)) + 1
        self.table = np.array([[*t.values, *[t.missing] * (width - len(t.values))] for t in levels]).reshape(-1, width)
        self.rows = np.arange(len(levels))
        self.bins = [
            (j, np.asarray(t.edges), np.asarray(t.values), t.missing) for j, t in enumerate(terms) if t.kind == "bins"
        ]
        self.width = len(terms)

    def effects(self, x: np.ndarray) -> np.ndarray:
        """Each term's effect on its column of ``x`` (missing: NaN)."""
        out = np.empty((len(x), self.width))
        if self.linear:
            out[:, self.linear] = _linear(x[:, self.linear], *self.parameters)
        if self.levels:
            out[:, self.levels] = self._level_effects(x[:, self.levels])
        for j, edges, values, missing in self.bins:
            known = ~np.isnan(x[:, j])
            found = values[np.searchsorted(edges, np.where(known, x[:, j], 0.0), side="right")]
            out[:, j] = np.where(known, found, missing)
        return out

    def _level_effects(self, x: np.ndarray) -> np.ndarray:
        codes = np.where(np.isnan(x), -1.0, x).astype(np.int64)
        inside = (codes >= 0) & (codes < self.counts)  # a missing value, or a code the term does not know: missing
        return self.table[self.rows, np.where(inside, codes, self.counts)]  # past a term's values: its ``missing``


@dataclass
class AdditiveModel:
    """A model whose log-odds are a sum of one effect per input (see the module docstring)."""

    kind: Literal["logistic", "naive_bayes", "prior"]  # prior: ``features.scoring.PRIOR``
    intercept: float
    terms: list[Term]

    @cached_property
    def _stacked(self) -> _Stacked:
        return _Stacked(self.terms)

    @cached_property
    def _means(self) -> np.ndarray:
        return np.array([t.mean for t in self.terms])

    def effects(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self._stacked.effects(as_matrix(x))

    def predict(self, x: pd.DataFrame | np.ndarray, raw_score: bool = False, pred_contrib: bool = False) -> np.ndarray:
        """Margins (``raw_score``), contributions with the bias last (``pred_contrib``), else probabilities."""
        effects = self.effects(x)
        if pred_contrib:
            means = self._means
            bias = np.full((len(effects), 1), self.intercept + means.sum())
            return np.hstack([effects - means, bias])
        margin = self.intercept + effects.sum(axis=1)
        return margin if raw_score else 1.0 / (1.0 + np.exp(-margin))

    def with_means(self, x: pd.DataFrame | np.ndarray) -> AdditiveModel:
        """The same model with each term's mean effect taken over ``x`` (the training rows)."""
        effects = self.effects(x)
        for j, term in enumerate(self.terms):
            term.mean = float(effects[:, j].mean())
        self.__dict__.pop("_means", None)  # made again from the new means
        return self

    def save(self, path: Path) -> None:
        state = {"kind": self.kind, "intercept": self.intercept, "terms": [asdict(t) for t in self.terms]}
        path.write_text(json.dumps(state), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> AdditiveModel:
        state = json.loads(path.read_text(encoding="utf-8"))
        return cls(state["kind"], state["intercept"], [Term(**t) for t in state["terms"]])


def as_matrix(x: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The scorer's float matrix: a frame's categorical columns become their codes (missing: NaN)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.float64, copy=False)
    columns = []
    for name in x.columns:
        col = x[name]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy()
            columns.append(np.where(codes < 0, np.nan, codes).astype(np.float64))
        else:
            columns.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
    return np.column_stack(columns) if columns else np.empty((len(x), 0))
