"""Batch scoring: every open entity as of a time, through the same feature code and scorer as the service, with its
probability a week earlier and its trend (``features.insights.trend``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.crm.dataset import as_of_time, read_dataset
from features.errors import DataError
from features.insights.trend import trend_labels, week_ago
from features.messages import Locale, locale_of
from features.pit.build import build_features
from features.pit.frames import scoring_frame
from features.scoring import served_kind
from features.scoring.explanations import FactorEffect
from features.scoring.pyfunc import CHAMPION, segment_champions
from features.scoring.segments import predict_routed
from training.registry import load_scorer


def _words(effects: list[FactorEffect], locale: Locale) -> str:
    return "; ".join(e.text(locale) for e in effects)


def score_open(model: str, data: Path, *, as_of: str | None, locale: str, top: int) -> pd.DataFrame:
    """ids, probability, score, grade, the base probability, the probability 7 days earlier and the trend label, the
    top factors each way with their values and effects, the effect of the others (base + listed + others =
    probability), the model that scored the row (its segment's champion, ``features.scoring.segments``, else the
    global one), its version, kind (ml or prior) and segment value (empty: the global model)."""
    language = locale_of(locale)
    ds = read_dataset(data)
    at = as_of_time(ds, as_of)
    scorer, version = load_scorer(model, CHAMPION)
    segments = segment_champions(model)
    frame = scoring_frame(ds, scorer.entity, at)
    if frame.empty:
        raise DataError(f"no {scorer.entity} is open as of {at:%Y-%m-%d %H:%M}: nothing to score")
    table = build_features(ds, scorer.entity, frame, progress=True)
    routed = predict_routed(table, scorer, [s for _, s, _ in segments], top=top, locale=language)
    scored, reasons = routed.scored, routed.reasons
    before = week_ago(ds, scorer, frame)
    names = np.array([model, *(name for name, _, _ in segments)])[routed.model]
    versions = np.array([version, *(v for _, _, v in segments)])[routed.model]
    kinds = [served_kind(m.model_kind) for m in (scorer, *(s for _, s, _ in segments))]
    return pd.DataFrame(
        {
            "entity_id": frame["entity_id"],
            "as_of": frame["cutoff_time"],
            **scored.drop(columns=["other_effect", "warnings"]),
            "p_7d_ago": before,
            "trend": trend_labels(scored["probability"].to_numpy(), before),
            "top_positive": [_words(r["positive"], language) for r in reasons],
            "top_negative": [_words(r["negative"], language) for r in reasons],
            "other_effect": scored["other_effect"],
            "model": names,
            "model_version": versions,
            "model_kind": np.array(kinds)[routed.model],
            "segment": routed.segment,
            "warnings": ["; ".join(w) for w in scored["warnings"]],
        }
    )
