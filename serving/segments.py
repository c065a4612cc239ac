"""The service's segment models: each exported segment champion of a served model (``<model>.<by>.<value>``,
``salesml export``) is loaded beside its global model, and every scored row goes to its segment's champion, the
others to the global one, through ``features.scoring.segments`` (the routing ``salesml score`` uses too).
"""

from __future__ import annotations

import logging

import bentoml
import pandas as pd

from features.messages import Locale
from features.scoring.segments import predict_routed
from serving.store import Exported, exported_segment_names, load_served

logger = logging.getLogger(__name__)


def load_segment_models(name: str) -> list[Exported]:
    """The exported segment champions of ``name`` that load; one that does not is logged and its segment is served by
    the global model (never a failed load: the global model serves every row either way)."""
    out = []
    for segment_name in exported_segment_names(name):
        try:
            out.append(load_served(segment_name, bentoml.models.get(f"{segment_name}:latest")))
        except Exception as why:  # whatever a damaged export raises: the global model serves the segment
            logger.error("not routing to %s: %s", segment_name, why)
    return out


def score_routed(
    model: Exported, segment_models: list[Exported], table: pd.DataFrame, top: int, locale: Locale
) -> tuple[pd.DataFrame, list, list[Exported], list[str | None]]:
    """Scores and factors of every row of ``table`` by its segment's model, and per row the model that scored it and
    its segment value (None: the global model)."""
    routed = predict_routed(table, model.scorer, [m.scorer for m in segment_models], top=top, locale=locale)
    models = [model, *segment_models]
    return routed.scored, routed.reasons, [models[i] for i in routed.model], routed.segment
