"""Factor naming: the key factors explanations speak of, in the locale's words.

A factor is the features that express one business driver (a catalog concept, or all windows of one activity
subject), summed in explanations; the names here are what a reader sees for it and for an input's value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from features.messages import compose, pair
from features.pit.catalog import ACTIVITY_SUBJECTS, Feature


def many_values_names(zh: str, en: str, distinct: int | None) -> tuple[str, str]:
    """An id-like input's display names (zh, en) with how many values it takes (unknown: "many"): its value alone,
    one id among hundreds, does not say that."""
    if distinct is None:
        return compose("value.many", name=(zh, en))
    count = str(distinct)
    return compose("value.distinct", name=(zh, en), distinct=(count, count))


def concept_names(concept: str) -> tuple[str, str]:
    """Display names (zh, en) of a concept: a key deal factor explanations speak of."""
    return pair(f"concept.{concept}")


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
        return Factor(feature.concept, *concept_names(feature.concept))
    match = _ACTIVITY_FEATURE.match(feature.name)
    if match and match["subject"] in ACTIVITY_SUBJECTS:
        zh, en = ACTIVITY_SUBJECTS[match["subject"]]
        return Factor(f"act_{match['subject']}", zh, en.capitalize())
    return Factor(feature.name, feature.zh, feature.en)
