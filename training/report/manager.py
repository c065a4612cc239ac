"""``salesml report``: one self-contained HTML page for sales managers (zh-CN or en), pictures embedded.

Sections (``training.report.sections``): the champion models' card (data window, metrics beside the baselines,
calibration, grades), the key deal factors in plain words with SHAP pictures, each rep's process health on the field's
three hard metrics (``features.insights.health.rep_health``), the forecast fan chart and target board, what moved
the forecast since a week before (``features.insights.drivers``), the open deals whose win probability fell most with
their weekly history (``features.insights.trend``), and the note-keyword heat maps (open deals x categories, teams x
categories). Everything is computed as of ``--as-of`` (default: the export) with the champions in the MLflow
registry, through the code the service and the notebooks use.

The latest report per locale is also kept where the service finds it (``features.config.latest_report``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from features.config import latest_report
from features.crm.dataset import Dataset, as_of_time, read_dataset
from features.messages import Locale, locale_of
from features.outputs import output_file
from features.pit.build import build_features
from features.pit.frames import dataset_as_of, scoring_frame
from features.progress import tracked
from features.scoring import MODELS
from training.fonts import cjk_font, quiet_drawing
from training.report.champions import load_champion
from training.report.section import Section
from training.report.sections.drivers import drivers_section
from training.report.sections.factors import deal_factors
from training.report.sections.forecast import forecast_section
from training.report.sections.health import rep_health_section
from training.report.sections.keywords import keyword_section
from training.report.sections.model_card import model_card
from training.report.sections.trend import trend_section
from training.report.sections.values import value_section
from training.report.text import report_words

TEMPLATES = Path(__file__).parent / "templates"


def render(sections: list[Section], locale: Locale, at: pd.Timestamp, data: Path, notes: list[str]) -> str:
    """The page: inline CSS, pictures as data URIs, no external URL."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]))
    return env.get_template("manager_report.html").render(
        t=report_words(locale),
        lang=locale,
        sections=sections,
        as_of=f"{at:%Y-%m-%d %H:%M} UTC",
        dataset=data.name,
        notes=notes,
    )


def build_report(data: Path, locale: str = "zh-CN", as_of: str | None = None, progress: bool = False) -> str:
    """The report's HTML for a dataset as of a time (default: the export) with the registry's champions."""
    language = locale_of(locale)
    t = report_words(language)
    ds = read_dataset(data)
    at = as_of_time(ds, as_of)
    font = cjk_font()
    zh = locale == "zh-CN"
    zh_labels = zh and font is not None
    notes = [t["no_cjk"]] if zh and font is None else []
    with tempfile.TemporaryDirectory() as tmp, quiet_drawing(font):
        sections = _sections(ds, at, t, zh, zh_labels, Path(tmp), progress)
    return render(sections, language, at, data, notes)


def _sections(
    ds: Dataset, at: pd.Timestamp, t: dict[str, str], zh: bool, zh_labels: bool, folder: Path, progress: bool
) -> list[Section]:
    """Every section in page order, one step of the progress bar each (and one each for the champions and the
    open deals' features, which several sections read)."""
    state: dict[str, Any] = {}
    locale: Locale = "zh-CN" if zh else "en"
    sections: list[Section] = []

    def champions() -> None:
        state["champions"] = {name: load_champion(name, folder) for name in MODELS}

    def open_deals() -> None:
        champion = state["champions"]["close_probability"]
        frame = scoring_frame(ds, "opportunity", at)
        state["deals"] = build_features(ds, "opportunity", frame) if len(frame) else None
        state["x"] = champion.scorer.encode(state["deals"])[0] if champion and state["deals"] is not None else None

    as_known = ds if at == ds.manifest.exported_at else dataset_as_of(ds, at)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("models", champions),
        ("open deals", open_deals),
        ("model card", lambda: sections.append(model_card(state["champions"], t, zh_labels))),
        (
            "deal factors",
            lambda: sections.append(
                deal_factors(state["champions"]["close_probability"], state["x"], t, zh, zh_labels)
            ),
        ),
        ("values", lambda: sections.append(value_section(state["champions"], as_known, t, locale))),
        ("rep health", lambda: sections.append(rep_health_section(as_known, t, zh_labels))),
        (
            "forecast",
            lambda: sections.append(forecast_section(ds, state["champions"]["close_probability"], at, t, folder)),
        ),
        (
            "forecast drivers",
            lambda: sections.append(drivers_section(ds, state["champions"]["close_probability"], at, t)),
        ),
        (
            "trend",
            lambda: sections.append(
                trend_section(ds, state["champions"]["close_probability"], state["deals"], at, t, locale)
            ),
        ),
        ("keywords", lambda: sections.append(keyword_section(as_known, state["deals"], t, zh_labels))),
    ]
    for _, step in tracked(steps, "report", progress, name=lambda named: named[0]):
        step()
    return sections


def write_report(
    data: Path, out: Path, locale: str = "zh-CN", as_of: str | None = None, progress: bool = False
) -> Path:
    """Writes the report to ``out`` and keeps a copy as the latest report of its locale for the service."""
    html = build_report(data, locale, as_of, progress)
    output_file(out).write_text(html, encoding="utf-8")
    latest = latest_report(locale)
    latest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out, latest)
    return out
