"""``POST /v1/leads/route``: which rep gets a lead, with the rule that decided, the ranked reps and the reasons.

The lead comes as ``/v1/leads/score`` takes it (attributes and activity history), plus what the workflow knows
beyond the CRM: the customer's chosen rep, earlier failed routings, and the reps it may go to. ``serving.context``
puts it into the history the service holds and ``features.insights.routing`` routes it there, the code ``salesml route``
runs. Every answer, with its basis, goes to the prediction log before it is sent, so a disputed assignment can be
traced.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from features.insights.routing import LOAD_CAP_FACTOR, MAX_FAILED_ROUTINGS, LeadToRoute, Routing, route
from serving.context import ServingContext
from serving.predlog import input_hash
from serving.request import LEAD_EXAMPLE, MAX_ITEMS, Id, LeadIn, LeadScoreRequest, Strict, UtcTime, refuse_after
from serving.store import Exported

ROUTE_EXAMPLE: dict[str, Any] = {
    "as_of": "2026-01-05T09:00:00Z",
    "locale": "en",
    "lead": {**LEAD_EXAMPLE["leads"][0], "owner_rep_id": None},
    "preferred_rep_id": None,
    "failed_routings": 0,
}


class RouteRequest(Strict):
    """One lead to route as of a time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": ROUTE_EXAMPLE})

    lead: LeadIn = Field(description="The lead, as /v1/leads/score takes it (owner_rep_id is ignored).")
    as_of: UtcTime | None = Field(None, description="Route as of this time (default: now). No zone means UTC.")
    locale: str = Field("zh-CN", pattern="^(zh-CN|en)$", description="Language of the reasons: zh-CN or en.")
    preferred_rep_id: Id | None = Field(None, description="The rep the customer chose: wins when eligible.")
    failed_routings: int = Field(
        0, ge=0, le=1000, description=f"Earlier failed routings; at {MAX_FAILED_ROUTINGS} a person decides (manual)."
    )
    candidates: list[Id] | None = Field(
        None, min_length=1, max_length=MAX_ITEMS, description="Only these reps may get it (default: every rep)."
    )
    load_cap: float = Field(
        LOAD_CAP_FACTOR,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Skip reps whose open leads reach this many times the eligible reps' median (0: no cap).",
    )

    def at(self) -> datetime:
        return self.as_of if self.as_of is not None else datetime.now(UTC)

    @model_validator(mode="after")
    def _not_after_as_of(self) -> RouteRequest:
        """Nothing about the lead happened after ``as_of`` (it would leak the future)."""
        refuse_after(self.lead, "lead", self.at())
        return self


class RankedRep(BaseModel):
    rep_id: str
    region: str | None = Field(None, description="The rep's region.")
    region_match: bool = Field(description="Same region as the lead (ranked first by both rankings).")
    probability: float = Field(ge=0, le=1, description="The lead's predicted conversion with this rep as owner.")
    model_rank: int | None = Field(
        None, description="Rank by the model (region first, then probability); null: at cap."
    )
    rule_rank: int = Field(description="Rank by the field's rule: region first, then customers won in 90 days.")
    won_customers_90d: int = Field(description="Customers the rep won in the 90 days up to as_of.")
    open_leads: float = Field(description="The rep's open leads at as_of (its load).")
    reasons: list[str] = Field(description="Why it ranks there, in the requested locale.")


class ExcludedRep(BaseModel):
    rep_id: str
    reason: str = Field(description="left, inactive, not_hired or unknown_rep.")
    detail: str = Field(description="The reason in the requested locale.")


class RouteResponse(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    lead_id: str
    as_of: datetime = Field(description="The time the lead was routed as of (UTC).")
    decision: str = Field(description="The rep to assign, or manual: a person routes it.")
    rule: str = Field(
        description="What decided: failed_routings, preferred_rep, account_owner, no_eligible_rep, load_cap, model."
    )
    basis: str = Field(description="The deciding rule in words (requested locale).")
    load_cap: float | None = Field(None, description="Open leads at which a rep is skipped (null: no cap).")
    candidates: list[RankedRep] = Field(description="The eligible reps, in the model's order (capped ones last).")
    excluded: list[ExcludedRep] = Field(description="Reps who may not get it, with why.")
    notes: list[str] = Field(description="What could not be checked or did not apply (e.g. a chosen rep who left).")
    warnings: list[str] = Field(description="About the lead's data: unseen categories, unknown attributes, ...")
    model: str = Field(description="Registered name of the lead-score model that ranked the reps.")
    model_version: str = Field(description="MLflow registry version.")


def run_routing(
    context: ServingContext, model: Exported, request: RouteRequest, head: dict[str, Any]
) -> tuple[RouteResponse, dict[str, Any]]:
    """The answer to a routing request and its prediction-log record (``head``: the call and model)."""
    routing, warnings = _route(context, model, request)
    response = _answer(routing, warnings, head)
    return response, _record(response, request, head)


def _route(context: ServingContext, model: Exported, request: RouteRequest) -> tuple[Routing, list[str]]:
    """The routing of the request's lead in the service's history, and the warnings about the lead's data."""
    lead = request.lead
    scoring = LeadScoreRequest.model_construct(leads=[lead], as_of=request.as_of, locale=request.locale, top=1)
    prepared = context.leads(scoring)
    ask = LeadToRoute(
        lead_id=lead.lead_id,
        as_of=pd.Timestamp(request.at()),
        preferred_rep_id=request.preferred_rep_id,
        failed_routings=request.failed_routings,
        candidates=tuple(request.candidates) if request.candidates is not None else None,
    )
    routing = route(
        context.with_leads(prepared),
        model.scorer,
        ask,
        cap_factor=request.load_cap or None,
        locale=request.locale,  # type: ignore[arg-type]
    )
    return routing, prepared.warnings[0]


def _answer(routing: Routing, warnings: list[str], head: dict[str, Any]) -> RouteResponse:
    """The response, sharing the request id and model of the call's log record."""
    return RouteResponse(
        request_id=head["request_id"],
        lead_id=routing.lead_id,
        as_of=routing.as_of.to_pydatetime(),
        decision=routing.decision,
        rule=routing.rule,
        basis=routing.basis,
        load_cap=routing.load_cap,
        candidates=[RankedRep(**vars(c)) for c in routing.candidates],
        excluded=[ExcludedRep(**vars(e)) for e in routing.excluded],
        notes=routing.notes,
        warnings=warnings,
        model=head["model"],
        model_version=head["model_version"],
    )


def _record(response: RouteResponse, request: RouteRequest, head: dict[str, Any]) -> dict[str, Any]:
    """What the prediction log keeps of a routing: the decision, its rule and basis, and every rep with why."""
    return {
        **head,
        "entity_id": response.lead_id,
        "as_of": response.as_of.isoformat(),
        "input_hash": input_hash(request.lead),
        "request": request.model_dump(mode="json", exclude={"lead", "as_of"}),
        "decision": response.decision,
        "rule": response.rule,
        "basis": response.basis,
        "load_cap": response.load_cap,
        "candidates": [c.model_dump(mode="json", exclude={"reasons"}) for c in response.candidates],
        "excluded": [e.model_dump(mode="json") for e in response.excluded],
        "notes": response.notes,
        "warnings": response.warnings,
    }
