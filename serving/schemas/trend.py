"""``GET /v1/leads/{lead_id}/trend`` and ``GET /v1/opportunities/{opportunity_id}/trend``: a lead's or deal's
probability as of each week back to its creation, and whether it is improving, stable or declining."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

from features.insights.trend import TREND_DAYS, TREND_POINTS
from serving.schemas.common import MAX_ID, ModelKind

LeadId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID, description="A lead id in the CRM history the service holds.")
]
OpportunityId = Annotated[
    str, Path(min_length=1, max_length=MAX_ID, description="A deal id in the CRM history the service holds.")
]
MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string", "description": "Which id the history does not hold."}},
}


def not_found(noun: str) -> dict[int | str, dict[str, Any]]:
    """The 404 a trend route declares beside 200 (the guard adds 401, 403, 422, 429 and 503)."""
    return {
        404: {
            "description": f"The id is not a {noun} of the CRM history the service holds.",
            "content": {"application/json": {"schema": MESSAGE_SCHEMA}},
        }
    }


class TrendPoint(BaseModel):
    """The probability as known at one past time: the features as of then, scored by the served champion."""

    cutoff_time: datetime = Field(description="The time the features are as of (UTC).")
    probability: float = Field(description="Calibrated probability (0-1) as of cutoff_time.")
    score: int = Field(description="Score (0-100) as of cutoff_time.")
    grade: str = Field(description="Grade A/B/C as of cutoff_time.")


class TrendResponse(BaseModel):
    """One lead's or deal's scored history in the service's CRM history, and its trend label."""

    model: str = Field(description="The served champion that scored every point.")
    model_version: str = Field(description="Its MLflow registry version.")
    model_kind: ModelKind = "ml"
    entity: Literal["lead", "opportunity"] = Field(description="lead or opportunity (a deal).")
    entity_id: str = Field(description="The id asked for.")
    as_of: datetime = Field(description="The history's export time: no point is later.")
    created_at: datetime = Field(description="When the lead or deal was created: the first point.")
    closed_at: datetime | None = Field(
        description="When it closed (a deal's close, a lead's conversion or disqualification); the last point is one "
        "second before it. Null: open, the last point is as_of."
    )
    probability: float = Field(description="The probability at the last point.")
    p_7d_ago: float | None = Field(
        description=f"The probability {TREND_DAYS} days before the last point (null: younger than {TREND_DAYS} days)."
    )
    trend: Literal["improving", "stable", "declining"] | None = Field(
        description=f"probability - p_7d_ago of +{TREND_POINTS:g} probability points or more: improving; "
        f"-{TREND_POINTS:g} or less: declining; else stable; null without p_7d_ago."
    )
    threshold_points: float = Field(description="The change, in probability points, the label is cut at.")
    rule: str = Field(description="The labelling rule in words (English).")
    points: list[TrendPoint] = Field(
        description=f"Every {TREND_DAYS} days counted back from the last point, and the creation; oldest first."
    )
