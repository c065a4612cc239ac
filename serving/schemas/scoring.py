"""``/v1/leads/score`` and ``/v1/opportunities/score``: the items a CRM sends with their histories, and the scores
and factors it gets back.

A scoring request carries each entity's attributes and its whole history; ``serving.context`` turns them into
canonical rows so the features come from ``features.pit.build``, the code training used. Events after ``as_of`` are
refused: they would leak the future.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Annotated, Any, ClassVar, NotRequired, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator, with_config
from typing_extensions import TypedDict  # pydantic takes typing_extensions.TypedDict before Python 3.12

from serving.schemas.columnar import MIN_BODY_BYTES, ColumnarParser
from serving.schemas.common import (
    MAX_EVENTS,
    MAX_ITEMS,
    MAX_TEXT,
    AttributeValue,
    Id,
    ModelKind,
    Number,
    RequestLocale,
    Strict,
    Text,
    UtcTime,
    at_or_now,
    documented,
    example,
)

#: Working request examples: shown in the OpenAPI document (/docs.json) and sent by the tests.
LEAD_EXAMPLE: dict[str, Any] = example("score-lead")
OPPORTUNITY_EXAMPLE: dict[str, Any] = example("score-opportunity")


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
    columnar: ClassVar[bool] = False  # bodies parsed by ``serving.schemas.columnar`` when it takes them

    as_of: UtcTime | None = Field(None, description="Score as of this time (default: now). No zone means UTC.")
    locale: RequestLocale = Field("zh-CN", description="Language of the factor names: zh-CN or en.")
    top: int = Field(5, ge=1, le=20, strict=True, description="How many factors to list each way.")

    def at(self) -> datetime:
        return at_or_now(self.as_of)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """BentoML parses a body with this. The columnar path first, for the large bodies it takes; the model's own
        validation for the others, its errors included."""
        if cls.columnar and not options and len(json_data) >= MIN_BODY_BYTES:
            parsed = _columnar(cls).parse(json_data)
            if parsed is not None:
                return parsed  # type: ignore[return-value]
        return super().model_validate_json(json_data, **options)

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

    model_config = documented("score-lead")
    items_and_key = ("leads", "lead_id")
    columnar = True

    leads: list[LeadIn] = Field(min_length=1, max_length=MAX_ITEMS, description="The leads (1 to 1,000).")


class OpportunityScoreRequest(ScoreOptions):
    """Up to 1,000 open deals, scored as of one time."""

    model_config = documented("score-opportunity")
    items_and_key = ("opportunities", "opportunity_id")
    columnar = True

    opportunities: list[OpportunityIn] = Field(
        min_length=1, max_length=MAX_ITEMS, description="The open deals (1 to 1,000)."
    )


@cache
def _columnar(model: type[ScoreOptions]) -> ColumnarParser:
    return ColumnarParser.of(model)


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
    model_kind: ModelKind = "ml"
    segment: str | None = Field(
        None, description="The segment value whose own model scored this item (null: the global model)."
    )
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
