"""Win rate by value: each champion's top key factors, the history's conversion or win rate per value or band."""

from __future__ import annotations

from features.crm.dataset import Dataset
from features.insights.values import MIN_CASES, MISSING, POOLED, ValueRate
from features.messages import Locale
from features.scoring import MODELS
from training.report.champions import Champion
from training.report.insights import champion_insights
from training.report.section import Section, pct

#: Key factors shown per model (``salesml insights --top`` shows more).
REPORT_TOP = 3


def value_section(champions: dict[str, Champion | None], ds: Dataset, t: dict[str, str], locale: Locale) -> Section:
    """A table per top key factor of each champion: cases, positives, rate and 90% interval per value."""
    section = Section("values", t["values"], paragraphs=[t["values_note"].format(n=MIN_CASES)])
    for name in MODELS:
        champion = champions.get(name)
        if champion is None:  # the model card says so
            continue
        insights = champion_insights(champion, ds, REPORT_TOP, locale)
        for factor in insights.factors:
            section.tables.append(
                {
                    "caption": f"{name}: {factor.factor} ({factor.feature})",
                    "header": [t["value"], t["cases"], t["positives"], t["rate"], t["interval_90"]],
                    "rows": [_row(row, t) for row in factor.rates],
                }
            )
    return section


def _row(row: ValueRate, t: dict[str, str]) -> list[tuple[str, str]]:
    value = {POOLED.format(n=MIN_CASES): t["pooled"].format(n=MIN_CASES), MISSING: t["missing_value"]}.get(
        row.value, row.value
    )
    cells = (value, f"{row.cases:,}", f"{row.positives:,}", pct(row.rate), f"{pct(row.low)} .. {pct(row.high)}")
    return [(cell, "") for cell in cells]
