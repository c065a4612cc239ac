"""What a CRM sends and gets back: pydantic models for the scoring and forecast endpoints.

A scoring request carries each entity's attributes and its whole history; ``serving.context`` turns them into
canonical rows so the features come from ``features.pit.build``, the code training used. A forecast request names only
a time, a period and a grouping: the deals come from the CRM history the service holds. Validation here is about
what a client can get wrong: types, NaN, sizes, events after ``as_of`` (they would leak the future), and an
``as_of`` outside the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator, with_config
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict  # pydantic takes typing_extensions.TypedDict before Python 3.12

from features.insights.forecast import GroupBy, Period

MAX_ITEMS = 1000
MAX_EVENTS = 10_000
MAX_ID = 200
MAX_TEXT = 20_000

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
Text = Annotated[str, Field(max_length=MAX_ID)]
Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]  # strict: true is not a number
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
FORECAST_EXAMPLE: dict[str, Any] = {"as_of": "2025-12-01T00:00:00Z", "period": "month", "by": "team", "periods": 3}
ATTAINMENT_EXAMPLE: dict[str, Any] = {"as_of": "2025-12-15T00:00:00Z", "level": "team", "period": "month"}

Level = Literal["rep", "team", "region"]  # the levels targets are set at (features.insights.targets.LEVELS)


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


@with_config(ConfigDict(extra="forbid"))
class ActivityIn(TypedDict):
    """One interaction, as the CRM logged it. A plain dict once validated (only the fields sent): a batch carries
    up to 100,000 of them, and pydantic builds dicts in its core at a fraction of the cost of model objects."""

    occurred_at: Annotated[UtcTime, Field(description="When it happened (ISO 8601; no zone means UTC).")]
    recorded_at: NotRequired[
        Annotated[UtcTime | None, Field(description="When it was entered in the CRM (default: occurred_at).")]
    ]
    type: Annotated[
        Text, Field(description="call, visit, meeting, email, message, web_visit, download, form, demo, ...")
    ]
    direction: NotRequired[Annotated[Text | None, Field(description="inbound (the customer) or outbound (the rep).")]]
    duration_s: NotRequired[Annotated[Number | None, Field(ge=0, description="Call or meeting length in seconds.")]]
    contact_role: NotRequired[
        Annotated[Text | None, Field(description="Who was met: ceo, cto, procurement, finance, engineer.")]
    ]
    note: NotRequired[
        Annotated[
            Annotated[str, Field(max_length=MAX_TEXT)] | None,
            Field(description="Free-text note or transcript (keywords such as 预算审批 or 比价 count)."),
        ]
    ]
    rep_id: NotRequired[Annotated[Text | None, Field(description="The rep who logged it.")]]
    next_step: NotRequired[
        Annotated[
            Annotated[str, Field(max_length=MAX_TEXT)] | None,
            Field(description="The next step recorded with it (follow-up quality: none recorded fails the check)."),
        ]
    ]
    attachment: NotRequired[
        Annotated[bool | None, Field(description="A document or meeting note is attached (null: unknown).")]
    ]


#: An activity with every field, none of them sent: what a validated activity's fields are read against.
ACTIVITY_BLANK: dict[str, None] = dict.fromkeys(ActivityIn.__annotations__)


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


def _late(item: BaseModel, at: datetime) -> str | None:
    """The field path of the item's first time after ``at``, if any. A path is built only for a refused time: a
    batch holds 100,000 activity times."""
    if item.created_at > at:  # type: ignore[attr-defined]
        return "created_at"
    for j, stage in enumerate(getattr(item, "stages", [])):
        if stage.changed_at > at:
            return f"stages[{j}].changed_at"
    for j, act in enumerate(item.activities):  # type: ignore[attr-defined]
        if act["occurred_at"] > at:
            return f"activities[{j}].occurred_at"
        recorded = act.get("recorded_at")
        if recorded is not None and recorded > at:
            return f"activities[{j}].recorded_at"
    return None


def refuse_after(item: BaseModel, path: str, at: datetime) -> None:
    """Refuse an item (at ``path`` in the request) whose creation or events are timed after ``at``: scoring it as
    of ``at`` would leak the future."""
    field = _late(item, at)
    if field is not None:
        raise ValueError(f"{path}.{field} is after as_of ({at.isoformat()}): it would leak the future")


class ScoreOptions(Strict):
    """What every scoring call shares: its time, language and factor count, and the rules on its items."""

    items_and_key: ClassVar[tuple[str, str]]  # the list of items and the id field within each

    as_of: UtcTime | None = Field(None, description="Score as of this time (default: now). No zone means UTC.")
    locale: str = Field("zh-CN", pattern="^(zh-CN|en)$", description="Language of the factor names: zh-CN or en.")
    top: int = Field(5, ge=1, le=20, strict=True, description="How many factors to list each way.")

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
            refuse_after(item, f"{name}[{i}]", at)
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


def refusal(loc: tuple[str, ...], message: str) -> ValidationError:
    """A request refused for what only the service knows (its history, its targets), raised as the validation error
    BentoML answers a bad body with, so the guard turns it into the same 422 with the field path."""
    error = PydanticCustomError("refused", "{message}", {"message": message})
    return ValidationError.from_exception_data("request", [InitErrorDetails(type=error, loc=loc, input=None)])


class ForecastOptions(Strict):
    """What both forecast calls share: a time inside the CRM history the service holds, and the period length."""

    as_of: UtcTime | None = Field(
        None,
        description="Forecast as of this time, between the first deal of the CRM history the service holds and its "
        "export time (default: the export time). No zone means UTC.",
    )
    period: Period = Field(
        "month",
        description="week (Monday to Sunday), month or quarter: calendar periods in UTC, the first holds as_of.",
    )

    def at(self, first: datetime, exported: datetime) -> datetime:
        """``as_of``, by default the export time. Outside the history it is refused: before its first deal there is
        nothing to forecast from, and what happened after its export is unknown to the service."""
        at = exported if self.as_of is None else self.as_of
        if at > exported:
            raise refusal(
                ("as_of",),
                f"{at.isoformat()} is after the export time of the CRM history this service holds "
                f"({exported.isoformat()}); export newer data (salesml export) to forecast from a later time",
            )
        if at < first:
            raise refusal(
                ("as_of",), f"{at.isoformat()} is before the first deal of the CRM history ({first.isoformat()})"
            )
        return at


class ForecastRequest(ForecastOptions):
    """Won revenue per period and group, as of one time."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": FORECAST_EXAMPLE})

    by: GroupBy = Field("team", description="Group by the deal owner (rep), its team or region, the product, or all.")
    periods: int = Field(
        3, ge=1, le=12, strict=True, description="How many periods, the first holding as_of (1 to 12)."
    )


class AttainmentRequest(ForecastOptions):
    """Each rep's, team's or region's chance of reaching its targets in the period holding ``as_of``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": ATTAINMENT_EXAMPLE})

    level: Level = Field("team", description="The level the targets are set at: rep, team or region.")


class FactorOut(BaseModel):
    """One key factor's push on the prediction."""

    factor: str = Field(description="Stable key of the factor, e.g. first_response.")
    name: str = Field(description="Display name in the requested locale.")
    feature: str = Field(description="The input that contributed most within the factor.")
    feature_name: str = Field(description="Its display name.")
    value: str | float | bool | None = Field(description="Its value for this item (null: missing).")
    contribution: float = Field(description="SHAP contribution in log-odds (positive raises the probability).")
    delta_probability: float = Field(
        description="This factor's effect on the probability: base_probability plus every factor's effect is the "
        "probability (its share of the change from the base, in proportion to its contribution; at least 0.0005 "
        "either way, smaller ones are in other_effect)."
    )


class Scored(BaseModel):
    probability: float = Field(ge=0, le=1, description="Calibrated probability of the model's label.")
    score: int = Field(ge=0, le=100, description="Percentile of the probability among the training population.")
    grade: str = Field(description="A (score >= 85 by default), B (>= 60) or C.")
    base_probability: float = Field(
        ge=0, le=1, description="A typical item's probability (at the model's expected margin): the factors start here."
    )
    top_positive: list[FactorOut] = Field(description="Factors raising the probability, strongest first.")
    top_negative: list[FactorOut] = Field(description="Factors lowering the probability, strongest first.")
    other_effect: float = Field(
        description="The summed effect of the factors not listed: base_probability + the listed effects + "
        "other_effect = probability."
    )
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


class ForecastRow(BaseModel):
    """One period and group: won so far, what the open pipeline and deals not yet created add, and the interval."""

    period: str = Field(description="The period: 2026-01 (month), 2026Q1 (quarter), or its Monday, 2026-01-05 (week).")
    start: datetime = Field(description="Its first instant (UTC).")
    end: datetime = Field(description="The first instant after it (UTC).")
    group: str = Field(description="The rep, team, region or product; all; (none) for deals without one.")
    won_to_date: float = Field(description="Revenue won inside the period by as_of.")
    pipeline: float = Field(description="Expected revenue won inside the period from the deals open at as_of.")
    new_deals: float = Field(description="Expected revenue won inside the period from deals created after as_of.")
    expected: float = Field(description="won_to_date + pipeline + new_deals.")
    p10: float = Field(description="10th percentile of the period's won revenue (seeded simulation).")
    p50: float = Field(description="Median of the period's won revenue.")
    p90: float = Field(description="90th percentile of the period's won revenue.")
    open_deals: int = Field(description="The group's deals open at as_of.")


class AttainmentRow(BaseModel):
    """One target: its lines, the forecast against them, and the color on the board."""

    period: str = Field(description="The period the target is set for, e.g. 2026-01.")
    level: str = Field(description="rep, team or region.")
    key: str = Field(description="The rep, team or region.")
    red: float = Field(description="Warning line.")
    yellow: float = Field(description="Base line.")
    green: float = Field(description="Challenge line.")
    won_to_date: float = Field(description="Revenue won inside the period by as_of.")
    expected: float = Field(description="Expected won revenue of the period.")
    p10: float = Field(description="10th percentile of the period's won revenue.")
    p50: float = Field(description="Median of the period's won revenue.")
    p90: float = Field(description="90th percentile of the period's won revenue.")
    p_red: float = Field(ge=0, le=1, description="Probability the period's won revenue reaches the red line.")
    p_yellow: float = Field(ge=0, le=1, description="Probability it reaches the yellow line.")
    p_green: float = Field(ge=0, le=1, description="Probability it reaches the green line.")
    color: Literal["red", "yellow", "green"] = Field(
        description="The highest line the median reaches: green (challenge), yellow (base), else red."
    )
    early_warning: bool = Field(
        description="Won to date below 85% of the base line pro-rated to the days elapsed, at as_of and a week "
        "earlier (only the period holding as_of)."
    )


class ForecastAnswer(BaseModel):
    request_id: str = Field(description="Id of this call in the prediction log.")
    model: str = Field(description="Registered model name of the close-probability model.")
    model_version: str = Field(description="MLflow registry version.")
    as_of: datetime = Field(description="The time the forecast is made as of (UTC).")
    period: str = Field(description="week, month or quarter.")


class ForecastResponse(ForecastAnswer):
    by: str = Field(description="What the rows are grouped by.")
    rows: list[ForecastRow] = Field(description="One per period and group, periods in order.")


class AttainmentResponse(ForecastAnswer):
    level: str = Field(description="The level of the targets.")
    rows: list[AttainmentRow] = Field(description="One per target of the level in the period.")
