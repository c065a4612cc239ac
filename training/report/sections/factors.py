"""The key deal factors: the close-probability model's largest effects on the open deals, in words and pictures."""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.evaluate import global_factors, shap_explanation
from training.report import charts
from training.report.champions import Champion
from training.report.section import Section

FACTORS_SHOWN = 12  # key factors in words and bars, the largest mean effects first


def _sentence(factor: dict[str, Any], feature: tuple[str, str], t: dict[str, str], zh: bool) -> tuple[str, str]:
    """(which list, the sentence) for one key factor, in terms of its leading feature ((zh, en) names): the
    direction that feature's value moves the odds."""
    name = feature[0] if zh else feature[1]
    if factor["direction"] == "higher raises odds":
        return "raises", t["higher_raises"].format(name=name)
    if factor["direction"] == "higher lowers odds":
        return "lowers", t["higher_lowers"].format(name=name)
    return "mixed", t["depends"].format(name=name)


def deal_factors(
    champion: Champion | None, x: pd.DataFrame | None, t: dict[str, str], zh: bool, zh_labels: bool
) -> Section:
    """The close-probability model's key factors on the open deals, in words, with a bar chart and a beeswarm
    (the test split's factors when no deal is open)."""
    section = Section("factors", t["factors"])
    if champion is None:
        section.notes.append(t["no_model"].format(name="close_probability"))
        return section
    if x is None or not len(x):
        section.notes.append(t["factors_from_test"])
        factors = champion.report["global_factors"]
    else:
        section.paragraphs.append(t["factors_note"].format(n=len(x)))
        factors = global_factors(champion.scorer, x)
    shown = factors[:FACTORS_SHOWN]
    groups: dict[str, list[str]] = {"raises": [], "lowers": [], "mixed": []}
    features = {f.name: (f.zh, f.en) for f in champion.scorer.inputs}
    for factor in shown:
        kind, words = _sentence(factor, features.get(factor["leading_feature"], (factor["zh"], factor["en"])), t, zh)
        groups[kind].append(words)
    section.lists = [{"title": t[kind], "items": items, "kind": kind} for kind, items in groups.items() if items]
    labels = [f["zh"] if zh_labels else f["en"] for f in shown]
    section.pictures.append({"title": t["factor_bars"], "uri": charts.factor_bars(shown, labels)})
    if x is not None and len(x):
        names = [f.zh if zh_labels else f.en for f in champion.scorer.inputs]
        section.pictures.append(
            {"title": t["beeswarm"], "uri": charts.beeswarm(shap_explanation(champion.scorer, x), names)}
        )
    return section
