"""The manager report's words in the locale, from the message files' ``report.`` section. The rules' figures the
definitions quote (thresholds, windows, due times) come from the constants the rules are computed with, so the page
says what the numbers mean."""

from __future__ import annotations

from functools import cache

from features.insights.drivers import TOP_DEALS
from features.insights.health import (
    ACTIVATION_HEALTHY,
    ACTIVATION_WARNING,
    COMPLIANCE_HEALTHY,
    DWELL_HEALTHY,
    DWELL_SWING_WARNING,
    DWELL_WARNING,
    FIRST_CONTACT_DUE,
    FOLLOW_UP_DUE,
    TRAILING_WEEKS,
)
from features.insights.targets import WARNING_SHARE
from features.messages import Locale, load
from features.pit.activity_log import MIN_EFFECTIVE_CALL_S
from features.pit.families.response import ACTIVATION_DAYS, ACTIVATION_MIN_INTERACTIONS

#: The rule figures the definitions quote, by their field names in the messages.
RULE_FIGURES: dict[str, object] = {
    "activation_days": ACTIVATION_DAYS,
    "activation_min_interactions": ACTIVATION_MIN_INTERACTIONS,
    "call_minutes": f"{MIN_EFFECTIVE_CALL_S / 60:g}",
    "activation_healthy": ACTIVATION_HEALTHY,
    "activation_warning": ACTIVATION_WARNING,
    "trailing_weeks": TRAILING_WEEKS,
    "dwell_healthy": DWELL_HEALTHY,
    "dwell_warning": DWELL_WARNING,
    "dwell_swing_warning": DWELL_SWING_WARNING,
    "first_contact_hours": f"{FIRST_CONTACT_DUE.total_seconds() / 3600:g}",
    "follow_up_days": FOLLOW_UP_DUE.days,
    "compliance_healthy": COMPLIANCE_HEALTHY,
    "warning_share": WARNING_SHARE,
    "top_deals": TOP_DEALS,
}
#: The words that quote rule figures; the others keep their fields ({name}, {n}) for the sections to fill.
DEFINITIONS = ("activation_def", "dwell_def", "compliance_def", "board_note", "drivers_def")


@cache
def report_words(locale: Locale) -> dict[str, str]:
    """The report's words in the locale by key, the definitions with the rule figures in."""
    words = load().section("report", locale)
    return {key: words[key].format(**RULE_FIGURES) if key in DEFINITIONS else words[key] for key in words}
