"""Routing rows to their segment's model: a spec with ``segments`` registers, beside the global model, a model per
segment value as ``<model>.<by>.<value slug>``, each marked in its metadata with the feature-table column and value
it serves (``segment``). ``salesml score`` and the service score each row with the model of its segment's value
when one is served, and with the global model otherwise, through ``predict_routed``.
"""

from __future__ import annotations

import re
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
    used = np.unique(chosen)
    if len(used) <= 1:  # one model answers every row: the table at once
        scored, reasons = models[int(used[0]) if len(used) else 0].predict_with_factors(table, top=top, locale=locale)
        return Routed(scored, reasons, chosen, [_value(models[i]) for i in chosen])
    parts, order = [], []
    reasons: list[Any] = [None] * len(table)
    for index in used:
        rows = np.flatnonzero(chosen == index)
        scored, why = models[index].predict_with_factors(table.iloc[rows], top=top, locale=locale)
        parts.append(scored)
        order.append(rows)
        for row, reason in zip(rows, why, strict=True):
            reasons[row] = reason
    scored = pd.concat(parts, ignore_index=True)
    scored.index = np.concatenate(order)
    return Routed(scored.sort_index().reset_index(drop=True), reasons, chosen, [_value(models[i]) for i in chosen])


def _value(scorer: Scorer) -> str | None:
    segment = segment_of(scorer)
    return None if segment is None else segment["value"]
