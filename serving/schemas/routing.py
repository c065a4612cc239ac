"""``/v1/leads/route``: one lead with what the workflow knows beyond the CRM in; the rep to assign, the rule that
decided, the ranked reps and the reasons out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from features.insights.routing import LOAD_CAP_FACTOR, MAX_FAILED_ROUTINGS
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
from serving.schemas.scoring import LeadIn, refuse_after

ROUTE_EXAMPLE: dict[str, Any] = example("route-lead")


class RouteRequest(Strict):
    """One lead to route as of a time."""

    model_config = documented("route-lead")

    lead: LeadIn = Field(description="The lead, as /v1/leads/score takes it (owner_rep_id is ignored).")
    as_of: UtcTime | None = Field(None, description="Route as of this time (default: now). No zone means UTC.")
    locale: RequestLocale = Field("zh-CN", description="Language of the reasons: zh-CN or en.")
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
        return at_or_now(self.as_of)

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
    model_kind: ModelKind = "ml"
