"""The monitoring summary of every served model and its alerts (``monitor``), and what makes it JSON (``plain``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc_scalar
from features.insights.monitoring.drift import drift, feature_drift, numeric_drift, split_reference
from features.insights.monitoring.outcomes import SLICES, scored, with_outcomes
from features.insights.monitoring.quality import by_group, estimated, flags, grade_conversion, realised, slices
from features.insights.monitoring.thresholds import MonitorThresholds
from features.scoring.scorer import Scorer

TEST_METRICS = ("roc_auc", "pr_auc", "brier", "ece")
#: The metric behind each flag of a month or slice (``quality.flags``).
FLAG_METRIC = {"auc": "roc_auc", "ece": "ece"}


def monitor(
    ds: Dataset, records: list[dict[str, Any]], models: list[tuple[Scorer, str]], since: pd.Timestamp | None = None
) -> dict[str, Any]:
    """The summary of every model (scorer and its registry version), as of the export, and all their alerts."""
    at = to_utc_scalar(ds.manifest.exported_at)
    summaries = [model_summary(ds, records, scorer, version, at, since) for scorer, version in models]
    return {
        "as_of": at.isoformat(),
        "since": since.isoformat() if since is not None else None,
        "models": summaries,
        "alerts": [alert for summary in summaries for alert in summary["alerts"]],
    }


def model_summary(
    ds: Dataset,
    records: list[dict[str, Any]],
    scorer: Scorer,
    version: str,
    at: pd.Timestamp,
    since: pd.Timestamp | None,
) -> dict[str, Any]:
    """One model's figures and alerts (none from a part without enough rows to judge)."""
    meta = scorer.metadata
    limits = MonitorThresholds(**meta.get("monitoring", {}))
    rows = scored(records, scorer.model_name, since)
    rows = with_outcomes(ds, scorer.entity, rows, meta.get("label", "label"), meta.get("horizon_days"))
    labelled = rows["label"].notna().to_numpy()
    p = rows["probability"].to_numpy()
    whole = realised(rows["label"].to_numpy()[labelled].astype(int), p[labelled])
    trained_until = meta.get("trained_until")
    test_auc = meta.get("metrics", {}).get("roc_auc", np.nan)
    times = rows["cutoff_time"]
    summary = {
        "model": scorer.model_name,
        "entity": scorer.entity,
        "version": version,
        "trained_until": trained_until,
        "age_days": (at - to_utc_scalar(trained_until)).days if trained_until else None,
        "test": {k: meta.get("metrics", {}).get(k) for k in TEST_METRICS},
        "thresholds": limits.model_dump(),
        "predictions": int(len(rows)),
        "labelled": int(labelled.sum()),
        "warning_share": float(rows["warned"].mean()) if len(rows) else 0.0,
        "realised": whole,
        "flags": flags(rows[labelled], test_auc, limits.auc_drop, limits, one=True),
        "estimated": estimated(p[~labelled]),
        "weeks": by_group(rows, _iso_week(times)),
        "months": by_group(rows, times.dt.strftime("%Y-%m"), (test_auc, limits.auc_drop, limits)),
        "versions": by_group(rows, rows["model_version"]),
        "grades": grade_conversion(rows[labelled]),
        "slices": slices(rows, SLICES[scorer.entity], whole.get("roc_auc", np.nan), limits),
        "drift": _drift(scorer, rows, limits),
    }
    summary["alerts"] = _alerts(summary, limits)
    return summary


def _iso_week(times: pd.Series) -> pd.Series:
    iso = times.dt.isocalendar()
    return iso["year"].astype(str) + "-W" + iso["week"].astype(str).str.zfill(2)


def _drift(scorer: Scorer, rows: pd.DataFrame, limits: MonitorThresholds) -> dict[str, Any] | None:
    """Feature and score drift against the model's training reference; None for a model logged without one."""
    reference = scorer.training_reference
    if reference is None:
        return None
    current = pd.DataFrame(list(rows["inputs"]), index=rows.index)
    features = feature_drift(scorer.inputs, reference, current, limits.feature_drift)
    older, newer = split_reference(reference)
    score = drift(numeric_drift, older["probability"], newer["probability"], rows["probability"], limits.score_drift)
    return {"features": features, "score": score, "reference_rows": int(len(reference)), "rows": int(len(rows))}


def _alerts(summary: dict[str, Any], limits: MonitorThresholds) -> list[dict[str, Any]]:
    """What crossed a threshold, each with the figure and the threshold (``kind`` keys the words shown)."""
    model, alerts = summary["model"], []

    def alert(kind: str, value: float, limit: float, subject: str = "") -> None:
        alerts.append({"model": model, "kind": kind, "subject": subject, "value": value, "threshold": limit})

    for flag in summary["flags"]:
        limit = summary["test"]["roc_auc"] - limits.auc_drop if flag == "auc" else limits.max_ece
        alert(flag, summary["realised"][FLAG_METRIC[flag]], limit)
    for month in summary["months"]:
        for flag in month["flags"]:
            limit = summary["test"]["roc_auc"] - limits.auc_drop if flag == "auc" else limits.max_ece
            alert(f"month_{flag}", month["realised"][FLAG_METRIC[flag]], limit, month["key"])
    for row in summary["slices"]:
        for flag in row["flags"]:
            limit = summary["realised"]["roc_auc"] - limits.slice_auc_drop if flag == "auc" else limits.max_ece
            alert(f"slice_{flag}", row[FLAG_METRIC[flag]], limit, f"{row['slice']}={row['value']}")
    moved = summary["drift"] or {"features": [], "score": None}
    for row in moved["features"]:
        if row["drifted"]:
            alert("feature_drift", row["excess"], limits.feature_drift, row["feature"])
    if moved["score"] is not None and moved["score"]["drifted"]:
        alert("score_drift", moved["score"]["excess"], limits.score_drift)
    if summary["warning_share"] > limits.max_warning_share:
        alert("warnings", summary["warning_share"], limits.max_warning_share)
    if summary["age_days"] is not None and summary["age_days"] > limits.max_age_days:
        alert("age", summary["age_days"], limits.max_age_days)
    return alerts


def plain(value: Any) -> Any:
    """The summary as strict JSON takes it: NaN (an AUC of one class, a part without rows) as null."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value
