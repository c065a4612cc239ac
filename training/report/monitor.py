"""``salesml monitor``'s page: the monitoring summary (``features.insights.monitoring``) as one self-contained HTML
page in the locale's words, rendered with jinja2 as the manager report is."""

from __future__ import annotations

from typing import Any

import jinja2

from features.messages import Locale, load, text
from training.report.manager import TEMPLATES


def alert_text(alert: dict[str, Any], locale: Locale) -> str:
    """One alert in the locale's words, with its figure and threshold."""
    figures = {k: alert[k] for k in ("value", "threshold", "subject")}
    return text(f"monitor.alert.{alert['kind']}", locale, **figures)


def figure(value: Any) -> str:
    """A figure to three places; a dash for none (a part without rows, an AUC of one class)."""
    missing = value is None or isinstance(value, jinja2.Undefined) or value != value
    return "-" if missing else f"{value:.3f}"


def render_monitor(summary: dict[str, Any], locale: Locale) -> str:
    """The page: inline CSS, no external URL; realised and estimated figures in separate columns."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(["html"]))
    env.filters["f3"] = figure
    return env.get_template("monitor.html").render(
        w=load().section("monitor", locale),
        lang=locale,
        s=summary,
        alerts=[alert_text(a, locale) for a in summary["alerts"]],
    )
