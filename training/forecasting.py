"""``salesml forecast`` and ``salesml targets`` on an export with the champion close-probability model."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: forecasts run on servers without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from features.crm.dataset import (
    as_of_time,  # noqa: E402
    read_dataset,  # noqa: E402
)
from features.insights.drivers import Drivers, forecast_drivers, since_time  # noqa: E402
from features.insights.forecast import QUANTILES, SIMS, Forecast, model_forecast  # noqa: E402
from features.scoring.pyfunc import CHAMPION  # noqa: E402
from training.registry import load_scorer  # noqa: E402

MODEL = "close_probability"
MAX_PANELS = 12  # groups drawn in the fan chart (the largest by expected revenue), after the total


def run_forecast(
    data: Path, as_of: str | None, period: str, by: str, periods: int, sims: int = SIMS, seed: int = 0
) -> tuple[Forecast, str]:
    """The forecast with the champion model, and the model version."""
    fc, _, version = forecast_with_drivers(data, as_of, period, by, periods, sims, seed)
    return fc, version


def forecast_with_drivers(
    data: Path,
    as_of: str | None,
    period: str,
    by: str,
    periods: int,
    sims: int = SIMS,
    seed: int = 0,
    *,
    explain: bool = False,
    since: str | None = None,
) -> tuple[Forecast, Drivers | None, str]:
    """``run_forecast``, with ``explain`` what moved its first period since ``since`` (default: a week before)."""
    ds = read_dataset(data)
    at = as_of_time(ds, as_of)
    start = since_time(ds, since, at) if explain else None  # before the model loads: a bad --since answers at once
    scorer, version = load_scorer(MODEL, CHAMPION)
    fc = model_forecast(ds, scorer, at, period, by, periods, sims=sims, seed=seed)
    drivers = None if start is None else forecast_drivers(ds, scorer, at, start, period, by, sims=sims, seed=seed)
    return fc, drivers, version


def totals(fc: Forecast) -> pd.DataFrame:
    """Per period, the sum over groups: expected and the quantiles of the simulated totals (not summed quantiles)."""
    summed = fc.samples.sum(axis=2)
    q = np.quantile(summed, QUANTILES, axis=0)
    expected = fc.table.groupby("period", sort=False)["expected"].sum()
    return pd.DataFrame(
        {
            "period": [w.label for w in fc.windows],
            "expected": expected.to_numpy(),
            "p10": q[0],
            "p50": q[1],
            "p90": q[2],
        }
    )


def fan_chart(fc: Forecast, path: Path) -> Path:
    """The total and each group: P10-P90 band, P50 and expected per period."""
    panels = [("total", totals(fc))]
    biggest = fc.table.groupby("group")["expected"].sum().nlargest(MAX_PANELS).index
    panels += [(str(g), fc.table[fc.table["group"] == g]) for g in biggest]
    cols = min(4, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, sharex=True)
    for ax, (name, part) in zip(axes.ravel(), panels, strict=False):
        x = np.arange(len(part))
        ax.fill_between(x, part["p10"], part["p90"], alpha=0.25, color="C0", label="P10-P90")
        ax.plot(x, part["p50"], "C0-", label="P50")
        ax.plot(x, part["expected"], "k.", label="expected")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(x, part["period"], rotation=45, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Won revenue forecast as of {fc.as_of:%Y-%m-%d} by {fc.by} (per {fc.period})", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
