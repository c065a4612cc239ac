"""What a CRM sends and gets back: pydantic models for the scoring endpoints.

A request carries each entity's attributes and its whole history; ``serving.context`` turns them into canonical
rows so the features come from ``features.build``, the code training used. Validation here is about what a
client can get wrong: types, NaN, sizes, and events after ``as_of`` (they would leak the future).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

MAX_ITEMS = 1000
MAX_EVENTS = 10_000
MAX_ID = 200
MAX_TEXT = 20_000

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
Text = Annotated[str, Field(max_length=MAX_ID)]
Number = Annotated[float, Field(allow_inf_nan=False)]
AttributeValue = Annotated[str, Field(max_length=MAX_TEXT)] | Number | bool | None

#: Working request examples: shown in the OpenAPI document (/docs.json) and sent by the tests.
LEAD_EXAMPLE: dict[str, Any] = {
    "as_of": "2026-01-05T09:00:00Z",
    "locale": "zh-CN",
    "top": 3,
    "leads": [
        {
            "lead_id": "L-2026-0001",
            "created_at": "2026-01-02T08:30:00Z",
            "source": "referral",
            "region": "east",
            "industry": "manufacturing",
            "company_size": "200-999",
            "owner_rep_id": "R0014",
            "activities": [
                {"occurred_at": "2026-01-02T08:31:00Z", "type": "form", "direction": "inbound"},
                {"occurred_at": "2026-01-02T09:10:00Z", "type": "call", "direction": "outbound", "duration_s": 420},
                {
                    "occurred_at": "2026-01-03T14:00:00Z",
                    "type": "visit",
                    "direction": "outbound",
                    "contact_role": "cto",
                    "note": "客户关注预算审批流程和上线周期",
                },
            ],
        }
    ],
}
OPPORTUNITY_EXAMPLE: dict[str, Any] = {
    "as_of": "2026-01-05T09:00:00Z",
    "locale": "en",
    "top": 3,
    "opportunities": [
        {
            "opportunity_id": "O-2026-0001",
            "created_at": "2025-12-01T10:00:00Z",
            "account_id": "C0000672",
            "owner_rep_id": "R0021",
            "product": "DataHub platform (annual)",
            "amount": 180000,
            "currency": "CNY",
            "expected_close_at": "2026-02-15T00:00:00Z",
            "stages": [
                {"stage": "lead", "changed_at": "2025-12-01T10:00:00Z"},
                {"stage": "needs_confirmed", "changed_at": "2025-12-04T16:00:00Z"},
                {"stage": "demo", "changed_at": "2025-12-12T10:00:00Z"},
            ],
            "activities": [
                {"occurred_at": "2025-12-02T09:00:00Z", "type": "call", "direction": "outbound", "duration_s": 900},
                {"occurred_at": "2025-12-12T10:00:00Z", "type": "demo", "contact_role": "ceo"},
                {"occurred_at": "2025-12-20T15:00:00Z", "type": "quote_sent", "note": "customer compares prices"},
            ],
        }
    ],
}


#: Times a CRM can mean (and pandas can hold: 1677-2262).
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    """Times without a zone are read as UTC, as everywhere in salesml; all times end up with the stdlib's UTC,
    which pandas converts on its fast path."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}")
    return value


UtcTime = Annotated[datetime, AfterValidator(_utc)]


class Strict(BaseModel):
    """Unknown fields are an error: a misspelt field would otherwise be dropped without a word."""

    model_config = ConfigDict(extra="forbid")


class ActivityIn(Strict):
    """One interaction, as the CRM logged it."""

    occurred_at: UtcTime = Field(description="When it happened (ISO 8601; no zone means UTC).")
    recorded_at: UtcTime | None = Field(None, description="When it was entered in the CRM (default: occurred_at).")
    type: Text = Field(description="call, visit, meeting, email, message, web_visit, download, form, demo, ...")
    direction: Text | None = Field(None, description="inbound (the customer) or outbound (the rep).")
    duration_s: Number | None = Field(None, ge=0, description="Call or meeting length in seconds.")
    contact_role: Text | None = Field(None, description="Who was met: ceo, cto, procurement, finance, engineer.")
    note: Annotated[str, Field(max_length=MAX_TEXT)] | None = Field(
        None, description="Free-text note or transcript (keywords such as 预算审批 or 比价 count)."
    )
    rep_id: Text | None = Field(None, description="The rep who logged it.")


class StageIn(Strict):
    """The deal entered a funnel stage."""

    stage: Text = Field(description="Stage name as in the training data: lead, needs_confirmed, demo, quote, ...")
    changed_at: UtcTime = Field(description="When the deal entered the stage (no zone means UTC).")


class LeadIn(Strict):
    """A lead to score: its attributes and its whole activity history (empty for a brand-new lead)."""

    lead_id: Id = Field(description="The CRM's id of the lead.")
    created_at: UtcTime = Field(description="When the lead was created (no zone means UTC).")
    source: Text | None = Field(None, description="web_form, trade_show, referral, cold_call, ads, partner, ...")
    region: Text | None = Field(None, description="Sales region of the lead.")
    industry: Text | None = Field(None, description="The customer's industry.")
    company_size: Text | None = Field(None, description="Employee band, e.g. 1-49, 50-199, 200-999, 1000+.")
    owner_rep_id: Text | None = Field(None, description="The rep who owns the lead.")
    account_id: Text | None = Field(None, description="The customer company, when known.")
    attributes: dict[Text, AttributeValue] = Field(
        default_factory=dict, max_length=200, description="Extra columns the training data declared (by name)."
    )
    activities: list[ActivityIn] = Field(default_factory=list, max_length=MAX_EVENTS)


class OpportunityIn(Strict):
    """An open deal to score: its attributes, stage history and activities."""

    opportunity_id: Id = Field(description="The CRM's id of the deal.")
    created_at: UtcTime = Field(description="When the deal was created (no zone means UTC).")
    account_id: Text | None = Field(None, description="The customer company.")
    lead_id: Text | None = Field(None, description="The lead it came from (its response history is a factor).")
    owner_rep_id: Text | None = Field(None, description="The rep who owns the deal.")
    product: Text | None = Field(None, description="Product or product line.")
    amount: Number | None = Field(None, ge=0, description="Deal value.")
    currency: Text | None = Field(None, description="Currency of the amount.")
    expected_close_at: UtcTime | None = Field(None, description="The rep's expected close date.")
    attributes: dict[Text, AttributeValue] = Field(
        default_factory=dict, max_length=200, description="Extra columns the training data declared (by name)."
    )
    stages: list[StageIn] = Field(default_factory=list, max_length=MAX_EVENTS)
    activities: list[ActivityIn] = Field(default_factory=list, max_length=MAX_EVENTS)


def _times(item: BaseModel) -> list[tuple[str, datetime]]:
    """Every (field path, time) of an item and its events, for the 'nothing after as_of' rule."""
    out = [("created_at", item.created_at)]  # type: ignore[attr-defined]
    for j, stage in enumerate(getattr(item, "stages", [])):
        out.append((f"stages[{j}].changed_at", stage.changed_at))
    for j, act in enumerate(item.activities):  # type: ignore[attr-defined]
        out.append((f"activities[{j}].occurred_at", act.occurred_at))
        if act.recorded_at is not None:
            out.append((f"activities[{j}].recorded_at", act.recorded_at))
    return out


class ScoreOptions(Strict):
    """What every scoring call shares: its time, language and factor count, and the rules on its items."""

    items_and_key: ClassVar[tuple[str, str]]  # the list of items and the id field within each

    as_of: UtcTime | None = Field(None, description="Score as of this time (default: now). No zone means UTC.")
    locale: str = Field("zh-CN", pattern="^(zh-CN|en)$", description="Language of the factor names: zh-CN or en.")
    top: int = Field(5, ge=1, le=20, description="How many factors to list each way.")

    def at(self) -> datetime:
        return self.as_of if self.as_of is not None else datetime.now(UTC)

    @model_validator(mode="after")
    def _unique_and_not_after_as_of(self) -> ScoreOptions:
        """Ids are unique within a call, and nothing happened after ``as_of`` (it would leak the future)."""
        name, key = self.items_and_key
        at, seen = self.at(), {}
        for i, item in enumerate(getattr(self, name)):
            first = seen.setdefault(getattr(item, key), i)
            if first != i:
                raise ValueError(f"{name}[{i}].{key} repeats {name}[{first}].{key} ({getattr(item, key)!r})")
            for path, when in _times(item):
                if when > at:
                    raise ValueError(f"{name}[{i}].{path} is after as_of ({at.isoformat()}): it would leak the future")
        return self


class LeadScoreRequest(ScoreOptions):
    """Up to 1,000 leads, scored as of one time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": LEAD_EXAMPLE})
    items_and_key = ("leads", "lead_id")

    leads: list[LeadIn] = Field(min_length=1, max_length=MAX_ITEMS, description="The leads (1 to 1,000).")


class OpportunityScoreRequest(ScoreOptions):
    """Up to 1,000 open deals, scored as of one time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": OPPORTUNITY_EXAMPLE})
    items_and_key = ("opportunities", "opportunity_id")

    opportunities: list[OpportunityIn] = Field(
        min_length=1, max_length=MAX_ITEMS, description="The open deals (1 to 1,000)."
    )


class FactorOut(BaseModel):
    """One key factor's push on the prediction."""

    factor: str = Field(description="Stable key of the factor, e.g. first_response.")
    name: str = Field(description="Display name in the requested locale.")
    feature: str = Field(description="The input that contributed most within the factor.")
    feature_name: str = Field(description="Its display name.")
    value: str | float | bool | None = Field(description="Its value for this item (null: missing).")
    contribution: float = Field(description="SHAP contribution in log-odds (positive raises the probability).")
    delta_probability: float = Field(description="Approximate change of the probability this factor makes.")


class Scored(BaseModel):
    probability: float = Field(ge=0, le=1, description="Calibrated probability of the model's label.")
    score: int = Field(ge=0, le=100, description="Percentile of the probability among the training population.")
    grade: str = Field(description="A (score >= 85 by default), B (>= 60) or C.")
    top_positive: list[FactorOut] = Field(description="Factors raising the probability, strongest first.")
    top_negative: list[FactorOut] = Field(description="Factors lowering the probability, strongest first.")
    model: str = Field(description="Registered model name.")
    model_version: str = Field(description="MLflow registry version.")
    as_of: datetime = Field(description="The time the features were built as of (UTC).")
    warnings: list[str] = Field(description="Unseen categories, unknown attributes, ...")


class LeadScore(Scored):
    lead_id: str


class OpportunityScore(Scored):
    opportunity_id: str
    p_win: float = Field(ge=0, le=1, description="Probability the deal is won (same as probability).")
    p_win_30d: float | None = Field(None, description="Won within 30 days, when the model provides it.")
    p_win_60d: float | None = Field(None, description="Won within 60 days, when the model provides it.")
    p_win_90d: float | None = Field(None, description="Won within 90 days, when the model provides it.")
    expected_close_at: datetime | None = Field(
        None, description="Expected close if won (median, from the windows); null: after the longest window."
    )


class LeadScoreResponse(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    results: list[LeadScore]


class OpportunityScoreResponse(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    results: list[OpportunityScore]


class ModelInfo(BaseModel):
    name: str
    version: str = Field(description="MLflow registry version (the champion when exported).")
    entity: str = Field(description="lead or opportunity.")
    label: str = Field(description="What the probability is of.")
    horizon_days: int | None = Field(None, description="Label horizon in days (null: eventual outcome).")
    data_window: list[str] = Field(description="First and last training cutoff.")
    metrics: dict[str, float | None] = Field(description="Test metrics: roc_auc, pr_auc, brier, ece, ...")
    exported_at: str = Field(description="When it was copied from the MLflow registry into the BentoML store.")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    context_exported_at: str | None = Field(description="Export time of the CRM history the features use.")
