"""The canonical CRM schema: every importer writes it, every builder reads it.

Kept as plain data so that validation, importers, the simulator and docs share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from features.messages import pair

SCHEMA_VERSION = 1

Kind = Literal["id", "str", "category", "float", "time", "bool"]
#: Personal data a column may hold, which nothing salesml writes may show in clear (``features.crm.privacy``).
Personal = Literal["phone", "email", "name", "text"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    allowed: tuple[str, ...] | None = None  # closed vocabulary for category columns
    references: str | None = None  # "table.column" this value must exist in
    description: str = ""
    personal: Personal | None = None  # what personal data it holds, if any


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()  # unique key (empty: rows need not be unique)
    time_columns_not_before: tuple[tuple[str, str], ...] = ()  # (later, earlier) pairs checked per row
    description: str = ""
    extras_allowed: bool = False  # declared extra attribute columns may follow the canonical ones

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class Stage:
    name: str
    zh: str
    en: str


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage("lead", *pair("stage.lead")),
    Stage("needs_confirmed", *pair("stage.needs_confirmed")),
    Stage("demo", *pair("stage.demo")),
    Stage("quote", *pair("stage.quote")),
    Stage("contract", *pair("stage.contract")),
)

ACTIVITY_TYPES: tuple[str, ...] = (
    "call",
    "visit",
    "meeting",
    "email",
    "message",
    "web_visit",
    "download",
    "form",
    "demo",
    "quote_sent",
    "poc_start",
    "poc_end",
    "contract_revision",
    "document",
    "other",
)
CONTACT_ROLES: tuple[str, ...] = ("ceo", "cto", "procurement", "finance", "engineer", "other")
SENIOR_ROLES: tuple[str, ...] = ("ceo", "cto", "procurement", "finance")
DIRECTIONS: tuple[str, ...] = ("inbound", "outbound")
OUTCOMES: tuple[str, ...] = ("won", "lost")
ENTITY_TYPES: tuple[str, ...] = ("lead", "opportunity")
TARGET_LEVELS: tuple[str, ...] = ("rep", "team", "region")
EXTRA_KINDS: tuple[str, ...] = ("numeric", "categorical", "boolean", "text")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "reps",
            (
                Column("rep_id", "id", required=True),
                Column("name", "str", personal="name"),
                Column("team", "str"),
                Column("region", "str"),
                Column("hired_at", "time"),
                Column("left_at", "time"),
                Column("active", "bool", description="HR/CRM status; false marks a rep who must get no new work"),
                Column("discount_authority", "float", description="largest discount (0-1) the rep may grant"),
            ),
            key=("rep_id",),
            time_columns_not_before=(("left_at", "hired_at"),),
            description="Sales reps, their team and region; left_at is set for reps who left.",
        ),
        Table(
            "accounts",
            (
                Column("account_id", "id", required=True),
                Column("name", "str"),
                Column("industry", "str"),
                Column("employees", "float"),
                Column("annual_revenue", "float"),
                Column("region", "str"),
                Column("created_at", "time"),
                Column("phone", "str", personal="phone"),
            ),
            key=("account_id",),
            description="Customer companies.",
        ),
        Table(
            "leads",
            (
                Column("lead_id", "id", required=True),
                Column("created_at", "time", required=True),
                Column("source", "str"),
                Column("region", "str"),
                Column("industry", "str"),
                Column("company_size", "str"),
                Column("owner_rep_id", "id", references="reps.rep_id"),
                Column("account_id", "id", references="accounts.account_id"),
                Column("converted_at", "time"),
                Column("disqualified_at", "time"),
                Column("company_name", "str", description="the company as the lead typed it (duplicate checks)"),
                Column("phone", "str", description="contact phone as entered (duplicate checks)", personal="phone"),
                Column("preferred_rep_id", "id", references="reps.rep_id", description="the customer's chosen contact"),
            ),
            key=("lead_id",),
            time_columns_not_before=(("converted_at", "created_at"), ("disqualified_at", "created_at")),
            description="Leads (线索); converted_at is when the lead became an opportunity or customer.",
            extras_allowed=True,
        ),
        Table(
            "opportunities",
            (
                Column("opportunity_id", "id", required=True),
                Column("account_id", "id", references="accounts.account_id"),
                Column("lead_id", "id", references="leads.lead_id"),
                Column("owner_rep_id", "id", references="reps.rep_id"),
                Column("product", "str"),
                Column("amount", "float"),
                Column("currency", "str"),
                Column("created_at", "time", required=True),
                Column("expected_close_at", "time"),
                Column("closed_at", "time"),
                Column("outcome", "category", allowed=OUTCOMES),
                Column("discount", "float", description="discount granted on the list price (0-1)"),
            ),
            key=("opportunity_id",),
            time_columns_not_before=(("closed_at", "created_at"),),
            description="Deals (商机); outcome is won/lost once closed and empty while open.",
            extras_allowed=True,
        ),
        Table(
            "stage_changes",
            (
                Column("opportunity_id", "id", required=True, references="opportunities.opportunity_id"),
                Column("stage", "str", required=True),
                Column("changed_at", "time", required=True),
            ),
            key=("opportunity_id", "stage", "changed_at"),
            description="Each time a deal entered a funnel stage.",
        ),
        Table(
            "activities",
            (
                Column("activity_id", "id", required=True),
                Column("entity_type", "category", required=True, allowed=ENTITY_TYPES),
                Column("entity_id", "id", required=True),
                Column("rep_id", "id", references="reps.rep_id"),
                Column("occurred_at", "time", required=True),
                Column("recorded_at", "time"),
                Column("type", "str", required=True),
                Column("direction", "category", allowed=DIRECTIONS),
                Column("duration_s", "float"),
                Column("contact_role", "category", allowed=CONTACT_ROLES),
                Column("note", "str", description="free-text note or transcript", personal="text"),
                Column(
                    "next_step", "str", description="the next step recorded with the activity, if any", personal="text"
                ),
                Column("attachment", "bool", description="a document or meeting note is attached"),
            ),
            key=("activity_id",),
            time_columns_not_before=(("recorded_at", "occurred_at"),),
            description="Calls, visits, e-mails, web visits, demos, quotes... on a lead or an opportunity.",
        ),
        Table(
            "targets",
            (
                Column("period", "str", required=True),
                Column("level", "category", required=True, allowed=TARGET_LEVELS),
                Column("key", "str", required=True),
                Column("red", "float", required=True),
                Column("yellow", "float", required=True),
                Column("green", "float", required=True),
            ),
            key=("period", "level", "key"),
            description="Target board: red = warning line, yellow = base line, green = challenge line.",
        ),
    )
}

#: Tables whose rows point at a lead or an opportunity through (entity_type, entity_id).
POLYMORPHIC_REFERENCES = {"activities": {"lead": "leads", "opportunity": "opportunities"}}

#: The time each table's rows become known (used for "nothing after the export time").
EVENT_TIME = {
    "leads": "created_at",
    "opportunities": "created_at",
    "stage_changes": "changed_at",
    "activities": "occurred_at",
    "accounts": "created_at",
    "reps": "hired_at",
}

#: Tables in dependency order (referenced tables first).
TABLE_ORDER: tuple[str, ...] = (
    "reps",
    "accounts",
    "leads",
    "opportunities",
    "stage_changes",
    "activities",
    "targets",
)


@dataclass
class ExtraColumn:
    """An attribute column a source adds to a canonical table (leads or opportunities)."""

    name: str
    kind: str  # one of EXTRA_KINDS
    display: str | None = None  # the source's own header, shown in explanations

    def __post_init__(self) -> None:
        if self.kind not in EXTRA_KINDS:
            raise ValueError(f"extra column {self.name!r}: kind must be one of {EXTRA_KINDS}, got {self.kind!r}")


#: Each scored entity's table and key.
ENTITIES: dict[str, tuple[str, str]] = {
    "lead": ("leads", "lead_id"),
    "opportunity": ("opportunities", "opportunity_id"),
}
#: Columns that record an outcome: hidden from features, and what an import checks labels by.
OUTCOME_COLUMNS = {"leads": ("converted_at", "disqualified_at"), "opportunities": ("closed_at", "outcome")}
