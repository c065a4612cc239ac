"""The falling deals section: the open deals whose win probability fell most over the last week, each with a
sparkline of its weekly history back to creation (``features.insights.trend``, the code ``salesml score`` and the
service's trend endpoints run)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset
from features.insights.trend import TREND_DAYS, history_frame, score_history, trend_labels, trend_rule, week_ago
from features.messages import Locale, text
from features.pit.frames import entity_table
from features.scoring.pyfunc import with_segments
from training.report.champions import Champion
from training.report.section import Section, pct

#: Deals listed: the ones whose probability fell most.
FALLING_DEALS = 10
#: The sparkline's levels, lowest first; every line of the table shares one scale.
BARS = "▁▂▃▄▅▆▇█"
LABEL_CLASS = {"declining": "bad", "stable": "", "improving": "ok"}


def trend_section(
    ds: Dataset,
    champion: Champion | None,
    deals: pd.DataFrame | None,
    at: pd.Timestamp,
    t: dict[str, str],
    locale: Locale,
) -> Section:
    """The ``FALLING_DEALS`` open deals (``deals``: their features as of ``at``) whose probability fell most since
    ``TREND_DAYS`` days before ``at``; what could not be computed (no champion, no open or falling deal) is said."""
    section = Section("trend", t["trend"])
    if champion is None:
        section.notes.append(t["no_model"].format(name="close_probability"))
        return section
    if deals is None:
        section.notes.append(t["trend_none"].format(days=TREND_DAYS))
        return section
    scorer = with_segments(champion.name, champion.scorer)
    now = scorer.predict(deals)["probability"].to_numpy()
    change = now - week_ago(ds, scorer, deals[["entity_id", "cutoff_time"]])
    fell = np.flatnonzero(change < 0)
    fell = fell[np.argsort(change[fell], kind="stable")][:FALLING_DEALS]
    if not len(fell):
        section.notes.append(t["trend_none"].format(days=TREND_DAYS))
        return section
    ids = deals["entity_id"].iloc[fell].tolist()
    history = score_history(ds, scorer, history_frame(ds, "opportunity", ids, at))
    lines = _sparklines(history)
    table, id_col = entity_table(ds, "opportunity")
    owners = (
        table.set_index(id_col)["owner_rep_id"].reindex(ids).tolist() if "owner_rep_id" in table else [""] * len(ids)
    )
    labels = trend_labels(now[fell], now[fell] - change[fell])
    section.paragraphs.append(t["trend_note"].format(days=TREND_DAYS, rule=trend_rule(locale)))
    section.tables.append(
        {
            "caption": t["trend"],
            "header": [
                t["deal"],
                t["rep"],
                t["p_before"].format(days=TREND_DAYS),
                t["p_now"],
                t["change"],
                t["trend_label"],
                t["history"],
            ],
            "rows": [
                [
                    (deal, ""),
                    ("" if pd.isna(owner) else str(owner), ""),
                    (pct(now[i] - change[i]), ""),
                    (pct(now[i]), ""),
                    (f"{change[i] * 100:+.1f}", ""),
                    (text(f"trend.{label}", locale), LABEL_CLASS[label]) if label else ("", ""),
                    (lines[deal], "spark"),
                ]
                for deal, owner, i, label in zip(ids, owners, fell, labels, strict=True)
            ],
        }
    )
    return section


def _sparklines(history: pd.DataFrame) -> dict[str, str]:
    """Each deal's probabilities, oldest first, as bars on the scale of all of them."""
    p = history["probability"].to_numpy()
    low, high = float(p.min()), float(p.max())
    level = np.rint((p - low) / (high - low or 1.0) * (len(BARS) - 1)).astype(int)
    bars = pd.Series([BARS[i] for i in level], index=history.index)
    return bars.groupby(history["entity_id"].to_numpy()).agg("".join).to_dict()
