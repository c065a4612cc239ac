"""``/v1/checks``: new or changed leads, accounts and deals to check against the history, and the findings."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field, model_validator

from features.crm.checks import DEFAULT_SIMILARITY
from serving.schemas.common import MAX_ITEMS, Id, Number, Strict, Text, UtcTime, at_or_now, documented, example

CHECKS_EXAMPLE: dict[str, Any] = example("checks")


class LeadRecord(Strict):
    """A new or changed lead: what the duplicate check compares."""

    lead_id: Id = Field(description="The lead's id in the CRM.")
    created_at: UtcTime = Field(description="When the lead was entered (no zone means UTC).")
    company_name: Text | None = Field(None, description="The company as typed (any suffix, width or case).")
    phone: Text | None = Field(None, description="Contact phone as typed (+86, 0086, spaces and dashes are fine).")
    owner_rep_id: Text | None = Field(None, description="The rep who owns the lead.")
    account_id: Text | None = Field(None, description="The account the lead is linked to, if any.")


class AccountRecord(Strict):
    """A new or changed account (customer company)."""

    account_id: Id = Field(description="The account's id in the CRM.")
    name: Text | None = Field(None, description="The company name as typed.")
    phone: Text | None = Field(None, description="The company's phone as typed.")
    region: Text | None = Field(None, description="Region code, e.g. east.")
    created_at: UtcTime | None = Field(None, description="When the account was entered (default: known).")


class OpportunityRecord(Strict):
    """A new or changed deal: its amount against the rep's recent deals, its discount against the rep's authority."""

    opportunity_id: Id = Field(description="The deal's id in the CRM.")
    created_at: UtcTime = Field(description="When the deal was created (no zone means UTC).")
    owner_rep_id: Text | None = Field(None, description="The rep who owns the deal.")
    amount: Number | None = Field(None, ge=0, description="Deal amount.")
    discount: Number | None = Field(None, ge=0, le=1, description="Discount on the list price, 0-1 (0.12 = 12%).")
    account_id: Text | None = Field(None, description="The deal's account.")
    lead_id: Text | None = Field(None, description="The lead the deal came from.")


class ChecksRequest(Strict):
    """Up to 1,000 leads, 1,000 accounts and 1,000 deals (at least one record), checked as of one time."""

    model_config = documented("checks")
    lists: ClassVar[dict[str, tuple[str, str]]] = {
        "leads": ("leads", "lead_id"),
        "accounts": ("accounts", "account_id"),
        "opportunities": ("opportunities", "opportunity_id"),
    }

    as_of: UtcTime | None = Field(None, description="Check as of this time (default: now). No zone means UTC.")
    similarity: float = Field(
        DEFAULT_SIMILARITY,
        ge=0.01,
        le=1,
        description="Company-name similarity (0-1) at which a phone match is flagged.",
    )
    leads: list[LeadRecord] = Field(default_factory=list, max_length=MAX_ITEMS, description="New or changed leads.")
    accounts: list[AccountRecord] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="New or changed accounts."
    )
    opportunities: list[OpportunityRecord] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="New or changed deals."
    )

    def at(self) -> datetime:
        return at_or_now(self.as_of)

    @model_validator(mode="after")
    def _some_unique_and_not_after_as_of(self) -> ChecksRequest:
        """At least one record; ids unique within a list; nothing created after ``as_of`` (it is not known yet)."""
        if not (self.leads or self.accounts or self.opportunities):
            raise ValueError("send at least one lead, account or opportunity")
        at = self.at()
        for name, (_, key) in self.lists.items():
            seen: dict[str, int] = {}
            for i, item in enumerate(getattr(self, name)):
                first = seen.setdefault(getattr(item, key), i)
                if first != i:
                    raise ValueError(f"{name}[{i}].{key} repeats {name}[{first}].{key} ({getattr(item, key)!r})")
                if item.created_at is not None and item.created_at > at:
                    raise ValueError(f"{name}[{i}].created_at is after as_of ({at.isoformat()}): not known yet")
        return self


class Finding(BaseModel):
    """One flagged record (or pair): the rule, what to do, the records and the evidence."""

    rule: str = Field(description="duplicate_lead, duplicate_account, outlier_amount or discount_over_authority.")
    action: str = Field(description="review (hold for a person) or block (a quote beyond authority).")
    table: str = Field(description="leads, accounts or opportunities.")
    record_id: str = Field(description="The flagged record (of a duplicate pair, the later one).")
    other_record_id: str | None = Field(None, description="The earlier record of a duplicate pair.")
    rep_id: str | None = Field(None, description="The flagged record's owner.")
    other_rep_id: str | None = Field(None, description="The other record's owner (duplicates).")
    observed: float | None = Field(None, description="Name similarity, deal amount or discount.")
    reference: float | None = Field(
        None, description="Similarity threshold, the rep's 3-month average amount, or the rep's discount authority."
    )
    evidence: str = Field(description="The rule's evidence in words.")


class ChecksResponse(BaseModel):
    request_id: str
    as_of: datetime
    rules: dict[str, str] = Field(description="What each rule checks.")
    checked: dict[str, int] = Field(description="Records each rule looked at (history and sent records).")
    findings: list[Finding]
    notes: list[str] = Field(description="Rules skipped for lack of a column, and similar remarks.")
