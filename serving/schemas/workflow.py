"""``/v1/leads/sweep`` and ``/v1/activities/quality``: what a scheduler and a CRM send beside the scores, and the
swept leads and scored rep actions they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from features.insights.activity_quality import COUNTS_FROM
from serving.schemas.common import (
    MAX_ITEMS,
    Id,
    ModelKind,
    RequestLocale,
    Strict,
    UtcTime,
    at_or_now,
    documented,
    example,
)
from serving.schemas.scoring import LeadIn, OpportunityIn, refuse_after

SWEEP_EXAMPLE: dict[str, Any] = example("sweep")
QUALITY_EXAMPLE: dict[str, Any] = example("activity-quality")


class SweepRequest(Strict):
    """A sweep of the leads open at ``as_of`` in the CRM history the service holds."""

    model_config = documented("sweep")

    as_of: UtcTime | None = Field(
        None, description="Sweep as of this time, inside the history the service holds (default: its export time)."
    )
    since: UtcTime | None = Field(
        None, description="The previous sweep, for the 'score then' (default: 24 h before as_of); before as_of."
    )
    lead_ids: list[Id] | None = Field(
        None, max_length=MAX_ITEMS, description="Sweep only these leads (ids in the history); default: every open lead."
    )
    locale: RequestLocale = Field("zh-CN", description="Language of the notes: zh-CN or en.")

    @model_validator(mode="after")
    def _since_before_as_of(self) -> SweepRequest:
        if self.as_of is not None and self.since is not None and self.since >= self.as_of:
            raise ValueError(f"since ({self.since.isoformat()}) must be before as_of ({self.as_of.isoformat()})")
        return self


class SweepRow(BaseModel):
    """A lead the sweep lists, with its evidence."""

    lead_id: str
    owner_rep_id: str | None = Field(description="The rep who owns the lead.")
    last_outbound_at: datetime | None = Field(description="The last outbound action known at as_of (null: none).")
    silent_hours: float = Field(description="Hours since then, or since creation when the lead was never reached.")
    never_contacted: bool = Field(description="No outbound action at all yet.")
    probability_then: float | None = Field(description="Conversion probability at since (null: created after).")
    score_then: int | None = Field(description="Score (0-100) at since.")
    grade_then: str | None = Field(description="Grade at since.")
    probability_now: float = Field(description="Conversion probability at as_of.")
    score_now: int = Field(description="Score (0-100) at as_of.")
    grade_now: str = Field(description="The model's grade at as_of.")
    grade_fell: bool = Field(description="The model's grade is lower than at since.")
    steps_down: int = Field(description="Full 24 h periods without an outbound action.")
    effective_grade: str = Field(description="The model's grade stepped down once per 24 h silent (floor C).")
    action: str = Field(description="reassign (72 h+ silent: high-performer pool), follow_up (24 h+), review.")
    note: str = Field(description="Why the lead is listed, in the requested language.")


class SweepResponse(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    model: str = Field(description="Registered name of the lead-score model.")
    model_version: str = Field(description="MLflow registry version.")
    model_kind: ModelKind = "ml"
    as_of: datetime = Field(description="The sweep time (UTC).")
    since: datetime = Field(description="The previous sweep time (UTC).")
    open_leads: int = Field(description="Leads open at as_of that were swept.")
    grade_fell: int = Field(description="Listed leads whose model grade fell.")
    silent_24h: int = Field(description="Listed leads without an outbound action for 24 h or more.")
    reassign: int = Field(description="Listed leads silent 72 h or more: to the high-performer pool.")
    rows: list[SweepRow] = Field(description="The listed leads, reassignments first, longest silent first.")


class QualityRequest(Strict):
    """One deal or lead whose rep actions to score: sent with its history, or named by its id in the history."""

    model_config = documented("activity-quality")

    as_of: UtcTime | None = Field(
        None, description="Only what was known by this time (default: now for a sent item, else the export time)."
    )
    opportunity: OpportunityIn | None = Field(None, description="A deal with its stages and activities.")
    lead: LeadIn | None = Field(None, description="A lead with its activities.")
    opportunity_id: Id | None = Field(None, description="A deal held in the service's history.")
    lead_id: Id | None = Field(None, description="A lead held in the service's history.")

    @model_validator(mode="after")
    def _one_item_nothing_after_as_of(self) -> QualityRequest:
        given = [name for name in ("opportunity", "lead", "opportunity_id", "lead_id") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError(f"send exactly one of opportunity, lead, opportunity_id, lead_id (got {given or 'none'})")
        item = self.opportunity or self.lead
        if item is not None:
            refuse_after(item, given[0], at_or_now(self.as_of))
        return self


class QualityChecks(BaseModel):
    """The field's structural checks: true passed, false failed, null not applicable."""

    duration: bool | None = Field(description="Calls: at least 60 s (null: not a call).")
    attachment: bool | None = Field(description="A document or meeting note attached (null: not recorded).")
    next_step: bool | None = Field(description="A next step recorded (null: not recorded).")
    note: bool | None = Field(description="A note with substance (false: empty or only a vague phrase).")


class ActivityQuality(BaseModel):
    """One rep action: how much it moved the probability, the checks, and the 0-100 score."""

    index: int = Field(description="Position among the item's activities (as sent, or in the history).")
    activity_id: str | None = Field(description="The CRM's id, for activities held in the history.")
    type: str
    occurred_at: datetime
    known_at: datetime = Field(description="When the CRM knew it (max of occurred_at and recorded_at).")
    recorded_late_hours: float = Field(description="known_at - occurred_at in hours.")
    backfilled: bool = Field(description="Entered 24 h or more after it happened.")
    recorded_with: int = Field(description="Other activities entered at the same instant (their move is shared).")
    p_before: float = Field(ge=0, le=1, description="Probability one second before known_at.")
    p_after: float = Field(ge=0, le=1, description="Probability at known_at (the activity included).")
    delta_probability: float = Field(description="p_after - p_before.")
    movement: float = Field(ge=0, le=100, description="50 + 50 x change in log-odds, clipped to 0-100.")
    checks: QualityChecks
    note_keywords: list[str] = Field(description="Keyword categories the note mentions.")
    score: int = Field(ge=0, le=100, description="0.4 x movement + 0.6 x share of applicable checks passed x 100.")
    counts: bool = Field(description=f"score >= {COUNTS_FROM}: the follow-up counts.")


class QualityResponse(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    model: str = Field(description="Registered name of the model whose probability moved.")
    model_version: str = Field(description="MLflow registry version.")
    model_kind: ModelKind = "ml"
    as_of: datetime = Field(description="Only what was known by this time was used (UTC).")
    entity: str = Field(description="opportunity or lead.")
    entity_id: str
    counting: int = Field(description="Rep actions that count (score >= 60).")
    activities: list[ActivityQuality] = Field(description="Each rep action (outbound activity), in order.")
    warnings: list[str] = Field(
        description="About a sent deal's or lead's data, as the scoring endpoints give them (none for one in the "
        "history)."
    )
