"""Routing rows to their segment's model: a spec with ``segments`` registers, beside the global model, a model per
segment value as ``<model>.<by>.<value slug>``, each marked in its metadata with the feature-table column and value
it serves (``segment``). ``salesml score`` and the service score each row with the model of its segment's value
when one is served, and with the global model otherwise, through ``predict_routed``; everything else that scores
rows of a model (what-if, trend, monitoring) takes its champions as one ``Segmented`` scorer that routes the same way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.messages import Locale
from features.scoring.scorer import Scorer


def segment_model_name(model: str, by: str, value: str) -> str:
    """The registered name of a segment's model: ``lead_score.region.east``; the value as lower-case letters, digits
    and underscores (registries and the BentoML store take those)."""
    slug = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_") or "blank"
    return f"{model}.{by}.{slug}"


def segment_prefix(model: str) -> str:
    """What every segment model name of ``model`` starts with."""
    return f"{model}."


def segment_of(scorer: Scorer) -> dict[str, str] | None:
    """The segment a model serves (``by``, ``column``, ``value``); None for a global model."""
    return scorer.metadata.get("segment")


@dataclass(frozen=True)
class Routed:
    """Scores and factors of a table (``Scorer.predict_with_factors``, in its row order) and, per row, the index of
    the model that scored it in the models given (0: the global one) and its segment value (None: global)."""

    scored: pd.DataFrame
    reasons: list[dict[str, list]]
    model: np.ndarray
    segment: list[str | None]


def route(table: pd.DataFrame, segment_scorers: list[Scorer]) -> np.ndarray:
    """Per row, 1 + the index of the segment model whose segment value the row has, or 0 (the global model)."""
    chosen = np.zeros(len(table), dtype=int)
    for index, scorer in enumerate(segment_scorers, start=1):
        segment = segment_of(scorer)
        if segment is None or segment["column"] not in table.columns:
            continue
        mine = table[segment["column"]].astype(object).astype(str).eq(segment["value"]).to_numpy()
        chosen[mine & (chosen == 0)] = index
    return chosen


def predict_routed(
    table: pd.DataFrame, main: Scorer, segment_scorers: list[Scorer], top: int = 5, locale: Locale = "zh-CN"
) -> Routed:
    """Each row scored by its segment's model (``route``), the others by ``main``; one pass per model used."""
    chosen = route(table, segment_scorers)
    models = [main, *segment_scorers]
    scored, reasons = _per_model(table, chosen, models, lambda m, t: m.predict_with_factors(t, top=top, locale=locale))
    return Routed(scored, reasons, chosen, _values(models, chosen))


@dataclass(frozen=True)
class Segmented:
    """A model's global scorer and its segment champions taken as one scorer, each row scored by its segment's model
    as ``salesml score`` and the service score it: what-if, trend, monitoring and the workflow endpoints take it where
    they take a ``Scorer``. Every other attribute is the global scorer's."""

    main: Scorer
    segments: tuple[Scorer, ...] = ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("main", "segments"):  # copying and pickling look these up first
            raise AttributeError(name)
        return getattr(self.main, name)

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        """``Scorer.predict`` of each row by its segment's model."""
        chosen = route(table, list(self.segments))
        scored, _ = _per_model(table, chosen, [self.main, *self.segments], lambda m, t: (m.predict(t), [None] * len(t)))
        return scored

    def predict_with_factors(
        self, table: pd.DataFrame, top: int = 5, locale: Locale = "zh-CN"
    ) -> tuple[pd.DataFrame, list[dict[str, list]]]:
        """``Scorer.predict_with_factors`` of each row by its segment's model."""
        routed = predict_routed(table, self.main, list(self.segments), top=top, locale=locale)
        return routed.scored, routed.reasons


#: What takes a scorer's place: one model, or a global model with its segment models.
AnyScorer = Scorer | Segmented


def scored_segments(scorer: AnyScorer, table: pd.DataFrame) -> list[str | None]:
    """Per row of ``table``, the segment value whose model ``scorer`` scores it with (None: a global model)."""
    if isinstance(scorer, Segmented):
        return _values([scorer.main, *scorer.segments], route(table, list(scorer.segments)))
    return [_value(scorer)] * len(table)


def _per_model(
    table: pd.DataFrame,
    chosen: np.ndarray,
    models: list[Scorer],
    score: Callable[[Scorer, pd.DataFrame], tuple[pd.DataFrame, list[Any]]],
) -> tuple[pd.DataFrame, list[Any]]:
    """``score`` of each row by the model ``chosen`` for it, in the table's order; one pass per model used."""
    used = np.unique(chosen)
    if len(used) <= 1:  # one model answers every row: the table at once
        return score(models[int(used[0]) if len(used) else 0], table)
    parts, order = [], []
    reasons: list[Any] = [None] * len(table)
    for index in used:
        rows = np.flatnonzero(chosen == index)
        scored, why = score(models[index], table.iloc[rows])
        parts.append(scored)
        order.append(rows)
        for row, reason in zip(rows, why, strict=True):
            reasons[row] = reason
    scored = pd.concat(parts, ignore_index=True)
    scored.index = np.concatenate(order)
    return scored.sort_index().reset_index(drop=True), reasons


def _values(models: list[Scorer], chosen: np.ndarray) -> list[str | None]:
    """The segment value of the model ``chosen`` for each row (``route``)."""
    return [_value(models[i]) for i in chosen]


def _value(scorer: Scorer) -> str | None:
    segment = segment_of(scorer)
    return None if segment is None else segment["value"]
