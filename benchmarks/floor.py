"""The floor under the serving figures: the service's HTTP path with nothing scored.

``bentoml serve benchmarks.floor:Floor`` answers ``POST /v1/leads/score`` as ``salesml serve`` does up to the
scoring: the same guard (API keys, body limits, concurrency), BentoML parsing and validating the same
``LeadScoreRequest`` (every activity, the 'nothing after as_of' rule), and a response of the same shape (one result
with ``top`` factors each way per lead, validated and serialised by the same models). It builds no features,
scores nothing and writes no log. ``benchmarks.serve`` puts it under the same load as the real service, so the
report can say how much of a latency or batch figure is the framework on this machine, and how much is salesml.
"""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime
from typing import Any

import bentoml

from serving.http import ApiGuard
from serving.schemas.scoring import LeadIn, LeadScoreRequest, LeadScoreResponse
from serving.service import GC_YOUNG_THRESHOLD

FACTOR: dict[str, Any] = {
    "factor": "first_response",
    "name": "首次响应速度",
    "feature": "first_response_h",
    "feature_name": "首次响应时长（小时）",
    "value": 1.5,
    "contribution": 0.25,
    "delta_probability": 0.04,
}


@bentoml.service(name="salesml-floor", traffic={"timeout": 120})
class Floor:
    def __init__(self) -> None:
        gc.collect()  # the collector set up as the service sets it up
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    @bentoml.api(route="/v1/leads/score", input_spec=LeadScoreRequest, output_spec=LeadScoreResponse)
    async def score_leads(
        self, leads: list[LeadIn], as_of: datetime | None = None, locale: str = "zh-CN", top: int = 5
    ) -> LeadScoreResponse:
        """A canned answer of the real one's shape for every lead."""
        at = as_of or datetime.now(UTC)
        results = [
            {
                "lead_id": lead.lead_id,
                "probability": 0.5,
                "score": 50,
                "grade": "B",
                "base_probability": 0.2,
                "top_positive": [FACTOR] * top,
                "top_negative": [FACTOR] * top,
                "other_effect": 0.3,
                "model": "floor",
                "model_version": "0",
                "as_of": at,
                "warnings": [],
            }
            for lead in leads
        ]
        return LeadScoreResponse.model_validate({"request_id": uuid.uuid4().hex, "results": results})


Floor.add_asgi_middleware(ApiGuard)
