"""``GET /v1/leads/{lead_id}/trend`` and ``GET /v1/opportunities/{opportunity_id}/trend``: one lead's or deal's
probability as of each week back to its creation in the CRM history the service holds, scored by the served champion
(its segment's, when one is served) through ``features.insights.trend`` (the code ``salesml score`` and the manager
report run), as of the history's export. An id the history does not hold: 404 with a one-line message; no model or
history: 503. Each answer is in the prediction log before it is sent (the id asked, the status, and the answer when
there is one).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse

from features.errors import SalesmlError
from features.insights.trend import TREND_POINTS, entity_trend, trend_rule
from serving.reload import Loaded
from serving.request_ids import HEADER, call_ids
from serving.results import model_fields
from serving.schemas.trend import LeadId, OpportunityId, TrendPoint, TrendResponse, not_found

__all__ = ["LeadId", "OpportunityId", "trend_answer", "trend_route"]
#: Each route's description in the OpenAPI document.
DESCRIPTIONS = {
    "lead": "A lead's conversion probability as of each week back to its creation (or its conversion or "
    "disqualification) in the CRM history the service holds, and its trend: improving, stable or declining.",
    "opportunity": "A deal's win probability as of each week back to its creation (or its close) in the CRM history "
    "the service holds, and its trend: improving, stable or declining.",
}


def trend_route(entity: str) -> dict[str, Any]:
    """What a trend route declares in the OpenAPI document: its answer, the 404 and its description."""
    noun = "lead" if entity == "lead" else "deal"
    return {"response_model": TrendResponse, "responses": not_found(noun), "description": DESCRIPTIONS[entity]}


def trend_answer(request: Request, loaded: Loaded, entity: str, entity_id: str) -> JSONResponse:
    """The entity's trend as a TrendResponse, or its error's status with the message; logged before it is sent."""
    ids = call_ids(request)
    record = {
        **ids,
        "logged_at": pd.Timestamp.now(tz="UTC").isoformat(),
        "endpoint": request.url.path,
        "request": {f"{entity}_id": entity_id},
    }
    try:
        context, model = loaded.routed(entity)
        at = context.ds.manifest.exported_at
        trend = entity_trend(context.ds, model.scorer, entity_id, at)
    except SalesmlError as error:
        loaded.log.append([{**record, "status": int(error.http_status)}])
        return JSONResponse({"message": str(error)}, status_code=error.http_status, headers={HEADER: ids["request_id"]})
    answer = TrendResponse(
        **model_fields(model),
        entity=entity,
        entity_id=trend.entity_id,
        as_of=at.to_pydatetime(),
        created_at=trend.created_at.to_pydatetime(),
        closed_at=trend.closed_at.to_pydatetime() if trend.closed_at is not None else None,
        probability=trend.probability,
        p_7d_ago=None if math.isnan(trend.p_7d_ago) else trend.p_7d_ago,
        trend=trend.label,
        threshold_points=TREND_POINTS,
        rule=trend_rule("en"),
        points=[TrendPoint(**point) for point in trend.points.to_dict("records")],
    ).model_dump(mode="json")
    loaded.log.append([{**record, "status": 200, **model_fields(model), "answer": answer}])
    return JSONResponse(answer, headers={HEADER: ids["request_id"]})
