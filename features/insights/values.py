"""Per-value insights: how often leads convert (deals win) by the value of a key factor, with counts and intervals.

A key factor's direction says which way it moves the odds; a manager also asks by how much, for which values, and
on how many cases: the conversion by lead source, the win rate with and without the CTO in a meeting, by POC length.
Each entity counts once, as its latest labelled snapshot showed it (a deal seen weekly would otherwise count as many
times as it stayed open). A numeric feature is cut into quantile bands; categories (and bands) with fewer than
``MIN_CASES`` cases are pooled into one labelled row, so that no rate rests on a handful of deals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest

#: Fewer cases than this and a value is pooled with the other small ones.
MIN_CASES = 30
#: Quantile bands a numeric feature is cut into (fewer where its values repeat).
BANDS = 4
#: A numeric feature with this many distinct values or fewer (a flag, a count of CTO meetings) is shown per value.
FEW_VALUES = 6
#: Confidence of the interval around each rate (Wilson's score interval).
CONFIDENCE = 0.9
POOLED = "(pooled: values under {n} cases)"
MISSING = "(missing)"


@dataclass(frozen=True)
class ValueRate:
    """One value (or band, or pool) of a feature: its cases, positives, rate and interval."""

    value: str
    cases: int
    positives: int
    rate: float
    low: float
    high: float


def latest_labelled(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """Each entity's latest snapshot whose label is known: one case per lead or deal."""
    known = frame[frame[label].notna()]
    return known.sort_values("cutoff_time").drop_duplicates("entity_id", keep="last").reset_index(drop=True)


def value_rates(values: pd.Series, y: np.ndarray, numeric: bool) -> list[ValueRate]:
    """The rate of ``y`` per value of ``values`` (per quantile band when ``numeric`` and not ``FEW_VALUES``), small
    values pooled, missing values a row of their own; in value order (numbers low to high), the pool last."""
    y = np.asarray(y, dtype=int)
    groups = _numbers(values) if numeric else values.astype("string").fillna(MISSING)
    counts = pd.Series(y).groupby(groups.to_numpy(), sort=not numeric).agg(["size", "sum"])
    if numeric:
        counts = counts.reindex([group for group in groups.cat.categories if group in counts.index])
    small = counts["size"] < MIN_CASES
    rows = [_rate(str(value), int(n), int(k)) for value, (n, k) in counts[~small].iterrows()]
    if small.any():
        pooled = counts[small].sum()
        rows.append(_rate(POOLED.format(n=MIN_CASES), int(pooled["size"]), int(pooled["sum"])))
    return rows


def _numbers(values: pd.Series) -> pd.Series:
    """Each number's group, ordered low to high: its value when there are ``FEW_VALUES`` or fewer, else its quantile
    band labelled by the bounds the data show; missing values a group of their own, last."""
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.nunique() <= FEW_VALUES:
        distinct = np.sort(numbers.dropna().unique())
        groups = pd.Series(pd.Categorical(numbers, categories=distinct), index=values.index)
        labels = [f"{v:g}" for v in distinct]
    else:
        groups, edges = pd.qcut(numbers, BANDS, duplicates="drop", retbins=True)
        labels = [f"{low:.3g} .. {high:.3g}" for low, high in zip(edges[:-1], edges[1:], strict=True)]
    return groups.cat.rename_categories(labels).cat.add_categories([MISSING]).fillna(MISSING)


def _rate(value: str, cases: int, positives: int) -> ValueRate:
    interval = binomtest(positives, cases).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return ValueRate(value, cases, positives, positives / cases, float(interval.low), float(interval.high))
