"""``POST /v1/leads/route``: which rep gets a lead, with the rule that decided, the ranked reps and the reasons.

The lead comes as ``/v1/leads/score`` takes it (attributes and activity history), plus what the workflow knows
beyond the CRM: the customer's chosen rep, earlier failed routings, and the reps it may go to. ``serving.context``
puts it into the history the service holds and ``features.insights.routing`` routes it there, the code ``salesml route``
runs. Every answer, with its basis, goes to the prediction log before it is sent, so a disputed assignment can be
traced.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.insights.routing import LeadToRoute, Routing, route
from serving.context import ServingContext
from serving.predlog import input_hash
from serving.schemas.routing import ExcludedRep, RankedRep, RouteRequest, RouteResponse
from serving.schemas.scoring import LeadScoreRequest
from serving.store import Exported


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
        model_kind=head["model_kind"],
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
