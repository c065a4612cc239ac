"""Explanations for analysts: SHAP values in shap's own format (beeswarm, dependence, waterfall plots), the key
features behind the top factors, and how a deal's factors moved between two as-of times.

Every row is built by ``features.pit.build`` as known at its cutoff, the same code the service and training use, so
a change in a factor is a change in what was known, never a change in how it was computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc_scalar
from features.pit.build import build_features
from features.pit.frames import scoring_frame
from features.scoring.scorer import Scorer
from training.evaluate import global_factors


@dataclass
class FactorChanges:
    """One entity scored at two cutoffs: both probabilities and, per key factor, both contributions (log-odds)."""

    entity_id: str
    before: pd.Timestamp
    at: pd.Timestamp
    p_before: float
    p_at: float
    factors: pd.DataFrame  # factor, zh, en, before, at, change; the largest moves first


def open_matrix(scorer: Scorer, ds: Dataset, at: pd.Timestamp | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every entity of the scorer's kind open at ``at`` (default: the export): its frame row and model inputs."""
    frame = scoring_frame(ds, scorer.entity, at)
    x, _ = scorer.encode(build_features(ds, scorer.entity, frame))
    return frame, x


def key_features(scorer: Scorer, x: pd.DataFrame, n: int = 3) -> list[str]:
    """English names of the leading feature of each of the ``n`` most important factors (for dependence plots)."""
    english = {f.name: f.en for f in scorer.inputs}
    return [english[f["leading_feature"]] for f in global_factors(scorer, x)[:n]]


def factor_changes(scorer: Scorer, ds: Dataset, entity_id: str, at: object, days: int = 7) -> FactorChanges:
    """The entity scored at ``at - days`` and at ``at`` through the same feature code: per factor, how much its
    contribution moved, so a manager sees why a deal's odds changed since last week."""
    now = to_utc_scalar(at)
    before = now - pd.Timedelta(days=days)
    frame = pd.DataFrame({"entity_id": [entity_id, entity_id], "cutoff_time": [before, now]})
    x, _ = scorer.encode(build_features(ds, scorer.entity, frame))
    _, by_factor, keys = scorer.contributions(x)
    p = scorer.probability(x)
    names = {f.factor: (f.factor_zh, f.factor_en) for f in scorer.inputs}
    factors = pd.DataFrame(
        {
            "factor": keys,
            "zh": [names[k][0] for k in keys],
            "en": [names[k][1] for k in keys],
            "before": by_factor[0],
            "at": by_factor[1],
            "change": by_factor[1] - by_factor[0],
        }
    )
    factors = factors.iloc[np.argsort(-np.abs(factors["change"].to_numpy()), kind="stable")].reset_index(drop=True)
    return FactorChanges(entity_id, before, now, float(p[0]), float(p[1]), factors)
