"""Process health per rep: the field's three hard metrics for each rep's latest complete week, with verdicts."""

from __future__ import annotations

from typing import Any

import pandas as pd

from features.crm.dataset import Dataset
from features.insights import health
from training.report import charts
from training.report.section import Section, num, pct
from training.report.text import report_words

VERDICT_CLASS = {"healthy": "ok", "watch": "watch", "warning": "bad", "": ""}
METRICS = ("activation", "dwell", "compliance")


def rep_health_section(ds: Dataset, t: dict[str, str], zh_labels: bool) -> Section:
    """Each rep's three hard metrics (latest complete week) with verdicts, the definitions and a chart."""
    section = Section("health", t["health"], paragraphs=[t["health_note"]])
    report = health.rep_health(ds)
    section.lists = [{"title": t[key], "items": [t[f"{key}_def"]], "kind": "definition"} for key in METRICS]
    section.notes += [f"{t['skipped']}: {note}" for note in report.notes]
    summary = report.summary
    if summary.empty:
        return section
    cohort = summary["activation_week"].iloc[0]
    week = summary["week"].iloc[0]
    section.tables.append(
        {
            "caption": f"{t['activation']}: {t['week_of']} {cohort:%Y-%m-%d}; {t['dwell']}, {t['compliance']}: "
            f"{t['week_of']} {week:%Y-%m-%d}",
            "header": [
                t["rep"],
                t["team"],
                t["new_leads"],
                t["activation"],
                t["previous"],
                t["verdict"],
                t["dwell"],
                t["swing"],
                t["verdict"],
                t["compliance"],
                t["verdict"],
            ],
            "rows": [_row(r, t) for r in summary.itertuples()],
        }
    )
    section.pictures.append(
        {"title": t["health_chart"], "uri": _chart(summary, t if zh_labels else report_words("en"))}
    )
    return section


def _row(r: Any, t: dict[str, str]) -> list[tuple[str, str]]:
    """One rep's cells: who, the three metrics with what they are measured against, and each verdict."""

    def verdict(value: str) -> tuple[str, str]:
        return (t[value] if value else "", VERDICT_CLASS[value])

    compliance = f"{pct(r.compliance)} ({num(r.actions_done, 0)}/{num(r.actions_due, 0)})"
    return [
        (f"{r.name} ({r.rep_id})" if pd.notna(r.name) else str(r.rep_id), ""),
        ("" if pd.isna(r.team) else str(r.team), ""),
        (num(r.new_leads, 0), ""),
        (pct(r.activation_rate), ""),
        (pct(r.activation_rate_before), ""),
        verdict(r.activation_verdict),
        (num(r.nc_dwell_days), ""),
        (pct(r.nc_dwell_swing), ""),
        verdict(r.dwell_verdict),
        (compliance if pd.notna(r.compliance) else "", ""),
        verdict(r.compliance_verdict),
    ]


def _chart(summary: pd.DataFrame, words: dict[str, str]) -> str:
    """The latest week's three metrics per rep against their healthy lines, labelled in ``words``."""
    panels = [
        ("activation_rate", "activation_verdict", words["activation"], health.ACTIVATION_HEALTHY),
        ("nc_dwell_days", "dwell_verdict", words["dwell"], health.DWELL_HEALTHY),
        ("compliance", "compliance_verdict", words["compliance"], health.COMPLIANCE_HEALTHY),
    ]
    return charts.health_chart(summary, panels)
