"""``/v1/opportunities/whatif``: open deals sent as ``/v1/opportunities/score`` takes them, plus the candidate actions,
and each deal's actions re-scored as hypothetical activities, best first."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from features.insights.whatif import ACTIONS, FOLLOW_UP_HOURS
from serving.schemas.common import ModelKind, documented, example
from serving.schemas.scoring import OpportunityIn, OpportunityScoreRequest

WHATIF_EXAMPLE: dict[str, Any] = example("whatif-opportunity")
MAX_DEALS = 100  # each deal is scored twice per action
MAX_FOLLOW_UP_HOURS = 24 * 30
ActionName = Literal[tuple(ACTIONS)]


class WhatIfRequest(OpportunityScoreRequest):
    """Up to 100 open deals as of one time, and which candidate actions to try on each."""

    model_config = documented("whatif-opportunity")
    columnar = False  # its deals' activities are read one by one (``features.insights.whatif``)

    opportunities: list[OpportunityIn] = Field(
        min_length=1, max_length=MAX_DEALS, description="The open deals (1 to 100)."
    )
    top: int = Field(5, ge=1, le=20, strict=True, description="How many moved factors to list per action.")
    actions: list[ActionName] | None = Field(
        None, max_length=len(ACTIONS), description=f"Candidate actions to try (default: all): {', '.join(ACTIONS)}."
    )
    follow_up_hours: float = Field(
        FOLLOW_UP_HOURS, ge=0, le=MAX_FOLLOW_UP_HOURS, description="N of follow_up: a follow-up call within N hours."
    )


class MovedFactor(BaseModel):
    factor: str = Field(description="Stable key of the factor.")
    name: str = Field(description="Display name in the requested locale.")
    before: float = Field(description="Its effect on p_win without the action.")
    after: float = Field(description="Its effect on p_win with the action.")
    change: float = Field(description="after - before.")


class ActionOption(BaseModel):
    action: ActionName
    name: str = Field(description="The action in the requested locale.")
    occurs_at: datetime = Field(description="When the hypothetical activity happens: as_of plus the action's delay.")
    p_win_before: float = Field(ge=0, le=1, description="p_win a second after occurs_at without the action.")
    p_win_after: float = Field(ge=0, le=1, description="p_win at that time with the action.")
    change: float = Field(description="p_win_after - p_win_before.")
    factors_moved: list[MovedFactor] = Field(description="Factors whose effect moved by 0.5 points or more.")


class SkippedAction(BaseModel):
    action: ActionName
    name: str = Field(description="The action in the requested locale.")
    reason: str = Field(description="Why it is not proposed: already done, or not possible in the deal's stage.")


class DealWhatIf(BaseModel):
    opportunity_id: str
    p_win: float = Field(ge=0, le=1, description="p_win at as_of.")
    stage: str | None = Field(description="The deal's funnel stage at as_of.")
    actions: list[ActionOption] = Field(description="The proposed actions, largest change first.")
    skipped: list[SkippedAction] = Field(description="Candidate actions not proposed, with why.")
    warnings: list[str] = Field(description="Unseen categories, unknown attributes, ...")


class WhatIfResponse(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    model: str = Field(description="Registered name of the close-probability model.")
    model_version: str = Field(description="MLflow registry version.")
    model_kind: ModelKind = "ml"
    as_of: datetime = Field(description="The time the deals were scored as of (UTC).")
    results: list[DealWhatIf]
