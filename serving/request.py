"""Scoring requests as canonical rows: a lead and its activity history, placed into the service's context.

The service answers with the same feature code as training (``features.build``): a request's lead and activities
become canonical rows, replace whatever the context (the latest CRM export) holds for that lead, and the features
are built as of the request's ``as_of``. Nothing here computes a feature, so there is no second implementation
to drift from the first.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated

import pandas as pd
from pydantic import AfterValidator, BaseModel, Field, model_validator

from features.dataset import Dataset, conform

MAX_ITEMS = 1000


def _utc(value: datetime) -> datetime:
    """Times without a zone are read as UTC, as everywhere in salesml."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcTime = Annotated[datetime, AfterValidator(_utc)]


class ActivityIn(BaseModel):
    """One interaction on the lead, as the CRM logged it."""

    occurred_at: UtcTime = Field(description="When it happened (ISO 8601; no zone means UTC).")
    recorded_at: UtcTime | None = Field(None, description="When it was entered in the CRM (default: occurred_at).")
    type: str = Field(description="call, visit, meeting, email, message, web_visit, download, form, demo, ...")
    direction: str | None = Field(None, description="inbound (the customer) or outbound (the rep).")
    duration_s: float | None = Field(None, ge=0, allow_inf_nan=False, description="Call or meeting length in seconds.")
    contact_role: str | None = Field(None, description="Who was met: ceo, cto, procurement, finance, ...")
    note: str | None = Field(None, description="Free-text note (keywords such as 预算审批 or 比价 count).")
    rep_id: str | None = Field(None, description="The rep who logged it.")


class LeadIn(BaseModel):
    """A lead to score: its attributes and its whole activity history (empty for a brand-new lead)."""

    lead_id: str = Field(min_length=1, description="The CRM's id of the lead.")
    created_at: UtcTime = Field(description="When the lead was created (no zone means UTC).")
    source: str | None = Field(None, description="web_form, trade_show, referral, cold_call, ads, partner, ...")
    region: str | None = None
    industry: str | None = None
    company_size: str | None = Field(None, description="Employee band, e.g. 1-49, 50-199, 200-999, 1000+.")
    owner_rep_id: str | None = Field(None, description="The rep who owns the lead.")
    account_id: str | None = None
    activities: list[ActivityIn] = Field(default_factory=list, max_length=10_000)


class LeadScoreRequest(BaseModel):
    """Up to 1,000 leads, scored as of one time."""

    leads: list[LeadIn] = Field(min_length=1, max_length=MAX_ITEMS)
    as_of: UtcTime | None = Field(None, description="Score as of this time (default: now). No zone means UTC.")
    locale: str = Field("zh-CN", pattern="^(zh-CN|en)$", description="Language of the factor names: zh-CN or en.")

    @model_validator(mode="after")
    def _nothing_after_as_of(self) -> LeadScoreRequest:
        """Events after ``as_of`` would leak the future into the score."""
        at = self.at()
        for i, lead in enumerate(self.leads):
            if lead.created_at > at:
                raise ValueError(f"leads[{i}].created_at is after as_of ({at.isoformat()})")
            for j, act in enumerate(lead.activities):
                for name in ("occurred_at", "recorded_at"):
                    when = getattr(act, name)
                    if when is not None and when > at:
                        raise ValueError(f"leads[{i}].activities[{j}].{name} is after as_of ({at.isoformat()})")
        return self

    def at(self) -> datetime:
        return self.as_of if self.as_of is not None else datetime.now(UTC)


def _lead_rows(leads: list[LeadIn]) -> pd.DataFrame:
    fields = ("lead_id", "created_at", "source", "region", "industry", "company_size", "owner_rep_id", "account_id")
    return conform("leads", pd.DataFrame([{f: getattr(lead, f) for f in fields} for lead in leads]))


def _activity_rows(leads: list[LeadIn]) -> pd.DataFrame:
    rows = [
        {
            "activity_id": f"{lead.lead_id}#{j}",
            "entity_type": "lead",
            "entity_id": lead.lead_id,
            **act.model_dump(),
            "recorded_at": act.recorded_at or act.occurred_at,
        }
        for lead in leads
        for j, act in enumerate(lead.activities)
    ]
    columns = ["activity_id", "entity_type", "entity_id", *ActivityIn.model_fields]
    return conform("activities", pd.DataFrame(rows, columns=columns))


def lead_request_dataset(context: Dataset, request: LeadScoreRequest) -> tuple[Dataset, pd.DataFrame]:
    """The context with the request's leads in place of its own rows for them, and the (lead, as_of) frame."""
    ids = [lead.lead_id for lead in request.leads]
    leads, acts = context.get("leads"), context.get("activities")
    theirs = acts["entity_type"].eq("lead") & acts["entity_id"].isin(ids)
    tables = {
        **context.tables,
        "leads": pd.concat([leads[~leads["lead_id"].isin(ids)], _lead_rows(request.leads)], ignore_index=True),
        "activities": pd.concat([acts[~theirs], _activity_rows(request.leads)], ignore_index=True),
    }
    at = pd.Timestamp(request.at())
    frame = pd.DataFrame({"entity_id": ids, "cutoff_time": pd.Series([at] * len(ids), dtype=leads["created_at"].dtype)})
    return replace(context, tables=tables), frame
