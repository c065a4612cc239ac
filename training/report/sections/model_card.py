"""The model card: each champion's data window and skill, its metrics beside the baselines, calibration and grades."""

from __future__ import annotations

from features.scoring import MODELS, PRIOR
from training.report import charts
from training.report.champions import Champion
from training.report.section import Section, num
from training.report.text import report_words
from training.summary import CANDIDATE_NAMES, SHOWN, comparison_rows


def model_card(champions: dict[str, Champion | None], t: dict[str, str], zh_labels: bool) -> Section:
    """One block per model; a note for a model without a champion."""
    section = Section("model-card", t["model_card"])
    for name in MODELS:
        champion = champions.get(name)
        if champion is None:
            section.notes.append(t["no_model"].format(name=name))
            continue
        r = champion.report
        if r.get("kind") == PRIOR:
            section.notes.append(prior_note(champion, t))
            continue
        section.paragraphs.append(
            f"{name} ({t['version']} {champion.version}) · {t['window']}: {r['data_window'][0][:10]} .. "
            f"{r['data_window'][1][:10]} · {t['skill']}: {r['test']['skill']['verdict']}"
        )
        if "calibration" in r["test"]:  # older versions' reports do not have it
            section.paragraphs.append(f"{t['calibration_verdict']}: {r['test']['calibration']['verdict']}")
        if "chosen" in r:  # older versions' reports do not say
            label = r["horizon_note"] if r["horizon_days"] else "eventual outcome"
            section.paragraphs.append(f"{t['served']}: {CANDIDATE_NAMES[r['chosen']]} · {label}")
        section.tables.append(
            {
                "caption": f"{name}: {t['metrics_note']}",
                "header": [t["model"], *SHOWN],
                "rows": [
                    [(label, "")] + [(num(m.get(k, float("nan")), 3), "") for k in SHOWN]
                    for label, m in comparison_rows(r)
                ],
            }
        )
        if champion.calibration_png is not None:
            section.pictures.append(
                {
                    "title": f"{name}: {t['calibration']}",
                    "uri": charts.png_file(champion.calibration_png),
                    "css": "small",
                }
            )
        if "confusion" in r["test"]:  # older versions' reports do not have it
            section.tables.append(confusion_table(name, r["test"]["confusion"], t))
        words = t if zh_labels else report_words("en")
        section.pictures.append(
            {"title": f"{name}: {t['grades']}", "uri": charts.grade_chart(r["test"]["grades"], words)}
        )
    return section


def prior_note(champion: Champion, t: dict[str, str]) -> str:
    """What a prior champion is, how it ranks and why no ML model was trained."""
    prior = champion.report["prior"]
    method = t[f"prior_{prior['method']}"]
    return t["prior_model"].format(name=champion.name, version=champion.version, method=method, reason=prior["reason"])


def confusion_table(name: str, confusion: list[dict], t: dict[str, str]) -> dict:
    """The counts at each grade cut and what they make: how many converters a cut catches and how pure it is."""
    columns = ("tp", "fp", "fn", "tn")
    return {
        "caption": f"{name}: {t['confusion']}",
        "header": [t["cut"], *(t[c] for c in columns), t["precision"], t["recall"]],
        "rows": [
            [(row["cut"], "")]
            + [(f"{row[c]:,}", "") for c in columns]
            + [(num(row["precision"], 3), ""), (num(row["recall"], 3), "")]
            for row in confusion
        ],
    }
