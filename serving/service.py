"""The salesml service a CRM calls: lead scores, close probabilities and their key factors, revenue forecasts and
target attainment.

One ``@bentoml.service`` class. The champions and the CRM history are BentoML models (``salesml export`` copies them
from the MLflow registry); each scoring request becomes canonical rows (``serving.context``) and goes through
``features.pit.build`` and ``features.scoring.scorer``, the code training used. Forecasts run
``features.insights.forecast`` and ``features.insights.targets`` on the history the service holds, as the backtests
do. The request and response models are ``serving.schemas``; a user's error is answered with its status by
``serving.refusals``. Keys, body limits and the error format are an ASGI middleware (``serving.http``); every scored
item and every forecast is in the prediction log before its answer is sent, its personal data as keyed hashes
(``features.crm.privacy``). With ``SALESML_SHADOW_SHARE`` a share of scoring calls is also scored by the exported
challenger after the answer, and logged apart (``serving.shadow``).

Run it with ``salesml serve`` (127.0.0.1:3000). A new export (``salesml export``, ``salesml models promote`` or
``rollback``) is served without a restart (``serving.reload``).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import bentoml
from bentoml.models import BentoModel
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from features.config import prediction_log_dir
from features.crm.checks import DEFAULT_SIMILARITY
from features.errors import Unavailable
from features.insights.forecast import model_forecast
from features.insights.routing import LOAD_CAP_FACTOR
from features.insights.targets import attainment
from features.insights.whatif import FOLLOW_UP_HOURS
from serving.batching import Batcher, Call, ScoringThread
from serving.checks import check_records, log_record
from serving.http import ApiGuard, GuardedService, in_flight, service_workers
from serving.monitoring import monitoring_answer
from serving.refusals import answered
from serving.reload import NO_HISTORY, LiveModels, settle
from serving.report import RESPONSES as REPORT_RESPONSES
from serving.report import ReportLocale, serve_report, validation_refused
from serving.results import forecast_logged, log_head, request_id, scored_calls
from serving.routing import run_routing
from serving.schemas.checks import AccountRecord, ChecksRequest, ChecksResponse, LeadRecord, OpportunityRecord
from serving.schemas.forecast import (
    AttainmentRequest,
    AttainmentResponse,
    AttainmentRow,
    ForecastRequest,
    ForecastResponse,
    ForecastRow,
)
from serving.schemas.models import ModelsAnswer
from serving.schemas.routing import RouteRequest, RouteResponse
from serving.schemas.scoring import (
    LeadIn,
    LeadScoreRequest,
    LeadScoreResponse,
    OpportunityIn,
    OpportunityScoreRequest,
    OpportunityScoreResponse,
)
from serving.schemas.whatif import LeadWhatIfRequest, LeadWhatIfResponse, WhatIfRequest, WhatIfResponse
from serving.schemas.workflow import QualityRequest, QualityResponse, SweepRequest, SweepResponse
from serving.segments import score_routed
from serving.shadow import Shadow
from serving.store import CONTEXT, SERVED, declared
from serving.trend import LeadId, OpportunityId, trend_answer, trend_route
from serving.workflow import entity_of, run_quality, run_sweep, run_whatif

#: A call of 1,000 leads holds about 56,000 young objects at its peak (answers, log records, response models) and
#: leaves a few small cycles at most: above it, the collector no longer scans a call's objects while they live.
GC_YOUNG_THRESHOLD = 200_000
logger = logging.getLogger(__name__)


#: GET routes (BentoML's own API routes are POST); mounted passively under /v1, behind the same guard.
meta = FastAPI(title="salesml metadata", docs_url=None, redoc_url=None, openapi_url=None)
meta.add_exception_handler(RequestValidationError, validation_refused)


@bentoml.asgi_app(meta, path="/v1")
@bentoml.service(
    name="salesml",
    traffic={"timeout": 120},
    workers=service_workers(),
    service_class=GuardedService,
)
class SalesML:
    lead_model = declared(SERVED["lead"])
    opportunity_model = declared(SERVED["opportunity"])
    context_model = BentoModel(f"{CONTEXT}:latest")

    def __init__(self) -> None:
        self.live = LiveModels(prediction_log_dir())
        for why in self.live.current.unavailable.values():
            logger.error("%s", why)
        scoring = ScoringThread()
        self.batchers = {entity: Batcher(partial(self._score, entity), scoring, entity == "lead") for entity in SERVED}
        self.shadow = Shadow(scoring)
        # A batch can hold 100,000 activities: with the default thresholds the collector rescans them many times
        # per call. Loaded state is frozen out of its scans, and young objects are collected less often.
        settle()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])

    def __is_ready__(self) -> bool:
        """Ready (``/readyz``) with the history and at least one model: the others' endpoints answer 503."""
        loaded = self.live.current
        return bool(loaded.models) and loaded.context is not None

    @bentoml.api(route="/v1/leads/score", input_spec=LeadScoreRequest, output_spec=LeadScoreResponse)
    @answered
    async def score_leads(
        self,
        leads: list[LeadIn],
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        locale: str = "zh-CN",
        top: int = 5,
    ) -> LeadScoreResponse:
        """Score up to 1,000 leads: calibrated probability, 0-100 score, A/B/C grade and the key factors."""
        as_of = as_of or datetime.now(UTC)  # read once: the features' cutoff and the answer's as_of
        request = LeadScoreRequest.model_construct(leads=leads, as_of=as_of, locale=locale, top=top)
        results = await self.batchers["lead"].submit(self._call("lead", request, ctx))
        return LeadScoreResponse.model_validate({"request_id": request_id(ctx), "results": results})

    @bentoml.api(
        route="/v1/opportunities/score", input_spec=OpportunityScoreRequest, output_spec=OpportunityScoreResponse
    )
    @answered
    async def score_opportunities(
        self,
        opportunities: list[OpportunityIn],
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        locale: str = "zh-CN",
        top: int = 5,
    ) -> OpportunityScoreResponse:
        """Score up to 1,000 open deals: p_win (and within 30/60/90 days when the model has them) and factors."""
        as_of = as_of or datetime.now(UTC)
        request = OpportunityScoreRequest.model_construct(
            opportunities=opportunities, as_of=as_of, locale=locale, top=top
        )
        results = await self.batchers["opportunity"].submit(self._call("opportunity", request, ctx))
        for r in results:
            r["p_win"] = r["probability"]
        return OpportunityScoreResponse.model_validate({"request_id": request_id(ctx), "results": results})

    @bentoml.api(route="/v1/opportunities/whatif", input_spec=WhatIfRequest, output_spec=WhatIfResponse)
    @answered
    def whatif_opportunities(
        self,
        opportunities: list[OpportunityIn],
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        locale: str = "zh-CN",
        top: int = 5,
        actions: list[str] | None = None,
        follow_up_hours: float = FOLLOW_UP_HOURS,
    ) -> WhatIfResponse:
        """Candidate actions for up to 100 open deals, each re-scored as a hypothetical activity: p_win without and
        with it and the factors it moved, best first; actions already done or impossible in the stage are skipped."""
        request = WhatIfRequest.model_construct(
            opportunities=opportunities,
            as_of=as_of or datetime.now(UTC),
            locale=locale,
            top=top,
            actions=actions,
            follow_up_hours=follow_up_hours,
        )
        return self._logged("opportunity", run_whatif, request, ctx)

    @bentoml.api(route="/v1/leads/whatif", input_spec=LeadWhatIfRequest, output_spec=LeadWhatIfResponse)
    @answered
    def whatif_leads(
        self,
        leads: list[LeadIn],
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        locale: str = "zh-CN",
        top: int = 5,
        actions: list[str] | None = None,
        follow_up_hours: float = FOLLOW_UP_HOURS,
    ) -> LeadWhatIfResponse:
        """The actions a lead can take, for up to 100 open leads, each re-scored as a hypothetical activity: the
        conversion probability without and with it and the factors it moved, best first."""
        request = LeadWhatIfRequest.model_construct(
            leads=leads,
            as_of=as_of or datetime.now(UTC),
            locale=locale,
            top=top,
            actions=actions,
            follow_up_hours=follow_up_hours,
        )
        return self._logged("lead", run_whatif, request, ctx)

    @bentoml.api(route="/v1/forecast", input_spec=ForecastRequest, output_spec=ForecastResponse)
    @answered
    def forecast(
        self,
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        period: str = "month",
        by: str = "team",
        periods: int = 3,
    ) -> ForecastResponse:
        """Won revenue per period and group as of a time (default: the history's export): won so far, expected from
        the open pipeline and from deals not yet created, with P10/P50/P90."""
        request = ForecastRequest.model_construct(as_of=as_of, period=period, by=by, periods=periods)
        loaded = self.live.current
        context, model, at = loaded.forecaster(request)
        table = model_forecast(context.ds, model.scorer, at, period, by, periods).table
        rows = [ForecastRow(**row) for row in table.to_dict("records")]
        return ForecastResponse(
            **forecast_logged(loaded.log, log_head(ctx, model), at, request, rows), by=by, rows=rows
        )

    @bentoml.api(route="/v1/targets/attainment", input_spec=AttainmentRequest, output_spec=AttainmentResponse)
    @answered
    def target_attainment(
        self,
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        level: str = "team",
        period: str = "month",
    ) -> AttainmentResponse:
        """Each rep's, team's or region's chance of reaching its red, yellow and green lines in the period holding
        as_of, its color on the target board and the early warning."""
        request = AttainmentRequest.model_construct(as_of=as_of, level=level, period=period)
        loaded = self.live.current
        context, model, at = loaded.forecaster(request)
        history = context.ds
        board = attainment(history, model_forecast(history, model.scorer, at, period, level, 1))
        rows = [AttainmentRow(**row) for row in board.to_dict("records")]
        return AttainmentResponse(
            **forecast_logged(loaded.log, log_head(ctx, model), at, request, rows), level=level, rows=rows
        )

    @bentoml.api(route="/v1/leads/sweep", input_spec=SweepRequest, output_spec=SweepResponse)
    @answered
    def sweep_leads(
        self,
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        since: datetime | None = None,
        lead_ids: list[str] | None = None,
        locale: str = "zh-CN",
    ) -> SweepResponse:
        """The silent-lead sweep of the history's open leads: grade drops since the last sweep, one grade down per
        24 h without an outbound action, reassignment to the high-performer pool after 72 h, with the evidence."""
        request = SweepRequest.model_construct(as_of=as_of, since=since, lead_ids=lead_ids, locale=locale)
        return self._logged("lead", run_sweep, request, ctx)

    @bentoml.api(route="/v1/leads/route", input_spec=RouteRequest, output_spec=RouteResponse)
    @answered
    def route_lead(
        self,
        lead: LeadIn,
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        locale: str = "zh-CN",
        preferred_rep_id: str | None = None,
        failed_routings: int = 0,
        candidates: list[str] | None = None,
        load_cap: float = LOAD_CAP_FACTOR,
    ) -> RouteResponse:
        """Which rep gets a lead: the hard rules (failed routings, the customer's chosen rep, the account's owner),
        then the reps ranked by the lead's predicted conversion with each, beside the field's rule; with reasons."""
        request = RouteRequest.model_construct(
            lead=lead,
            as_of=as_of,
            locale=locale,
            preferred_rep_id=preferred_rep_id,
            failed_routings=failed_routings,
            candidates=candidates,
            load_cap=load_cap,
        )
        return self._logged("lead", run_routing, request, ctx)

    @bentoml.api(route="/v1/activities/quality", input_spec=QualityRequest, output_spec=QualityResponse)
    @answered
    def activity_quality(
        self,
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        opportunity: OpportunityIn | None = None,
        lead: LeadIn | None = None,
        opportunity_id: str | None = None,
        lead_id: str | None = None,
    ) -> QualityResponse:
        """Follow-up quality (0-100) of each rep action on a deal or lead: how much it moved the probability, call
        length, attachment, next step and note; below 60 it does not count."""
        request = QualityRequest.model_construct(
            as_of=as_of, opportunity=opportunity, lead=lead, opportunity_id=opportunity_id, lead_id=lead_id
        )
        return self._logged(entity_of(request), run_quality, request, ctx)

    @bentoml.api(route="/v1/checks", input_spec=ChecksRequest, output_spec=ChecksResponse)
    @answered
    def data_checks(
        self,
        ctx: bentoml.Context,
        as_of: datetime | None = None,
        similarity: float = DEFAULT_SIMILARITY,
        leads: list[LeadRecord] | None = None,
        accounts: list[AccountRecord] | None = None,
        opportunities: list[OpportunityRecord] | None = None,
    ) -> ChecksResponse:
        """The data anomaly guard on new or changed records against the history: duplicate leads and accounts, deal
        amounts above 5x the rep's 3-month average, discounts beyond the rep's authority. Nothing is changed."""
        request = ChecksRequest.model_construct(
            as_of=as_of,
            similarity=similarity,
            leads=leads or [],
            accounts=accounts or [],
            opportunities=opportunities or [],
        )
        loaded = self.live.current
        if loaded.context is None:
            raise Unavailable(NO_HISTORY)
        answer = check_records(loaded.context.ds, request, request_id(ctx), loaded.log.redactor)
        loaded.log.append([log_record(log_head(ctx), request, answer)])
        return answer

    @meta.get("/models", response_model=ModelsAnswer)
    def models_info(self) -> ModelsAnswer:
        """The loaded models: registry version, training data window and test metrics; why any other is not."""
        return self.live.current.answer()

    @meta.post("/admin/reload", response_model=ModelsAnswer)
    def reload(self) -> ModelsAnswer | JSONResponse:
        """Serve the latest export now (admin key): this worker loads it, the others follow within a second. 503
        with why when it does not load whole; the models served before stay."""
        try:
            return self.live.reload().answer()
        except Unavailable as why:
            return JSONResponse({"message": str(why)}, status_code=why.http_status)

    @meta.get("/monitoring", response_class=JSONResponse)
    def monitoring(self, since: datetime | None = None) -> JSONResponse:
        """The served models' live quality (``salesml monitor --json``): realised and estimated quality, slices,
        drift, age, warnings and alerts, from the prediction log and the history's outcomes; sets the gauges."""
        served = self.live.current
        if served.context is None:
            return JSONResponse({"message": NO_HISTORY}, status_code=503)
        return monitoring_answer(served.served(), served.context.ds, served.log.directory, since)

    @meta.get("/report", response_class=Response, responses=REPORT_RESPONSES)
    def report(self, request: Request, locale: ReportLocale = "zh-CN") -> Response:
        """The latest manager report (salesml report) as one self-contained HTML page; 404 before there is one."""
        return serve_report(request, locale, self.live.current.log)

    @meta.get("/leads/{lead_id}/trend", **trend_route("lead"))
    def lead_trend(self, request: Request, lead_id: LeadId) -> JSONResponse:
        return trend_answer(request, self.live.current, "lead", lead_id)

    @meta.get("/opportunities/{opportunity_id}/trend", **trend_route("opportunity"))
    def opportunity_trend(self, request: Request, opportunity_id: OpportunityId) -> JSONResponse:
        return trend_answer(request, self.live.current, "opportunity", opportunity_id)

    def _logged(
        self, entity: str, run: Callable[..., tuple[Any, dict[str, Any]]], request: Any, ctx: bentoml.Context
    ) -> Any:
        """A call that ``run`` answers from the history with the entity's served model (each row its segment's):
        its prediction-log record is written before the answer is sent."""
        loaded = self.live.current
        context, model = loaded.routed(entity)
        answer, record = run(context, model, request, log_head(ctx, model))
        loaded.log.append([record])
        return answer

    def _call(self, entity: str, request: LeadScoreRequest | OpportunityScoreRequest, ctx: bentoml.Context) -> Call:
        """The call as a batch takes it; a service without the model refuses it here (503)."""
        _, model = self.live.current.ready(entity)
        return Call(request, log_head(ctx, model), in_flight(ctx.request.state))

    def _score(self, entity: str, calls: list[Call]) -> list[list[dict[str, Any]]]:
        """Features (same code as training), scores and factors of a batch of calls, one list of results per call;
        logged before they are returned; then the challenger's shadow scores, when wanted (``serving.shadow``)."""
        loaded = self.live.current  # read once: the batch's answers name what scored them
        context, model = loaded.ready(entity)
        requests = [call.request for call in calls]
        batch = context.leads if entity == "lead" else context.opportunities  # deals: one call a batch
        prepared = batch(*requests)  # type: ignore[operator]
        table = prepared.features()
        first = requests[0]
        scored, reasons, by, segment = score_routed(model, loaded.segments[entity], table, first.top, first.locale)  # type: ignore[arg-type]
        answers, records = scored_calls(by, segment, calls, scored, reasons, table, prepared.warnings)
        loaded.log.append(records)
        self.shadow.after(loaded.challengers.get(entity), calls, table, loaded.log, [m is model for m in by])
        return answers


SalesML.add_asgi_middleware(ApiGuard, workers=service_workers())
