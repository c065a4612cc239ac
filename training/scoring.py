"""Batch scoring: every open entity as of a time, through the same feature code and scorer as the service."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.build import build_features
from features.dataset import read_dataset, to_utc_scalar
from features.errors import DataError
from features.pit import scoring_frame
from features.pyfunc import CHAMPION
from features.scoring import FactorEffect
from training.registry import load_scorer

LOCALES = ("zh-CN", "en")


def _words(effects: list[FactorEffect]) -> str:
    return "; ".join(f"{e.name} ({e.delta_probability:+.1%})" for e in effects)


def score_open(model: str, data: Path, *, as_of: str | None, locale: str, top: int) -> pd.DataFrame:
    """ids, probability, score, grade, top factors each way and the model version."""
    if locale not in LOCALES:
        raise DataError(f"unknown locale {locale!r}; use one of: {', '.join(LOCALES)}")
    try:
        at = to_utc_scalar(as_of) if as_of else None
    except ValueError as exc:
        raise DataError(f"--as-of {as_of!r}: not a time ({exc})") from exc
    scorer, version = load_scorer(model, CHAMPION)
    ds = read_dataset(data)
    frame = scoring_frame(ds, scorer.entity, at)
    table = build_features(ds, scorer.entity, frame, progress=True)
    scored, reasons = scorer.predict_with_factors(table, top=top, locale=locale)  # type: ignore[arg-type]
    return pd.DataFrame(
        {
            "entity_id": frame["entity_id"],
            "as_of": frame["cutoff_time"],
            **scored.drop(columns="warnings"),
            "top_positive": [_words(r["positive"]) for r in reasons],
            "top_negative": [_words(r["negative"]) for r in reasons],
            "model": model,
            "model_version": version,
            "warnings": ["; ".join(w) for w in scored["warnings"]],
        }
    )
