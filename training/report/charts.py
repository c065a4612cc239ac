"""The manager report's pictures, each returned as a PNG data URI so that the page holds them."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: reports are written on servers without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shap  # noqa: E402

from training.fonts import cjk_font  # noqa: E402

DPI = 90
VERDICT_COLORS = {"healthy": "#2ca02c", "watch": "#ffbf00", "warning": "#d62728", "": "#cccccc"}
DIRECTION_COLORS = {"higher raises odds": "#2ca02c", "higher lowers odds": "#d62728"}


def png(fig: plt.Figure | None = None) -> str:
    """The figure (default: the current one) as a data URI; the figure is closed."""
    fig = fig or plt.gcf()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_file(path: Path) -> str:
    """A PNG written elsewhere (the training run's calibration plot, the fan chart) as a data URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def grade_chart(grades: list[dict[str, Any]], words: dict[str, str]) -> str:
    """Share of each grade (bars) and its conversion rate (line) on the test split, labelled in ``words``."""
    names = [g["grade"] for g in grades]
    fig, ax = plt.subplots(figsize=(4.6, 3))
    ax.bar(names, [g["share"] for g in grades], color="#9ecae1", label=words["share"])
    ax.set_ylabel(words["share"])
    right = ax.twinx()
    right.plot(names, [g["conversion_rate"] for g in grades], "o-", color="#d62728", label=words["conversion"])
    right.set_ylabel(words["conversion"])
    for axis in (ax, right):
        axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    fig.legend(loc="upper center", fontsize=8, ncols=2)
    return png(fig)


def factor_bars(shown: list[dict[str, Any]], labels: list[str]) -> str:
    """Mean |SHAP| of each factor, largest on top, green where a higher value raises the odds, red where it
    lowers them."""
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(shown) + 1))
    ax.barh(
        labels[::-1],
        [f["mean_abs_shap"] for f in shown][::-1],
        color=[DIRECTION_COLORS.get(f["direction"], "#7f7f7f") for f in shown][::-1],
    )
    ax.set_xlabel("mean |SHAP| (log-odds)")
    return png(fig)


def beeswarm(explanation: shap.Explanation, names: list[str]) -> str:
    """SHAP's beeswarm of the explained rows, the features named ``names``."""
    named = shap.Explanation(
        values=explanation.values, base_values=explanation.base_values, data=explanation.data, feature_names=names
    )
    plt.figure()
    shap.plots.beeswarm(named, max_display=12, show=False)
    plt.gcf().set_size_inches(8, 5.5)
    return png()


def health_chart(summary: pd.DataFrame, panels: list[tuple[str, str, str, float]]) -> str:
    """Per rep, the latest figure of each metric (``panels``: column, verdict column, title, healthy line) as a bar
    colored by its verdict, with the healthy line."""
    named = cjk_font() is not None  # rep names are often Chinese: without such a font, ids alone
    labels = [f"{r.name} {r.rep_id}" if named and pd.notna(r.name) else str(r.rep_id) for r in summary.itertuples()]
    fig, axes = plt.subplots(1, 3, figsize=(11, 0.2 * len(summary) + 1.2), sharey=True)
    for ax, (column, verdict, title, line) in zip(axes, panels, strict=True):
        ax.barh(labels, summary[column].fillna(0), color=[VERDICT_COLORS[v] for v in summary[verdict]])
        ax.axvline(line, color="k", linestyle="--", linewidth=1)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    axes[0].invert_yaxis()  # shared: the first rep on top
    return png(fig)


def heat_map(table: pd.DataFrame, fmt: str) -> str:
    """A heat map of a rows x categories table with each cell's value written in it."""
    fig, ax = plt.subplots(figsize=(0.9 * table.shape[1] + 2.5, 0.32 * table.shape[0] + 1.4))
    ax.imshow(table.to_numpy(dtype=float), cmap="YlOrRd", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=8)
    top = float(np.nanmax(table.to_numpy(dtype=float))) if table.size else 0
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        ax.text(
            j,
            i,
            format(value, fmt),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > 0.6 * top else "black",
        )
    return png(fig)
