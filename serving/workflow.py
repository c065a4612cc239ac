"""The workflow endpoints a scheduler and a CRM call beside the scores: the silent-lead sweep (``/v1/leads/sweep``)
and follow-up quality (``/v1/activities/quality``).

Both run ``features.insights.sweep`` and ``features.insights.activity_quality``, the code the CLI runs, with the served
champions:
the sweep on the CRM history the service holds, follow-up quality on a deal or lead sent with its history (as
``/v1/opportunities/score`` takes it) or on one held in the history. Each answer is one prediction-log record
(its parameters and every row), written by the service before the answer is sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.crm.dataset import Dataset
from features.errors import DataError
from features.insights.activity_quality import COUNTS_FROM, score_activities
from features.insights.sweep import sweep
from serving.context import ServingContext
from serving.request import (
    MAX_ITEMS,
    OPPORTUNITY_EXAMPLE,
    Id,
    LeadIn,
    LeadScoreRequest,
    OpportunityIn,
    OpportunityScoreRequest,
    Strict,
    UtcTime,
    refusal,
    refuse_after,
)
from serving.store import Exported

SWEEP_EXAMPLE: dict[str, Any] = {"as_of": "2025-12-15T09:00:00Z", "since": "2025-12-14T09:00:00Z", "locale": "en"}
QUALITY_EXAMPLE: dict[str, Any] = {
    "as_of": "2026-01-05T09:00:00Z",
    "opportunity": {
        **{k: v for k, v in OPPORTUNITY_EXAMPLE["opportunities"][0].items() if k != "activities"},
        "activities": [
            {"occurred_at": "2025-12-02T09:00:00Z", "type": "call", "direction": "outbound", "duration_s": 25},
            {
                "occurred_at": "2025-12-12T10:00:00Z",
                "recorded_at": "2025-12-12T11:30:00Z",
                "type": "demo",
                "direction": "outbound",
                "contact_role": "cto",
                "note": "客户关注上线周期和数据迁移",
                "next_step": "下周二前发送修订方案",
                "attachment": True,
            },
            {
                "occurred_at": "2025-12-20T15:00:00Z",
                "recorded_at": "2025-12-31T12:00:00Z",
                "type": "visit",
                "direction": "outbound",
                "note": "已沟通",
            },
        ],
    },
}


class SweepRequest(Strict):
    """A sweep of the leads open at ``as_of`` in the CRM history the service holds."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": SWEEP_EXAMPLE})

    as_of: UtcTime | None = Field(
        None, description="Sweep as of this time, inside the history the service holds (default: its export time)."
    )
    since: UtcTime | None = Field(
        None, description="The previous sweep, for the 'score then' (default: 24 h before as_of); before as_of."
    )
    lead_ids: list[Id] | None = Field(
        None, max_length=MAX_ITEMS, description="Sweep only these leads (ids in the history); default: every open lead."
    )
    locale: str = Field("zh-CN", pattern="^(zh-CN|en)$", description="Language of the notes: zh-CN or en.")

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
    as_of: datetime = Field(description="The sweep time (UTC).")
    since: datetime = Field(description="The previous sweep time (UTC).")
    open_leads: int = Field(description="Leads open at as_of that were swept.")
    grade_fell: int = Field(description="Listed leads whose model grade fell.")
    silent_24h: int = Field(description="Listed leads without an outbound action for 24 h or more.")
    reassign: int = Field(description="Listed leads silent 72 h or more: to the high-performer pool.")
    rows: list[SweepRow] = Field(description="The listed leads, reassignments first, longest silent first.")


class QualityRequest(Strict):
    """One deal or lead whose rep actions to score: sent with its history, or named by its id in the history."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": QUALITY_EXAMPLE})

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
            refuse_after(item, given[0], self.as_of or datetime.now(UTC))
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
    as_of: datetime = Field(description="Only what was known by this time was used (UTC).")
    entity: str = Field(description="opportunity or lead.")
    entity_id: str
    counting: int = Field(description="Rep actions that count (score >= 60).")
    activities: list[ActivityQuality] = Field(description="Each rep action (outbound activity), in order.")
    warnings: list[str] = Field(
        description="About a sent deal's or lead's data, as the scoring endpoints give them (none for one in the "
        "history)."
    )


def entity_of(request: QualityRequest) -> str:
    """The model a quality request needs: the deal's or the lead's."""
    return "opportunity" if request.opportunity or request.opportunity_id else "lead"


def run_sweep(
    context: ServingContext, model: Exported, request: SweepRequest, head: dict[str, Any]
) -> tuple[SweepResponse, dict[str, Any]]:
    """The sweep's answer and its prediction-log record."""
    exported, first = context.ds.manifest.exported_at, context.ds.get("leads")["created_at"].min()
    at = pd.Timestamp(request.as_of) if request.as_of is not None else exported
    if not first <= at <= exported:
        raise refusal(("as_of",), f"{at.isoformat()} is outside the history this service holds ({first} .. {exported})")
    try:
        result = sweep(context.ds, model.scorer, at, request.since, request.lead_ids, request.locale)
    except DataError as error:
        raise refusal(("lead_ids",) if request.lead_ids else (), str(error)) from error
    rows = [SweepRow(**row) for row in _records(result.rows)]
    answer = SweepResponse(
        **_answer_head(head),
        as_of=result.as_of.to_pydatetime(),
        since=result.since.to_pydatetime(),
        **{k: v for k, v in result.counts().items() if k != "flagged"},
        rows=rows,
    )
    return answer, _record(head, answer, request)


def run_quality(
    context: ServingContext, model: Exported, request: QualityRequest, head: dict[str, Any]
) -> tuple[QualityResponse, dict[str, Any]]:
    """Follow-up quality of the item's rep actions, and the prediction-log record."""
    entity = model.scorer.entity
    sent = request.opportunity or request.lead
    if sent is not None:
        at = pd.Timestamp(request.as_of or datetime.now(UTC))
        ds, warnings = _with_item(context, sent, at)
        entity_id = getattr(sent, f"{entity}_id")
    else:
        at = pd.Timestamp(request.as_of) if request.as_of is not None else context.ds.manifest.exported_at
        ds, entity_id, warnings = context.ds, request.opportunity_id or request.lead_id, []
    try:
        scored = score_activities(ds, model.scorer, at, [entity_id])
    except DataError as error:
        raise refusal((f"{entity}_id",) if sent is None else (), str(error)) from error
    activities = [_activity(row) for row in _records(scored)]
    answer = QualityResponse(
        **_answer_head(head),
        as_of=at.to_pydatetime(),
        entity=entity,
        entity_id=str(entity_id),
        counting=sum(a.counts for a in activities),
        activities=activities,
        warnings=warnings,
    )
    return answer, _record(head, answer, request)


def _with_item(context: ServingContext, item: OpportunityIn | LeadIn, at: pd.Timestamp) -> tuple[Dataset, list[str]]:
    """The history with the sent item (and its events) in place of what the history holds for it, and the warnings
    about the item's data."""
    if isinstance(item, OpportunityIn):
        prepared = context.opportunities(OpportunityScoreRequest.model_construct(opportunities=[item], as_of=at))
        return prepared.dataset, prepared.warnings[0]
    prepared = context.leads(LeadScoreRequest.model_construct(leads=[item], as_of=at))
    return context.with_leads(prepared), prepared.warnings[0]


def _activity(row: dict[str, Any]) -> ActivityQuality:
    checks = QualityChecks(**{c: row[f"check_{c}"] for c in QualityChecks.model_fields})
    return ActivityQuality(
        **{**row, "checks": checks, "note_keywords": [k for k in row["note_keywords"].split(", ") if k]}
    )


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """A result table's rows as JSON values (missing ones null, times ISO 8601): what the response models take."""
    return json.loads(table.to_json(orient="records", date_format="iso", date_unit="s"))


def _answer_head(head: dict[str, Any]) -> dict[str, Any]:
    return {"request_id": head["request_id"], "model": head["model"], "model_version": head["model_version"]}


def _record(head: dict[str, Any], answer: BaseModel, request: BaseModel) -> dict[str, Any]:
    """One prediction-log record: the call, its parameters and the whole answer."""
    return {**head, "request": request.model_dump(mode="json"), "answer": answer.model_dump(mode="json")}
