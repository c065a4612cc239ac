"""The service's own code path timed in this process on one request body, step by step and as the endpoint
method, without HTTP: what the HTTP figures are compared with."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from benchmarks.report import median_time, model_shape
from benchmarks.serve.payloads import ROUTE, TOP
from benchmarks.stores import Stores


@dataclass
class InProcess:
    """Median seconds of the service's steps on one request body, each timed on its own, and together."""

    parse_s: float  # LeadScoreRequest.model_validate_json (BentoML's input validation does this work)
    prepare_s: float  # ServingContext.leads
    features_s: float  # build_features
    score_s: float  # Scorer.predict_with_factors(top=5)
    pipeline_s: float  # prepare + features + score in one call, the figure compared with HTTP
    hashes_s: float  # every item's input hash, which its prediction-log record must carry
    endpoint_s: float  # the endpoint method: the pipeline, the response objects and the prediction log write
    model: str  # what the served model is (kind and size)
    features: int


def load_service(stores: Stores) -> Any:
    """The service's own class, instantiated as BentoML does in a worker: models and history read from the BentoML
    store, the prediction log opened, the collector set up."""
    os.environ["BENTOML_HOME"] = stores.env["BENTOML_HOME"]  # BentoML reads its home when first imported
    os.environ["SALESML_PREDICTION_LOG"] = str(stores.root / "predictions-in-process")
    from serving.service import SalesML

    return SalesML.inner()


def _context() -> Any:
    """What the endpoint reads of ``bentoml.Context``: the request's state, headers and path; response metadata."""
    request = SimpleNamespace(state=SimpleNamespace(), headers={}, url=SimpleNamespace(path=ROUTE))
    return SimpleNamespace(request=request, response=SimpleNamespace(metadata={}))


def in_process(service: Any, payload: bytes, repeats: int) -> InProcess:
    """The service's code path on ``payload``, step by step and as the endpoint method, without HTTP."""
    from serving.predlog import input_hash
    from serving.schemas.scoring import LeadScoreRequest

    context, model = service.live.current.ready("lead")
    scorer = model.scorer

    def pipeline(request: LeadScoreRequest) -> Any:
        prepared = context.leads(request)
        table = prepared.features()
        return scorer.predict_with_factors(table, top=request.top, locale=request.locale)

    loop = asyncio.new_event_loop()  # the endpoint is a coroutine; its batches run on the service's scoring thread

    def endpoint(request: LeadScoreRequest) -> Any:
        call = service.score_leads(request.leads, ctx=_context(), as_of=request.as_of, locale=request.locale, top=TOP)
        return loop.run_until_complete(call)

    request = LeadScoreRequest.model_validate_json(payload)
    for _ in range(5):  # warm-up: first calls pay for lazy imports and caches
        pipeline(request)
    parse_s, _ = median_time(lambda: LeadScoreRequest.model_validate_json(payload), repeats)
    prepare_s, prepared = median_time(lambda: context.leads(request), repeats)
    features_s, table = median_time(prepared.features, repeats)
    top, locale = request.top, request.locale
    score_s, _ = median_time(lambda: scorer.predict_with_factors(table, top=top, locale=locale), repeats)
    pipeline_s, _ = median_time(lambda: pipeline(request), repeats)
    hashes_s, _ = median_time(lambda: [input_hash(lead) for lead in request.leads], repeats)
    endpoint_s, answer = median_time(lambda: endpoint(request), repeats)
    loop.close()
    if len(answer.results) != len(request.leads):
        raise RuntimeError("the endpoint method answered for other leads than it was given")
    steps = (parse_s, prepare_s, features_s, score_s, pipeline_s, hashes_s, endpoint_s)
    return InProcess(*steps, model_shape(scorer.booster), len(table.columns))
