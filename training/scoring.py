"""Batch scoring: every open entity as of a time, through the same feature code and scorer as the service, with its
probability a week earlier and its trend (``features.insights.trend``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, as_of_time, read_dataset
from features.errors import DataError
from features.insights.trend import trend_labels, week_ago
from features.messages import Locale, locale_of
from features.pit.build import build_features
from features.pit.frames import scoring_frame
from features.scoring import served_kind
from features.scoring.explanations import FactorEffect
from features.scoring.pyfunc import CHAMPION, segment_champions
from features.scoring.scorer import Scorer
from features.scoring.segments import AnyScorer, Segmented, predict_routed
from training.registry import load_scorer


def _words(effects: list[FactorEffect], locale: Locale) -> str:
    return "; ".join(e.text(locale) for e in effects)


@dataclass(frozen=True)
class Champions:
    """The models that score a model's rows: its champion (``main``, version ``version``) and each segment's
    champion (``features.scoring.segments``) as (name, scorer, version)."""

    model: str
    main: Scorer
    version: str
    segments: list[tuple[str, Scorer, str]]

    @classmethod
    def load(cls, model: str) -> Champions:
        scorer, version = load_scorer(model, CHAMPION)
        return cls(model, scorer, version, segment_champions(model))

    def segmented(self) -> AnyScorer:
        """The champions as one scorer routing each row to its segment's (``Segmented``)."""
        return Segmented(self.main, tuple(s for _, s, _ in self.segments)) if self.segments else self.main

    def scores(self, table: pd.DataFrame, before: np.ndarray, top: int, language: Locale) -> pd.DataFrame:
        """The scores of a feature table's rows (``score_open``'s columns), in its order; ``before``: each row's
        probability ``TREND_DAYS`` earlier (``week_ago``). A row's scores do not depend on the rows beside it."""
        segments = self.segments
        routed = predict_routed(table, self.main, [s for _, s, _ in segments], top=top, locale=language)
        scored, reasons = routed.scored, routed.reasons
        names = np.array([self.model, *(name for name, _, _ in segments)])[routed.model]
        versions = np.array([self.version, *(v for _, _, v in segments)])[routed.model]
        kinds = [served_kind(m.model_kind) for m in (self.main, *(s for _, s, _ in segments))]
        return pd.DataFrame(
            {
                "entity_id": table["entity_id"].reset_index(drop=True),
                "as_of": table["cutoff_time"].reset_index(drop=True),
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


def open_frame(ds: Dataset, entity: str, at: pd.Timestamp) -> pd.DataFrame:
    """The entities open at ``at`` (``scoring_frame``); DataError when none is."""
    frame = scoring_frame(ds, entity, at)
    if frame.empty:
        raise DataError(f"no {entity} is open as of {at:%Y-%m-%d %H:%M}: nothing to score")
    return frame


def score_open(model: str, data: Path, *, as_of: str | None, locale: str, top: int) -> pd.DataFrame:
    """ids, probability, score, grade, the base probability, the probability 7 days earlier and the trend label, the
    top factors each way with their values and effects, the effect of the others (base + listed + others =
    probability), the model that scored the row (its segment's champion, ``features.scoring.segments``, else the
    global one), its version, kind (ml or prior) and segment value (empty: the global model)."""
    ds = read_dataset(data)
    at = as_of_time(ds, as_of)
    champions = Champions.load(model)
    frame = open_frame(ds, champions.main.entity, at)
    table = build_features(ds, champions.main.entity, frame, progress=True)
    return champions.scores(table, week_ago(ds, champions.segmented(), frame), top, locale_of(locale))
