"""Feature metadata: one entry for every column ``build_features`` adds.

Explanations show the display names (zh-CN, en) and group features by ``concept``: the business driver a
feature measures. The simulator plants its drivers under the same concept names, so tests can check that
explanations find them. ``feature_catalog`` is the single list of features per entity; ``build_features``
orders its output by it and fails when the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from features.crm.dataset import Manifest
from features.crm.schema import ACTIVITY_TYPES, ENTITIES
from features.pit.keywords import DEFAULT_LEXICON, Lexicon

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
_WINDOW_NAMES = {
    "total": ("累计", "to date"),
    "1d": ("近1天", "last 1 day"),
    "7d": ("近7天", "last 7 days"),
    "30d": ("近30天", "last 30 days"),
}

_TYPE_NAMES: dict[str, tuple[str, str]] = {
    "call": ("电话", "calls"),
    "visit": ("拜访", "visits"),
    "meeting": ("会议", "meetings"),
    "email": ("邮件", "e-mails"),
    "message": ("微信/钉钉消息", "messages"),
    "web_visit": ("网站访问", "web visits"),
    "download": ("资料下载", "downloads"),
    "form": ("表单提交", "form fills"),
    "demo": ("演示", "demos"),
    "quote_sent": ("报价发送", "quotes sent"),
    "poc_start": ("POC启动", "POC starts"),
    "poc_end": ("POC结束", "POC ends"),
    "contract_revision": ("合同修订", "contract revisions"),
    "document": ("文档上传", "documents"),
    "other": ("其他跟进", "other activities"),
}
#: Activity subsets counted separately: everything, each direction, each type.
ACTIVITY_SUBJECTS: dict[str, tuple[str, str]] = {
    "all": ("全部跟进", "activities"),
    "inbound": ("客户主动互动", "inbound activities"),
    "outbound": ("销售主动跟进", "outbound activities"),
    **{t: _TYPE_NAMES[t] for t in ACTIVITY_TYPES},
}
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


def count_name(subject: str, window: str) -> str:
    return f"act_{subject}_n_{window}"


def recency_name(subject: str) -> str:
    return f"act_{subject}_hours_since_last"


def note_name(category: str) -> str:
    return f"note_{category}_n"


_STATIC: dict[str, tuple[Feature, ...]] = {
    "lead": (
        Feature("source", "static", "线索来源", "Lead source", "categorical", "source", "source"),
        Feature("region", "static", "区域", "Region", "categorical", None, "region"),
        Feature("industry", "static", "行业", "Industry", "categorical", "industry_fit", "industry"),
        Feature("company_size", "static", "公司规模", "Company size", "categorical", "company_size", "company_size"),
    ),
    "opportunity": (
        Feature("product", "static", "产品", "Product", "categorical", None, "product"),
        Feature("currency", "static", "币种", "Currency", "categorical", None, "currency"),
        Feature("amount", "static", "商机金额", "Deal amount", "numeric", None, "amount"),
    ),
}


def extra_concept(name: str) -> str | None:
    """The concept an extra column measures when it is named after one (``discount`` or ``discount_pct``)."""
    return next((c for c in CONCEPTS if name == c or name.startswith(f"{c}_")), None)


EXTRA_PREFIX = "x_"  # an extra attribute's feature is named after it: x_<name>


def attribute_names(display: str) -> tuple[str, str]:
    """An extra attribute's display names (zh, en): its source's header, marked as an attribute so that it is not
    taken for a built feature of a similar name (a customer's ``age`` against the lead's "Age (days)")."""
    return f"{display}（属性）", f"{display} (attribute)"


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


def _activity_features() -> list[Feature]:
    out = []
    for subject, (zh, en) in ACTIVITY_SUBJECTS.items():
        concept = _SUBJECT_CONCEPTS.get(subject)
        for window, (wzh, wen) in _WINDOW_NAMES.items():
            name = count_name(subject, window)
            out.append(Feature(name, "activity", f"{wzh}{zh}次数", f"{en.capitalize()}, {wen}", concept=concept))
        out.append(
            Feature(
                recency_name(subject), "activity", f"距上次{zh}小时数", f"{en.capitalize()}: hours since the latest"
            )
        )
    out.append(Feature("act_trend_7d", "activity", "近7天互动趋势(对比前7天)", "Activity trend, 7 days vs prior 7"))
    return out


def _response_features(prefix: str = "", zh: str = "", en: str = "") -> list[Feature]:
    family = "lead_origin" if prefix else "response"
    return [
        Feature(
            f"{prefix}first_response_h",
            family,
            f"{zh}首次响应时长(小时)",
            f"{en}First response (hours)",
            concept="first_response_latency",
        ),
        Feature(
            f"{prefix}no_response_yet",
            family,
            f"{zh}尚未响应",
            f"{en}Not yet responded",
            concept="first_response_latency",
        ),
        Feature(
            f"{prefix}response_wait_h",
            family,
            f"{zh}响应等待时长(小时)",
            f"{en}Hours to response or waiting so far",
            concept="first_response_latency",
        ),
        Feature(
            f"{prefix}effective_interactions_7d",
            family,
            f"{zh}7天内有效互动次数",
            f"{en}Effective interactions in first 7 days",
            concept="activation_7d",
        ),
        Feature(
            f"{prefix}activated_7d", family, f"{zh}7天激活", f"{en}Activated within 7 days", concept="activation_7d"
        ),
    ]


_ENGAGEMENT = [
    Feature("act_duration_min_total", "intensity", "累计跟进时长(分钟)", "Activity minutes to date"),
    Feature("act_duration_min_7d", "intensity", "近7天跟进时长(分钟)", "Activity minutes, last 7 days"),
    Feature("act_duration_min_30d", "intensity", "近30天跟进时长(分钟)", "Activity minutes, last 30 days"),
    Feature(
        "web_dwell_min_total", "intensity", "累计网站停留(分钟)", "Website minutes to date", concept="web_engagement"
    ),
    Feature(
        "web_dwell_min_30d",
        "intensity",
        "近30天网站停留(分钟)",
        "Website minutes, last 30 days",
        concept="web_engagement",
    ),
    Feature("roles_met_n", "decision_chain", "已接触角色数", "Contact roles met", concept="decision_chain"),
    Feature("senior_roles_met_n", "decision_chain", "已接触高层角色数", "Senior roles met", concept="decision_chain"),
    Feature("cto_touches_n", "decision_chain", "CTO参与次数", "CTO touches", concept="cto_involvement"),
    Feature("poc_days", "poc", "POC时长(天)", "POC length (days)", concept="poc_length"),
    Feature("poc_running", "poc", "POC进行中", "POC running"),
]

#: Where the scoring time (not the entity) falls in its quarter: used only where a spec asks for it, since for
#: leads it is a proxy of the lead's age, the same for every lead scored at one time.
CUTOFF_CALENDAR: tuple[str, ...] = ("cutoff_month_of_quarter", "cutoff_days_to_quarter_end")

_LIFECYCLE = [
    Feature("age_days", "lifecycle", "存续天数", "Age (days)"),
    Feature("created_month", "seasonality", "创建月份", "Month created", concept="seasonality"),
    Feature(
        "created_month_of_quarter",
        "seasonality",
        "创建于季度内第几月",
        "Month of quarter created",
        concept="seasonality",
    ),
    Feature("cutoff_month_of_quarter", "seasonality", "季度内月份", "Month of quarter", concept="seasonality"),
    Feature("cutoff_days_to_quarter_end", "seasonality", "距季末天数", "Days to quarter end", concept="seasonality"),
]

_OPPORTUNITY = [
    Feature("stage_index", "stage", "当前阶段序号", "Current stage (index)"),
    Feature("stage_max_index", "stage", "曾达最高阶段序号", "Furthest stage reached (index)"),
    Feature("stage_changes_n", "stage", "阶段变更次数", "Stage changes"),
    Feature("stage_regressions_n", "stage", "阶段倒退次数", "Stage regressions"),
    Feature("days_in_stage", "stage", "当前阶段停留天数", "Days in current stage"),
    Feature("stage_dwell_ratio", "stage", "阶段停留/典型停留", "Days in stage vs typical dwell", concept="stage_dwell"),
    Feature("amount_vs_rep_median", "deal", "金额/销售历史中位数", "Amount vs rep's median deal"),
    Feature(
        "amount_vs_product_median", "deal", "金额/同产品中位数", "Amount vs product's median deal", concept="discount"
    ),
    Feature("expected_close_slip_days", "deal", "超出预计成交日天数", "Days past expected close"),
]

_HISTORY = [
    Feature("rep_deals_closed_n", "rep", "销售已结商机数", "Rep's closed deals"),
    Feature("rep_win_rate", "rep", "销售赢单率(平滑)", "Rep's win rate (smoothed)", concept="rep_skill"),
    Feature(
        "rep_lead_conversion_rate",
        "rep",
        "销售线索转化率(平滑)",
        "Rep's lead conversion rate (smoothed)",
        concept="rep_skill",
    ),
    Feature("rep_open_deals_n", "rep", "销售在手商机数", "Rep's open deals"),
    Feature("rep_open_leads_n", "rep", "销售在手线索数", "Rep's open leads"),
    Feature("rep_tenure_days", "rep", "销售司龄(天)", "Rep tenure (days)", concept="rep_skill"),
    Feature("rep_has_left", "rep", "销售已离职", "Rep has left"),
    Feature("rep_team", "rep", "销售团队", "Rep's team", "categorical"),
    Feature("rep_region", "rep", "销售区域", "Rep's region", "categorical"),
    Feature("account_deals_closed_n", "account", "客户历史已结商机数", "Account's closed deals"),
    Feature("account_deals_won_n", "account", "客户历史赢单数", "Account's won deals"),
    Feature("account_win_rate", "account", "客户历史赢单率(平滑)", "Account's win rate (smoothed)"),
    Feature("account_industry", "account", "客户行业", "Account industry", "categorical", "industry_fit"),
    Feature("account_employees", "account", "客户员工数", "Account employees", concept="company_size"),
    Feature("account_annual_revenue", "account", "客户年收入", "Account annual revenue"),
]


#: A rep's fit with a lead (leads only): its smoothed conversion on its past leads like this one.
_REP_FIT = [
    Feature(
        "rep_industry_conversion_rate",
        "rep",
        "销售在该行业的线索转化率(平滑)",
        "Rep's lead conversion in this industry (smoothed)",
        concept="rep_skill",
    ),
    Feature(
        "rep_source_conversion_rate",
        "rep",
        "销售对该来源线索的转化率(平滑)",
        "Rep's lead conversion from this source (smoothed)",
        concept="rep_skill",
    ),
]


def stage_features(manifest: Manifest) -> list[Feature]:
    """Days spent in each funnel stage so far (finished stays plus the current one)."""
    return [
        Feature(
            stage_days_name(s.name), "stage", f"{s.zh}阶段累计停留天数", f"Days in {s.en} so far", concept="stage_dwell"
        )
        for s in manifest.stages
    ]


def stage_days_name(stage: str) -> str:
    return f"stage_{stage}_days"


def note_features(lexicon: Lexicon = DEFAULT_LEXICON) -> list[Feature]:
    return [
        Feature(
            note_name(name),
            "notes",
            f"备注提及{cat.zh}次数",
            f"Notes mentioning {cat.en}",
            concept=f"note_{name}" if f"note_{name}" in CONCEPTS else None,
        )
        for name, cat in lexicon.items()
    ]


def feature_catalog(manifest: Manifest, entity: str, lexicon: Lexicon = DEFAULT_LEXICON) -> list[Feature]:
    """Every feature ``build_features`` adds for this entity and dataset, in output order."""
    out = [*static_features(manifest, entity), *_LIFECYCLE, *_activity_features(), *_response_features()]
    out += [*_ENGAGEMENT, *note_features(lexicon)]
    if entity == "opportunity":
        out += [*_OPPORTUNITY, *stage_features(manifest), *_response_features("lead_", "原线索", "Originating lead: ")]
    return out + _HISTORY + (_REP_FIT if entity == "lead" else [])
