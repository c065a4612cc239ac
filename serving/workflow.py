"""The workflow endpoints a scheduler and a CRM call beside the scores: the silent-lead sweep (``/v1/leads/sweep``),
follow-up quality (``/v1/activities/quality``) and what-if actions (``/v1/opportunities/whatif``,
``/v1/leads/whatif``).

They run ``features.insights.sweep``, ``features.insights.activity_quality`` and ``features.insights.whatif``, the code
the CLI runs, with the served champions:
the sweep on the CRM history the service holds, follow-up quality on a deal or lead sent with its history (as
``/v1/opportunities/score`` takes it) or on one held in the history, what-if on deals or leads sent as scoring takes
them (through the same request-to-rows code). Each answer is one prediction-log record (its parameters and every row),
written by the service before the answer is sent.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from pydantic import BaseModel

from features.crm.dataset import Dataset
from features.errors import DataError
from features.insights.activity_quality import score_activities
from features.insights.sweep import sweep
from features.insights.whatif import WhatIf, what_if
from serving.context import ServingContext
from serving.results import answer_head
from serving.schemas.common import at_or_now
from serving.schemas.scoring import LeadIn, LeadScoreRequest, OpportunityIn, OpportunityScoreRequest
from serving.schemas.whatif import (
    ActionOption,
    DealWhatIf,
    LeadActionOption,
    LeadWhatIf,
    LeadWhatIfRequest,
    LeadWhatIfResponse,
    MovedFactor,
    SkippedAction,
    WhatIfRequest,
    WhatIfResponse,
)
from serving.schemas.workflow import (
    ActivityQuality,
    QualityChecks,
    QualityRequest,
    QualityResponse,
    SweepRequest,
    SweepResponse,
    SweepRow,
)
from serving.store import Exported


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
        raise DataError(
            f"{at.isoformat()} is outside the history this service holds ({first} .. {exported})", field="as_of"
        )
    try:
        result = sweep(context.ds, model.scorer, at, request.since, request.lead_ids, request.locale)
    except DataError as error:
        raise DataError(str(error), field="lead_ids" if request.lead_ids else None) from error
    rows = [SweepRow(**row) for row in _records(result.rows)]
    answer = SweepResponse(
        **answer_head(head),
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
        at = pd.Timestamp(at_or_now(request.as_of))
        ds, warnings = _with_item(context, sent, at)
        entity_id = getattr(sent, f"{entity}_id")
    else:
        at = pd.Timestamp(request.as_of) if request.as_of is not None else context.ds.manifest.exported_at
        ds, entity_id, warnings = context.ds, request.opportunity_id or request.lead_id, []
    try:
        scored = score_activities(ds, model.scorer, at, [entity_id])
    except DataError as error:
        raise DataError(str(error), field=f"{entity}_id" if sent is None else None) from error
    activities = [_activity(row) for row in _records(scored)]
    answer = QualityResponse(
        **answer_head(head),
        as_of=at.to_pydatetime(),
        entity=entity,
        entity_id=str(entity_id),
        counting=sum(a.counts for a in activities),
        activities=activities,
        warnings=warnings,
    )
    return answer, _record(head, answer, request)


def run_whatif(
    context: ServingContext, model: Exported, request: WhatIfRequest | LeadWhatIfRequest, head: dict[str, Any]
) -> tuple[WhatIfResponse | LeadWhatIfResponse, dict[str, Any]]:
    """Each sent deal's or lead's candidate actions re-scored, and the prediction-log record."""
    deals = isinstance(request, WhatIfRequest)
    prepared = context.opportunities(request) if deals else context.leads(request)
    at = pd.Timestamp(request.at())
    ids = prepared.frame["entity_id"].tolist()
    answers = what_if(
        prepared.dataset,
        model.scorer,
        ids,
        at,
        request.actions or request.offered,
        request.follow_up_hours,
        request.locale,
        prepared.history,
    )
    result = _deal_whatif if deals else _lead_whatif
    results = [result(a, request.top, w) for a, w in zip(answers, prepared.warnings, strict=True)]
    response = WhatIfResponse if deals else LeadWhatIfResponse
    answer = response(**answer_head(head), as_of=at.to_pydatetime(), results=results)
    return answer, _record(head, answer, request)


def _options(answer: WhatIf, top: int, probability: str) -> list[dict[str, Any]]:
    """The proposed actions as the response models take them, the probabilities named ``probability``."""
    return [
        {
            "action": o.action,
            "name": o.name,
            "occurs_at": o.occurs_at.to_pydatetime(),
            f"{probability}_before": o.p_before,
            f"{probability}_after": o.p_after,
            "change": o.change,
            "factors_moved": [MovedFactor(**vars(m), change=m.change) for m in o.moved[:top]],
        }
        for o in answer.options
    ]


def _deal_whatif(answer: WhatIf, top: int, warnings: list[str]) -> DealWhatIf:
    return DealWhatIf(
        opportunity_id=answer.entity_id,
        p_win=answer.p_now,
        stage=answer.stage,
        segment=answer.segment,
        actions=[ActionOption(**o) for o in _options(answer, top, "p_win")],
        skipped=[SkippedAction(**vars(s)) for s in answer.skipped],
        warnings=warnings,
    )


def _lead_whatif(answer: WhatIf, top: int, warnings: list[str]) -> LeadWhatIf:
    return LeadWhatIf(
        lead_id=answer.entity_id,
        probability=answer.p_now,
        segment=answer.segment,
        actions=[LeadActionOption(**o) for o in _options(answer, top, "probability")],
        skipped=[SkippedAction(**vars(s)) for s in answer.skipped],
        warnings=warnings,
    )


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


def _record(head: dict[str, Any], answer: BaseModel, request: BaseModel) -> dict[str, Any]:
    """One prediction-log record: the call, its parameters and the whole answer."""
    return {**head, "request": request.model_dump(mode="json"), "answer": answer.model_dump(mode="json")}
