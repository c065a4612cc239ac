"""Explanations: the key factors that raised and lowered each prediction, and their effects in words.

A factor's effect is its summed SHAP contribution's share of the probability's change from the base; up to
``top`` factors each way are listed per row, each with the input that weighed most within it and its value.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.messages import LOCALES, Locale, local, text
from features.pit.catalog import EXTRA_PREFIX
from features.scoring.factors import many_values_names
from features.scoring.inputs import OTHER, InputFeature

MIN_EFFECT = 0.0005  # a factor's effect under this would show as +0.0%: it is not listed (it is in other_effect)
MANY_VALUES = 50  # a categorical with more distinct values in training is shown as one of that many
#: An extra attribute named like an identifier (customer_id, "Customer ID", LeadId, 客户编号, a URL).
_ID_LIKE = re.compile(r"(?:^|[^A-Za-z])(?i:id|uuid|guid|url)(?![A-Za-z])|(?<=[a-z])I[Dd](?![a-z])|编号|号码|网址|链接")


@dataclass
class FactorEffect:
    """One key factor's push on one prediction."""

    factor: str
    name: str  # display name in the requested locale
    feature: str  # the member feature that contributed most
    feature_name: str
    value: Any
    contribution: float  # log-odds
    delta_probability: float  # its additive effect: base_probability + every factor's effect = probability

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self, locale: Locale) -> str:
        """The effect in words, ``Lead age: Age (days) = 66 (+6.6%)``, in the locale its names are in; a factor that is
        one input is named once."""
        shown = evidence(self.feature_name, self.value, locale)
        head = shown if self.factor == self.feature else f"{self.name}: {shown}"
        return f"{head} ({self.delta_probability:+.1%})"


def evidence(feature_name: str, value: Any, locale: Locale) -> str:
    """The input that weighed most within a factor and its value, ``Age (days) = 66``."""
    return f"{feature_name} = {shown_value(value, locale)}"


def shown_value(value: Any, locale: Locale) -> str:
    """A feature value as explanations print it: numbers compact (integers whole, others to 3 significant digits
    below 100), missing and pooled rare values in words."""
    if value is None:
        return text("value.missing", locale)
    if value == OTHER:
        return text("value.rare", locale)
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3g}"
    return str(value)


@dataclass(frozen=True)
class Factors:
    """How a model's inputs group into key factors, and their names in each locale: worked out once per model, as
    every scored row reads them."""

    inputs: list[InputFeature]
    keys: np.ndarray  # the factor keys, sorted: the columns of per-factor sums
    index: np.ndarray  # per input, its factor's column
    members: tuple[np.ndarray, ...]  # per factor, its inputs
    names: dict[str, list[tuple[str, str, str]]]  # per locale and input, ``_names``
    grouped: np.ndarray  # the inputs factor by factor, each factor's in input order (``members`` end to end)
    starts: np.ndarray  # where each factor's members start in ``grouped``

    @classmethod
    def of(cls, inputs: list[InputFeature]) -> Factors:
        keys, index = np.unique([f.factor for f in inputs], return_inverse=True)
        members = tuple(np.flatnonzero(index == j) for j in range(len(keys)))
        names = {locale: [_names(f, locale) for f in inputs] for locale in LOCALES}
        grouped = np.concatenate([np.zeros(0, dtype=np.intp), *members])
        starts = np.cumsum([0, *(len(m) for m in members[:-1])]) if members else np.zeros(0, dtype=np.intp)
        return cls(inputs, keys, index, members, names, grouped, starts)

    def sums(self, raw: np.ndarray) -> np.ndarray:
        """Per-factor sums of the members' contributions, added one by one in input order (``np.add.at`` adds in
        index order, unbuffered): a row's sums do not depend on the rows scored with it (a matrix product's blocking
        does, in the last bits; a reduction's pairwise sums differ from these)."""
        sums = np.zeros((len(raw), len(self.keys)))
        np.add.at(sums, (slice(None), self.index), raw)
        return sums

    def leaders(self, raw: np.ndarray) -> np.ndarray:
        """Per row and factor, the input that contributed most (its value is shown): of equal ones, the first."""
        if not len(self.keys):
            return np.zeros((len(raw), 0), dtype=np.intp)
        size = np.abs(raw[:, self.grouped])
        largest = np.maximum.reduceat(size, self.starts, axis=1)[:, self.index[self.grouped]]  # its factor's, per input
        at = np.where(size == largest, np.arange(len(self.grouped)), len(self.grouped))
        return self.grouped[np.minimum.reduceat(at, self.starts, axis=1)]


def top_factors(
    factors: Factors,
    x: np.ndarray,
    table: pd.DataFrame,
    raw: np.ndarray,
    scale: np.ndarray,
    top: int,
    locale: Locale,
) -> tuple[list[dict[str, list]], np.ndarray]:
    """Per row, up to ``top`` factors raising and lowering the probability, strongest first, each by at least
    MIN_EFFECT (a factor's effect: its contribution times the row's ``scale``); and per row the sum of the effects
    listed."""
    by_factor, keys = factors.sums(raw), factors.keys
    effect = by_factor * scale[:, None]  # element by element: a row's effects do not depend on the batch
    leader = factors.leaders(raw)
    order = np.argsort(-by_factor, axis=1, kind="stable")
    k = min(top, len(keys))
    sides = {"positive": (order[:, :k], 1.0), "negative": (order[:, ::-1][:, :k], -1.0)}
    out: list[dict[str, list]] = [{} for _ in range(len(x))]
    listed = np.zeros(len(x))
    for side, (picks, sign) in sides.items():
        shown = np.take_along_axis(effect, picks, axis=1)
        chosen = sign * shown >= MIN_EFFECT  # np.nonzero goes row by row, so each row keeps its order
        listed += np.where(chosen, shown, 0.0).sum(axis=1)
        r, j = np.nonzero(chosen)[0], picks[chosen]
        effects = _effects(factors, keys[j], by_factor[r, j], shown[chosen], leader[r, j], x, table, r, locale)
        ends = np.cumsum(chosen.sum(axis=1)).tolist()
        for row, (start, end) in zip(out, itertools.pairwise([0, *ends]), strict=True):
            row[side] = effects[start:end]
    return out, listed


def _effects(
    factors: Factors,
    keys: np.ndarray,
    totals: np.ndarray,
    deltas: np.ndarray,
    leads: np.ndarray,
    x: np.ndarray,
    table: pd.DataFrame,
    rows: np.ndarray,
    locale: Locale,
) -> list[FactorEffect]:
    """One effect per picked (row, factor), all at once: the leading member's value and the factor's effect."""
    words = factors.names[locale]
    values = _cells(factors.inputs, x, table, rows, leads)
    return [
        FactorEffect(key, *words[lead], value, total, delta)
        for key, lead, value, total, delta in zip(
            keys.tolist(), leads.tolist(), values, totals.tolist(), deltas.tolist(), strict=True
        )
    ]


def probability_per_log_odds(rise: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Per row, the probability's change from the base per log-odds of the margin's rise above the bias: a
    contribution times it is that contribution's share of the change. Calibration is monotone, so a share has its
    contribution's sign (or is 0), and a row's shares sum to its change exactly (0 where the margin is the bias)."""
    return np.divide(change, rise, out=np.zeros_like(change), where=rise != 0)


def _names(f: InputFeature, locale: Locale) -> tuple[str, str, str]:
    """An effect's names in the locale: its factor's, the leading input's key and that input's display name, which
    for an id-like input says how many values it takes."""
    zh, en = many_values_names(f.zh, f.en, f.distinct) if _many_valued(f) else (f.zh, f.en)
    return local((f.factor_zh, f.factor_en), locale), f.name, local((zh, en), locale)


def _many_valued(f: InputFeature) -> bool:
    """A categorical whose value is one of many (an id, a landing page): more than MANY_VALUES distinct values in
    training, or an extra attribute named like an identifier."""
    if f.kind != "categorical":
        return False
    named = f.name.startswith(EXTRA_PREFIX) and any(_ID_LIKE.search(text) for text in (f.name, f.en))
    return named or (f.distinct or 0) > MANY_VALUES


def _cells(
    inputs: list[InputFeature], matrix: np.ndarray, table: pd.DataFrame, rows: np.ndarray, columns: np.ndarray
) -> list[Any]:
    """The input values at (rows[i], columns[i]) as plain Python values, None if missing; for categoricals the level,
    or for one pooled with the rare levels the value the table holds (one id among hundreds, not ``__other__``)."""
    values = matrix[rows, columns]
    out: list[Any] = []
    for value, i, j in zip(values.tolist(), rows.tolist(), columns.tolist(), strict=True):
        f = inputs[j]
        if math.isnan(value):  # a Python float: numpy's isnan costs 15x more on one number
            out.append(None)
        elif f.kind == "categorical":
            level = (f.levels or [])[int(value)]
            out.append(str(table[f.name].iat[i]) if level == OTHER else level)
        else:
            out.append(value)
    return out
