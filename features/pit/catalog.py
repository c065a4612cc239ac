"""Feature metadata: one entry for every column ``build_features`` adds.

Explanations show the display names (zh-CN, en) and group features by ``concept``: the business driver a
feature measures. The simulator plants its drivers under the same concept names, so tests can check that
explanations find them. ``feature_catalog`` is the single list of features per entity; ``build_features``
orders its output by it and fails when the two disagree.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from features.crm.dataset import Manifest
from features.crm.schema import ACTIVITY_TYPES, ENTITIES
from features.messages import compose, pair
from features.pit.keywords import DEFAULT_LEXICON, Category, Lexicon

Kind = Literal["numeric", "categorical"]

CONCEPTS: tuple[str, ...] = (
    "first_response_latency",
    "activation_7d",
    "web_engagement",
    "source",
    "company_size",
    "industry_fit",
    "rep_skill",
    "decision_chain",
    "cto_involvement",
    "poc_length",
    "quote_revisions",
    "contract_revisions",
    "stage_dwell",
    "discount",
    "note_budget_approval",
    "note_competitor",
    "note_price_comparison",
    "seasonality",
)

#: Look-back windows (days) for activity counts; counts "to date" are named ``total``.
WINDOW_DAYS: dict[str, int] = {"1d": 1, "7d": 7, "30d": 30}
WINDOWS: tuple[str, ...] = ("total", *WINDOW_DAYS)
#: Activity subsets counted separately: everything, each direction, each type.
SUBJECTS: tuple[str, ...] = ("all", "inbound", "outbound", *ACTIVITY_TYPES)
#: Display names (zh, en) of the activity subjects.
ACTIVITY_SUBJECTS: dict[str, tuple[str, str]] = {subject: pair(f"activity.{subject}") for subject in SUBJECTS}
_SUBJECT_CONCEPTS = {
    "inbound": "web_engagement",
    "web_visit": "web_engagement",
    "download": "web_engagement",
    "form": "web_engagement",
    "quote_sent": "quote_revisions",
    "contract_revision": "contract_revisions",
}


@dataclass(frozen=True)
class Feature:
    """What a feature column is: where it comes from, what to call it, which driver it measures."""

    name: str
    family: str
    zh: str
    en: str
    kind: Kind = "numeric"
    concept: str | None = None
    source: str | None = None  # the entity-table column a static feature copies
    post_outcome: bool = False  # declared post-outcome by the source: training drops it unless a spec allows it

    def __post_init__(self) -> None:
        if self.concept is not None and self.concept not in CONCEPTS:
            raise ValueError(f"feature {self.name!r}: unknown concept {self.concept!r}")


def _named(
    name: str, family: str, kind: Kind = "numeric", concept: str | None = None, source: str | None = None
) -> Feature:
    """A built feature whose display names are the message ``feature.<name>``."""
    return Feature(name, family, *pair(f"feature.{name}"), kind, concept, source)


def count_name(subject: str, window: str) -> str:
    return f"act_{subject}_n_{window}"


def recency_name(subject: str) -> str:
    return f"act_{subject}_hours_since_last"


def note_name(category: str) -> str:
    return f"note_{category}_n"


_STATIC: dict[str, tuple[Feature, ...]] = {
    "lead": (
        _named("source", "static", "categorical", "source", "source"),
        _named("region", "static", "categorical", None, "region"),
        _named("industry", "static", "categorical", "industry_fit", "industry"),
        _named("company_size", "static", "categorical", "company_size", "company_size"),
    ),
    "opportunity": (
        _named("product", "static", "categorical", None, "product"),
        _named("currency", "static", "categorical", None, "currency"),
        _named("amount", "static", "numeric", None, "amount"),
    ),
}


def extra_concept(name: str) -> str | None:
    """The concept an extra column measures when it is named after one (``discount`` or ``discount_pct``)."""
    return next((c for c in CONCEPTS if name == c or name.startswith(f"{c}_")), None)


EXTRA_PREFIX = "x_"  # an extra attribute's feature is named after it: x_<name>


def attribute_names(display: str) -> tuple[str, str]:
    """An extra attribute's display names (zh, en): its source's header, marked as an attribute so that it is not
    taken for a built feature of a similar name (a customer's ``age`` against the lead's "Age (days)")."""
    return pair("feature.attribute", display=display)


def static_features(manifest: Manifest, entity: str) -> list[Feature]:
    """Entity attributes used as-is: canonical ones minus excluded columns, and every declared extra.

    Extras the manifest declares post-outcome stay in the catalog marked ``post_outcome`` so the training
    leakage guard can name them (and a spec can allow one for comparison). Text extras are not features
    (free text needs its own treatment); booleans become 0/1 numbers.
    """
    table = ENTITIES[entity][0]
    excluded = set(manifest.excluded_columns.get(table, []))
    extras = [
        Feature(
            f"{EXTRA_PREFIX}{extra.name}",
            "static",
            *attribute_names(extra.display or extra.name),
            "categorical" if extra.kind == "categorical" else "numeric",
            extra_concept(extra.name),
            extra.name,
            post_outcome=extra.name in excluded,
        )
        for extra in manifest.extras(table)
        if extra.kind != "text"
    ]
    return [*(f for f in _STATIC[entity] if f.source not in excluded), *extras]


@functools.cache
def _activity_features() -> tuple[Feature, ...]:
    """The activity family's features (the same for every dataset: built once, as every request asks for them)."""
    out = []
    for subject, (zh, en) in ACTIVITY_SUBJECTS.items():
        concept = _SUBJECT_CONCEPTS.get(subject)
        named = (zh, en.capitalize())
        for window in WINDOWS:
            names = compose("feature.activity_count", subject=named, window=pair(f"window.{window}"))
            out.append(Feature(count_name(subject, window), "activity", *names, concept=concept))
        out.append(Feature(recency_name(subject), "activity", *compose("feature.activity_recency", subject=named)))
    out.append(_named("act_trend_7d", "activity"))
    return tuple(out)


#: The response features; an opportunity has them for its originating lead too, prefixed ``lead_``.
_RESPONSE: tuple[tuple[str, str], ...] = (
    ("first_response_h", "first_response_latency"),
    ("no_response_yet", "first_response_latency"),
    ("response_wait_h", "first_response_latency"),
    ("effective_interactions_7d", "activation_7d"),
    ("activated_7d", "activation_7d"),
)


@functools.cache
def _response_features(prefix: str = "") -> tuple[Feature, ...]:
    family = "lead_origin" if prefix else "response"
    origin = pair("feature.lead_origin") if prefix else ("", "")
    return tuple(
        Feature(f"{prefix}{name}", family, *compose(f"feature.{name}", origin=origin), concept=concept)
        for name, concept in _RESPONSE
    )


_ENGAGEMENT = [
    _named("act_duration_min_total", "intensity"),
    _named("act_duration_min_7d", "intensity"),
    _named("act_duration_min_30d", "intensity"),
    _named("web_dwell_min_total", "intensity", concept="web_engagement"),
    _named(
        "web_dwell_min_30d",
        "intensity",
        concept="web_engagement",
    ),
    _named("roles_met_n", "decision_chain", concept="decision_chain"),
    _named("senior_roles_met_n", "decision_chain", concept="decision_chain"),
    _named("cto_touches_n", "decision_chain", concept="cto_involvement"),
    _named("poc_days", "poc", concept="poc_length"),
    _named("poc_running", "poc"),
]

#: Where the scoring time (not the entity) falls in its quarter: used only where a spec asks for it, since for
#: leads it is a proxy of the lead's age, the same for every lead scored at one time.
CUTOFF_CALENDAR: tuple[str, ...] = ("cutoff_month_of_quarter", "cutoff_days_to_quarter_end")

_LIFECYCLE = [
    _named("age_days", "lifecycle"),
    _named("created_month", "seasonality", concept="seasonality"),
    _named(
        "created_month_of_quarter",
        "seasonality",
        concept="seasonality",
    ),
    _named("cutoff_month_of_quarter", "seasonality", concept="seasonality"),
    _named("cutoff_days_to_quarter_end", "seasonality", concept="seasonality"),
]

_OPPORTUNITY = [
    _named("stage_index", "stage"),
    _named("stage_max_index", "stage"),
    _named("stage_changes_n", "stage"),
    _named("stage_regressions_n", "stage"),
    _named("days_in_stage", "stage"),
    _named("stage_dwell_ratio", "stage", concept="stage_dwell"),
    _named("amount_vs_rep_median", "deal"),
    _named("amount_vs_product_median", "deal", concept="discount"),
    _named("expected_close_slip_days", "deal"),
]

_HISTORY = [
    _named("rep_deals_closed_n", "rep"),
    _named("rep_win_rate", "rep", concept="rep_skill"),
    _named(
        "rep_lead_conversion_rate",
        "rep",
        concept="rep_skill",
    ),
    _named("rep_open_deals_n", "rep"),
    _named("rep_open_leads_n", "rep"),
    _named("rep_tenure_days", "rep", concept="rep_skill"),
    _named("rep_has_left", "rep"),
    _named("rep_team", "rep", "categorical"),
    _named("rep_region", "rep", "categorical"),
    _named("account_deals_closed_n", "account"),
    _named("account_deals_won_n", "account"),
    _named("account_win_rate", "account"),
    _named("account_industry", "account", "categorical", "industry_fit"),
    _named("account_employees", "account", concept="company_size"),
    _named("account_annual_revenue", "account"),
]


#: A rep's fit with a lead (leads only): its smoothed conversion on its past leads like this one.
_REP_FIT = [
    _named(
        "rep_industry_conversion_rate",
        "rep",
        concept="rep_skill",
    ),
    _named(
        "rep_source_conversion_rate",
        "rep",
        concept="rep_skill",
    ),
]


def stage_features(manifest: Manifest) -> list[Feature]:
    """Days spent in each funnel stage so far (finished stays plus the current one)."""
    return [
        Feature(
            stage_days_name(s.name),
            "stage",
            *compose("feature.stage_days", stage=(s.zh, s.en)),
            concept="stage_dwell",
        )
        for s in manifest.stages
    ]


def stage_days_name(stage: str) -> str:
    return f"stage_{stage}_days"


def note_features(lexicon: Lexicon = DEFAULT_LEXICON) -> list[Feature]:
    return list(_note_features(tuple(lexicon.items())))


@functools.lru_cache(maxsize=32)
def _note_features(categories: tuple[tuple[str, Category], ...]) -> tuple[Feature, ...]:
    """Composed once per lexicon: composing the display names costs more than a request's notes family."""
    return tuple(
        Feature(
            note_name(name),
            "notes",
            *compose("feature.note_mentions", category=(cat.zh, cat.en)),
            concept=f"note_{name}" if f"note_{name}" in CONCEPTS else None,
        )
        for name, cat in categories
    )


def feature_catalog(manifest: Manifest, entity: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[Feature]:
    """Every feature ``build_features`` adds for this entity and dataset, in output order."""
    out = [*static_features(manifest, entity), *_LIFECYCLE, *_activity_features(), *_response_features()]
    out += [*_ENGAGEMENT, *note_features(lexicon)]
    if entity == "opportunity":
        out += [*_OPPORTUNITY, *stage_features(manifest), *_response_features("lead_")]
    return out + _HISTORY + (_REP_FIT if entity == "lead" else [])
