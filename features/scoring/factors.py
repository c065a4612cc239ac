"""Factor naming: the key factors explanations speak of, in the locale's words.

A factor is the features that express one business driver (a catalog concept, or all windows of one activity
subject), summed in explanations; the names here are what a reader sees for it and for an input's value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from features.pit.catalog import ACTIVITY_SUBJECTS, Feature

Locale = Literal["zh-CN", "en"]


def local(words: tuple[str, str], locale: Locale) -> str:
    """The locale's one of a (zh, en) pair of words."""
    return words[0] if locale == "zh-CN" else words[1]


#: How explanations print a missing value, and a value pooled with the rare ones when the value sent is unknown.
MISSING_VALUE: tuple[str, str] = ("缺失", "missing")
RARE_VALUE: tuple[str, str] = ("其他（少见值）", "other (rare value)")


def many_values_names(zh: str, en: str, distinct: int | None) -> tuple[str, str]:
    """An id-like input's display names (zh, en) with how many values it takes (unknown: "many"): its value alone,
    one id among hundreds, does not say that."""
    if distinct is None:
        return f"{zh}（取值众多）", f"{en} (one of many values)"
    return f"{zh}（共{distinct}种取值）", f"{en} (one of {distinct} values)"


#: Display names of the concepts: the key deal factors explanations speak of.
CONCEPT_NAMES: dict[str, tuple[str, str]] = {
    "first_response_latency": ("首次响应时长", "First-response time"),
    "activation_7d": ("7天内激活", "Activation within 7 days"),
    "web_engagement": ("网站与资料互动", "Web and content engagement"),
    "source": ("线索来源", "Lead source"),
    "company_size": ("公司规模", "Company size"),
    "industry_fit": ("行业匹配", "Industry fit"),
    "rep_skill": ("负责销售的业绩", "Rep's track record"),
    "decision_chain": ("决策链覆盖", "Decision-chain coverage"),
    "cto_involvement": ("CTO参与", "CTO involvement"),
    "poc_length": ("POC时长", "POC length"),
    "quote_revisions": ("报价轮次", "Quote rounds"),
    "contract_revisions": ("合同修订轮次", "Contract revision rounds"),
    "stage_dwell": ("阶段停留时长", "Time in stage"),
    "discount": ("折扣", "Discount"),
    "note_budget_approval": ("备注提及预算审批", "Notes: budget approval"),
    "note_competitor": ("备注提及竞品", "Notes: competitor"),
    "note_price_comparison": ("备注提及比价", "Notes: price comparison"),
    "seasonality": ("季节/季度末", "Seasonality and quarter end"),
}
_ACTIVITY_FEATURE = re.compile(r"^act_(?P<subject>.+?)_(?:n_(?:total|1d|7d|30d)|hours_since_last)$")


@dataclass(frozen=True)
class Factor:
    """A key factor: the features that express one business driver, summed in explanations."""

    key: str
    zh: str
    en: str


def factor_of(feature: Feature) -> Factor:
    """The factor a feature belongs to: its concept, else its activity subject (all windows), else itself."""
    if feature.concept is not None:
        return Factor(feature.concept, *CONCEPT_NAMES[feature.concept])
    match = _ACTIVITY_FEATURE.match(feature.name)
    if match and match["subject"] in ACTIVITY_SUBJECTS:
        zh, en = ACTIVITY_SUBJECTS[match["subject"]]
        return Factor(f"act_{match['subject']}", zh, en.capitalize())
    return Factor(feature.name, feature.zh, feature.en)
