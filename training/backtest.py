"""``salesml backtest``: forecasts made at past as-of dates with only what was known then, against what happened.

Rolling origin: at each period start T from ``--from`` to ``--to``, the export is cut back to what was known at T
(``features.pit.frames.dataset_as_of``), a close-probability model is trained on it alone (the spec's features,
labels,
guards and calibration; fixed LightGBM parameters with early stopping, no tuning, so no origin borrows later
data), and the period starting at T is forecast per group. Beside it, on the same cut-back export:

- **stage-weighted**: each open deal's amount times its current stage's win rate over the past year, in the
  period of its expected close date (overdue ones in the first period, missing ones after the stage's median
  time to a win), the classic CRM weighted pipeline;
- **naive**: the previous period's actual;
- **oracle** (simulated data only): the same forecast with the simulator's true deal probabilities (the limit).

Metrics per group and overall: accuracy ``1 - |F - A| / A`` (mean over cells with A > 0, floored at 0), WAPE
``sum |F - A| / sum A``, bias ``sum (F - A) / sum A`` and P10-P90 coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: backtests run on servers without a display
import matplotlib.pyplot as plt  # noqa: E402
import mlflow
import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, option_period, read_dataset, to_utc_scalar
from features.errors import DataError
from features.insights.forecast import SIMS, deal_groups, forecast, model_forecast, won_by_group
from features.insights.periods import Window, periods_from
from features.outputs import output_dir
from features.pit.frames import dataset_as_of, scoring_frame
from features.pit.timeline import DAY_NS, NAT, times
from features.progress import tracked
from features.scoring.scorer import Scorer
from features.synth.oracle import has_truth, oracle_probabilities, read_truth
from training.data import training_data
from training.registry import use_local_store
from training.spec import ModelSpec, load_spec
from training.split import SplitPlan
from training.train import fit_scorer, model_matrices
from training.tune import BASE_PARAMS

EXPERIMENT = "backtest"
#: One fixed LightGBM setting for every origin (early stopping picks the trees): tuning per origin costs minutes.
BACKTEST_PARAMS: dict[str, Any] = {
    **BASE_PARAMS,
    "seed": 0,
    "learning_rate": 0.05,
    "max_depth": 4,
    "num_leaves": 15,
    "min_child_samples": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "lambda_l2": 1.0,
}
ORIGIN_SPLIT = SplitPlan((0.55, 0.15, 0.3, 0.0))  # every labelled row up to T: train, early stopping, calibration
STAGE_RATE_DAYS = 365
METHODS = ("salesml", "stage_weighted", "naive", "oracle")
INTERVAL_METHODS = ("salesml", "oracle")


@dataclass
class BacktestResult:
    cells: pd.DataFrame  # period, group, actual, and per method its forecast (and p10/p90)
    metrics: pd.DataFrame  # method, scope (group name, "all groups" or "total"), accuracy, wape, bias, coverage
    skipped: list[str] = field(default_factory=list)  # origins that could not be forecast, with the reason
    out: Path | None = None
    run_id: str | None = None


def origins(ds: Dataset, start: str, end: str, period: str) -> list[Window]:
    """The periods starting from ``start`` up to ``end`` whose actuals are complete at the export."""
    first, last = option_period(start, end)
    exported = to_utc_scalar(ds.manifest.exported_at)
    out = []
    window = periods_from(first, period, 1)[0]
    if window.start < first:
        window = periods_from(window.end, period, 1)[0]
    while window.start <= last and window.end <= exported:
        out.append(window)
        window = periods_from(window.end, period, 1)[0]
    if not out:
        raise DataError(
            f"no whole {period} between {start} and {end} ends by the export time {exported:%Y-%m-%d}; "
            "choose earlier dates"
        )
    return out


def origin_scorer(spec: ModelSpec, ds_t: Dataset) -> Scorer:
    """A close-probability model trained only on the export as it was at the origin; its last segment keeps a row
    only once the spec's ``split.settle_days`` have passed since its cutoff, as in training (quick closes, which win
    more, would otherwise fill its last weeks)."""
    data = training_data(spec, ds_t, plan=ORIGIN_SPLIT)
    _, _, inputs, x, _ = model_matrices(spec, data, evaluated=("valid", "calib"))
    return fit_scorer(spec, data, x, inputs, BACKTEST_PARAMS)


def actuals(ds: Dataset, window: Window, by: str) -> pd.Series:
    """Won revenue per group inside the window."""
    return won_by_group(ds, by, window.start, window.end - pd.Timedelta(1))


def stage_weighted(ds_t: Dataset, window: Window, by: str) -> pd.Series:
    """The CRM's weighted pipeline for the window: amount x the current stage's win rate, placed by close date."""
    at = to_utc_scalar(ds_t.manifest.exported_at)
    deals = ds_t.get("opportunities")
    frame = scoring_frame(ds_t, "opportunity", at)
    open_deals = deals.set_index("opportunity_id").loc[frame["entity_id"].to_numpy()].reset_index()
    stage, entered = _current_stage(ds_t, open_deals["opportunity_id"], at)
    rate, days_to_win = _stage_history(ds_t, at)
    overall = rate.get("(none)", np.nan)
    p = stage.map(rate).fillna(overall).fillna(0.0).to_numpy(dtype=float)
    expected = times(open_deals, "expected_close_at")
    fallback = entered + (stage.map(days_to_win).fillna(30.0).to_numpy(dtype=float) * DAY_NS).astype(np.int64)
    close = np.where(expected == NAT, fallback, expected)
    close = np.maximum(close, at.value)  # overdue: expected now
    inside = (close >= window.start.value) & (close < window.end.value)
    amount = np.nan_to_num(open_deals["amount"].to_numpy(dtype=float), nan=0.0)
    keys = deal_groups(ds_t, open_deals, by).to_numpy(dtype=object)
    return pd.Series((amount * p)[inside]).groupby(keys[inside]).sum()


def _current_stage(ds: Dataset, ids: pd.Series, at: pd.Timestamp) -> tuple[pd.Series, np.ndarray]:
    """Each deal's latest stage by ``at`` ("(none)" without one) and when it entered it (its creation if none)."""
    changes = ds.get("stage_changes")
    changes = changes[times(changes, "changed_at") <= at.value].sort_values("changed_at")
    last = changes.groupby("opportunity_id").last()
    stage = ids.map(last["stage"]).astype("string").fillna("(none)").reset_index(drop=True)
    deals = ds.get("opportunities").set_index("opportunity_id")
    entered_at = ids.map(last["changed_at"]).fillna(ids.map(deals["created_at"]))
    return stage, times(pd.DataFrame({"t": entered_at.to_numpy()}), "t")


def _stage_history(ds: Dataset, at: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Per stage, over deals closed in the past year: the share won among deals that reached it, and the median
    days from entering it to the win. "(none)" holds the overall win rate."""
    deals = ds.get("opportunities")
    closed = times(deals, "closed_at")
    recent = (closed != NAT) & (closed <= at.value) & (closed > at.value - STAGE_RATE_DAYS * DAY_NS)
    deals = deals[recent]
    won = deals.set_index("opportunity_id")["outcome"].eq("won")
    changes = ds.get("stage_changes")
    changes = changes[changes["opportunity_id"].isin(deals["opportunity_id"])]
    reached = changes.drop_duplicates(["opportunity_id", "stage"], keep="last")
    reached = reached.assign(won=reached["opportunity_id"].map(won).fillna(False).astype(bool))
    rate = reached.groupby("stage")["won"].mean()
    rate["(none)"] = float(won.mean()) if len(won) else np.nan
    wins = reached[reached["won"]]
    close_at = wins["opportunity_id"].map(deals.set_index("opportunity_id")["closed_at"])
    days = (close_at - wins["changed_at"]).dt.total_seconds() / 86_400
    return rate, days.groupby(wins["stage"]).median()


def backtest(
    data: Path,
    start: str,
    end: str,
    *,
    period: str = "month",
    by: str = "team",
    model: str = "close_probability",
    sims: int = SIMS,
    seed: int = 0,
    out: Path | None = None,
    progress: bool = True,
    log: bool = True,
) -> BacktestResult:
    """Run the rolling-origin backtest, write ``backtest.csv``, ``metrics.csv``, ``report.md`` and
    ``backtest.png`` to ``out`` (default DATA/backtest), and log them to MLflow."""
    spec, _ = load_spec(model)
    if spec.entity != "opportunity":
        raise DataError(f"backtests forecast revenue from deals; {spec.name} scores {spec.entity}s")
    ds = read_dataset(data)
    if not ds.manifest.has_event_times:
        raise DataError(f"{data}: the dataset has no event times, so there is no past to backtest on")
    windows = origins(ds, start, end, period)
    truth = read_truth(data, ds.get("opportunities")) if has_truth(data) else None
    rows, skipped = [], []
    for window in tracked(windows, f"backtest {len(windows)} {period}s", progress):
        try:
            rows.append(_origin_cells(ds, spec, window, period, by, truth, sims, seed))
        except DataError as exc:
            skipped.append(f"{window.label}: {exc}")
    if not rows:
        raise DataError(f"no origin could be forecast: {'; '.join(skipped)}")
    cells = pd.concat(rows, ignore_index=True)
    result = BacktestResult(cells, backtest_metrics(cells), skipped)
    result.out = out or data / "backtest"
    _write(result, period, by, data)
    if log:
        result.run_id = _log(result, period, by, data, start, end)
    return result


def _origin_cells(
    ds: Dataset,
    spec: ModelSpec,
    window: Window,
    period: str,
    by: str,
    truth: pd.DataFrame | None,
    sims: int,
    seed: int,
) -> pd.DataFrame:
    at = window.start
    ds_t = dataset_as_of(ds, at)
    fc = model_forecast(ds_t, origin_scorer(spec, ds_t), at, period, by, 1, sims=sims, seed=seed)
    table = fc.table.set_index("group")
    frame = pd.DataFrame(index=pd.Index(fc.groups, name="group"))
    frame["salesml"], frame["salesml_p10"], frame["salesml_p90"] = table["expected"], table["p10"], table["p90"]
    frame["stage_weighted"] = stage_weighted(ds_t, window, by)
    previous = periods_from(at - pd.Timedelta(1), period, 1)[0]
    frame["naive"] = actuals(ds_t, previous, by)
    if truth is not None:
        ids = scoring_frame(ds_t, "opportunity", at)["entity_id"]
        oracle = forecast(
            ds_t, at, fc.windows, by, ids, oracle_probabilities(truth, ids, at, fc.windows), sims=sims, seed=seed
        ).table.set_index("group")
        frame["oracle"], frame["oracle_p10"], frame["oracle_p90"] = oracle["expected"], oracle["p10"], oracle["p90"]
    actual = actuals(ds, window, by)
    frame = frame.reindex(frame.index.union(actual.index).rename("group"))
    frame["actual"] = actual
    frame = frame.fillna({c: 0.0 for c in frame.columns if not c.endswith(("_p10", "_p90"))})
    frame.insert(0, "period", window.label)
    return frame.reset_index()


def backtest_metrics(cells: pd.DataFrame) -> pd.DataFrame:
    """Accuracy, WAPE, bias and coverage per method: each group, all group cells together, and the total."""
    totals = cells.groupby("period").sum(numeric_only=True).reset_index().assign(group="total")
    for method in INTERVAL_METHODS:  # interval of a sum is not the sum of intervals: no total coverage
        if f"{method}_p10" in totals:
            totals[[f"{method}_p10", f"{method}_p90"]] = np.nan
    scopes = [(str(g), part) for g, part in cells.groupby("group")]
    scopes += [("all groups", cells), ("total", totals)]
    rows = []
    for method in (m for m in METHODS if m in cells.columns):
        for scope, part in scopes:
            rows.append({"method": method, "scope": scope, **_scores(part, method)})
    return pd.DataFrame(rows)


def _scores(part: pd.DataFrame, method: str) -> dict[str, float]:
    f, a = part[method].to_numpy(dtype=float), part["actual"].to_numpy(dtype=float)
    total = a.sum()
    positive = a > 0
    accuracy = (
        np.clip(1 - np.abs(f[positive] - a[positive]) / a[positive], 0, None).mean() if positive.any() else np.nan
    )
    out = {
        "cells": int(len(part)),
        "accuracy": float(accuracy),
        "wape": float(np.abs(f - a).sum() / total) if total > 0 else np.nan,
        "bias": float((f - a).sum() / total) if total > 0 else np.nan,
        "coverage": np.nan,
    }
    if f"{method}_p10" in part and part[f"{method}_p10"].notna().any():
        lo, hi = part[f"{method}_p10"].to_numpy(dtype=float), part[f"{method}_p90"].to_numpy(dtype=float)
        out["coverage"] = float(((lo <= a) & (a <= hi)).mean())
    return out


def summary(metrics: pd.DataFrame) -> pd.DataFrame:
    """Method x {all groups, total}: the headline table."""
    head = metrics[metrics["scope"].isin(["all groups", "total"])]
    return head.pivot(index="method", columns="scope", values=["accuracy", "wape", "bias", "coverage"])


def _write(result: BacktestResult, period: str, by: str, data: Path) -> None:
    out = output_dir(result.out or data / "backtest")
    result.cells.to_csv(out / "backtest.csv", index=False)
    result.metrics.to_csv(out / "metrics.csv", index=False)
    _plot(result.cells, out / "backtest.png", period, by)
    (out / "report.md").write_text(render_report(result, period, by, data), encoding="utf-8")


def render_report(result: BacktestResult, period: str, by: str, data: Path) -> str:
    """The markdown report: how to read it, the headline table, per-group figures and skipped origins."""
    m = result.metrics
    lines = [
        f"# Backtest: {data.name}, {period} forecasts by {by}",
        "",
        f"{result.cells['period'].nunique()} origins ({result.cells['period'].min()} to "
        f"{result.cells['period'].max()}), {len(result.cells)} {by}-{period} cells. At each origin the export was cut "
        "back to what was known then and a model trained on it alone (rolling origin).",
        "",
        "Accuracy is 1 - |F - A| / A per cell with actual A > 0 (floored at 0), averaged; WAPE = sum |F - A| / sum A;"
        " bias = sum (F - A) / sum A (positive: over-forecast); coverage = share of cells whose actual lies within"
        " P10-P90 (80% is calibrated). 'all groups' scores every group cell, 'total' the sum over groups per period.",
        "",
        "| method | accuracy (groups) | WAPE (groups) | bias (groups) | P10-P90 coverage | accuracy (total) | "
        "WAPE (total) |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in (x for x in METHODS if x in set(m["method"])):
        g = m[(m["method"] == method) & (m["scope"] == "all groups")].iloc[0]
        t = m[(m["method"] == method) & (m["scope"] == "total")].iloc[0]
        lines.append(
            f"| {method} | {g.accuracy:.1%} | {g.wape:.1%} | {g.bias:+.1%} | {_pct(g.coverage)} | {t.accuracy:.1%} | "
            f"{t.wape:.1%} |"
        )
    lines += ["", "Commits: the dataset has no reps' commits, so that baseline is not shown.", ""]
    if "oracle" not in set(m["method"]):
        lines += ["No simulator truth beside this dataset: no oracle row (real data has none).", ""]
    lines += [
        f"## Per {by} (salesml)",
        "",
        "| group | cells | accuracy | WAPE | bias | coverage |",
        "|---|---|---|---|---|---|",
    ]
    for g in m[(m["method"] == "salesml") & ~m["scope"].isin(["all groups", "total"])].itertuples():
        lines.append(
            f"| {g.scope} | {g.cells} | {g.accuracy:.1%} | {g.wape:.1%} | {g.bias:+.1%} | {_pct(g.coverage)} |"
        )
    if result.skipped:
        lines += ["", "## Origins skipped", "", *(f"- {s}" for s in result.skipped)]
    lines += ["", "![actual against forecast](backtest.png)", ""]
    return "\n".join(lines)


def _pct(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.1%}"


def _plot(cells: pd.DataFrame, path: Path, period: str, by: str) -> None:
    """Total per period: actual against each method, salesml's summed P10-P90 of the cells as a band."""
    totals = cells.groupby("period").sum(numeric_only=True)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(totals))
    ax.plot(x, totals["actual"], "k-o", label="actual", linewidth=2)
    for method, style in (("salesml", "C0-"), ("oracle", "C2--"), ("stage_weighted", "C3:"), ("naive", "C7-.")):
        if method in totals:
            ax.plot(x, totals[method], style, label=method)
    ax.set_xticks(x, totals.index, rotation=45, ha="right")
    ax.set_ylabel("won revenue")
    ax.set_title(f"Backtest: total won revenue per {period} (forecasts made per {by} at each period start)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _log(result: BacktestResult, period: str, by: str, data: Path, start: str, end: str) -> str:
    experiment = use_local_store(EXPERIMENT)
    with mlflow.start_run(experiment_id=experiment, run_name=f"backtest-{data.name}-{period}-{by}") as run:
        mlflow.log_params({"data": str(data), "period": period, "by": by, "from": start, "to": end})
        for row in result.metrics[result.metrics["scope"].isin(["all groups", "total"])].itertuples():
            scope = "groups" if row.scope == "all groups" else "total"
            for name in ("accuracy", "wape", "bias", "coverage"):
                value = getattr(row, name)
                if np.isfinite(value):
                    mlflow.log_metric(f"{row.method}_{scope}_{name}", float(value))
        mlflow.log_artifacts(str(result.out))
        return run.info.run_id
