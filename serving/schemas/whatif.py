"""``/v1/opportunities/whatif`` and ``/v1/leads/whatif``: open deals or leads sent as the scoring endpoints take them,
plus the candidate actions, and each item's actions re-scored as hypothetical activities, best first."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from features.insights.whatif import ACTIONS, FOLLOW_UP_HOURS, LEAD_ACTIONS
from serving.schemas.common import ModelKind, Strict, documented, example
from serving.schemas.scoring import LeadIn, LeadScoreRequest, OpportunityIn, OpportunityScoreRequest

WHATIF_EXAMPLE: dict[str, Any] = example("whatif-opportunity")
LEAD_WHATIF_EXAMPLE: dict[str, Any] = example("whatif-lead")
MAX_ITEMS = 100  # each item is scored twice per action
MAX_FOLLOW_UP_HOURS = 24 * 30
ActionName = Literal[tuple(ACTIONS)]
LeadActionName = Literal[tuple(LEAD_ACTIONS)]


class WhatIfOptions(Strict):
    """What a what-if call adds to its scoring request, besides the actions."""

    columnar: ClassVar[bool] = False  # its items' activities are read one by one (``features.insights.whatif``)

    top: int = Field(5, ge=1, le=20, strict=True, description="How many moved factors to list per action.")
    follow_up_hours: float = Field(
        FOLLOW_UP_HOURS, ge=0, le=MAX_FOLLOW_UP_HOURS, description="N of follow_up: a follow-up call within N hours."
    )


class WhatIfRequest(WhatIfOptions, OpportunityScoreRequest):
    """Up to 100 open deals as of one time, and which candidate actions to try on each."""

    model_config = documented("whatif-opportunity")
    offered: ClassVar[tuple[str, ...]] = tuple(ACTIONS)  # the actions tried when none are given

    opportunities: list[OpportunityIn] = Field(
        min_length=1, max_length=MAX_ITEMS, description="The open deals (1 to 100)."
    )
    actions: list[ActionName] | None = Field(
        None, max_length=len(ACTIONS), description=f"Candidate actions to try (default: all): {', '.join(ACTIONS)}."
    )


class LeadWhatIfRequest(WhatIfOptions, LeadScoreRequest):
    """Up to 100 open leads as of one time, and which of the actions a lead can take to try on each."""

    model_config = documented("whatif-lead")
    offered: ClassVar[tuple[str, ...]] = LEAD_ACTIONS

    leads: list[LeadIn] = Field(min_length=1, max_length=MAX_ITEMS, description="The open leads (1 to 100).")
    actions: list[LeadActionName] | None = Field(
        None,
        max_length=len(LEAD_ACTIONS),
        description=f"Candidate actions to try (default: all a lead can take): {', '.join(LEAD_ACTIONS)}.",
    )


class MovedFactor(BaseModel):
    factor: str = Field(description="Stable key of the factor.")
    name: str = Field(description="Display name in the requested locale.")
    before: float = Field(description="Its effect on the probability without the action.")
    after: float = Field(description="Its effect on the probability with the action.")
    change: float = Field(description="after - before.")


class ProposedAction(BaseModel):
    action: str
    name: str = Field(description="The action in the requested locale.")
    occurs_at: datetime = Field(description="When the hypothetical activity happens: as_of plus the action's delay.")
    change: float = Field(description="The probability with the action minus without it.")
    factors_moved: list[MovedFactor] = Field(description="Factors whose effect moved by 0.5 points or more.")


class ActionOption(ProposedAction):
    action: ActionName
    p_win_before: float = Field(ge=0, le=1, description="p_win a second after occurs_at without the action.")
    p_win_after: float = Field(ge=0, le=1, description="p_win at that time with the action.")


class LeadActionOption(ProposedAction):
    action: LeadActionName
    probability_before: float = Field(ge=0, le=1, description="Conversion probability a second after occurs_at.")
    probability_after: float = Field(ge=0, le=1, description="Conversion probability at that time with the action.")


class SkippedAction(BaseModel):
    action: ActionName
    name: str = Field(description="The action in the requested locale.")
    reason: str = Field(description="Why it is not proposed: already done, or not possible in the item's stage.")


class DealWhatIf(BaseModel):
    opportunity_id: str
    p_win: float = Field(ge=0, le=1, description="p_win at as_of.")
    stage: str | None = Field(description="The deal's funnel stage at as_of.")
    segment: str | None = Field(
        None, description="The segment value whose own model scored this item (null: the global model)."
    )
    actions: list[ActionOption] = Field(description="The proposed actions, largest change first.")
    skipped: list[SkippedAction] = Field(description="Candidate actions not proposed, with why.")
    warnings: list[str] = Field(description="Unseen categories, unknown attributes, ...")


class LeadWhatIf(BaseModel):
    lead_id: str
    probability: float = Field(ge=0, le=1, description="Conversion probability at as_of.")
    segment: str | None = Field(
        None, description="The segment value whose own model scored this item (null: the global model)."
    )
    actions: list[LeadActionOption] = Field(description="The proposed actions, largest change first.")
    skipped: list[SkippedAction] = Field(description="Candidate actions not proposed, with why.")
    warnings: list[str] = Field(description="Unseen categories, unknown attributes, ...")


class WhatIfAnswer(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    model: str = Field(description="Registered name of the model that scored the actions.")
    model_version: str = Field(description="MLflow registry version.")
    model_kind: ModelKind = "ml"
    as_of: datetime = Field(description="The time the items were scored as of (UTC).")


class WhatIfResponse(WhatIfAnswer):
    results: list[DealWhatIf]


class LeadWhatIfResponse(WhatIfAnswer):
    results: list[LeadWhatIf]
