"""Realised quality of predictions whose labels arrived, and estimated quality of those whose labels have not.

The estimate follows NannyML's confidence-based performance estimation (CBPE): if the probabilities are calibrated,
an unlabelled prediction ``p`` is a positive with weight ``p`` and a negative with weight ``1 - p``, and the metrics of
those weighted rows are the metrics' expected values (exact for Brier, close for ROC and PR AUC on many rows). It
needs calibration to hold on the live rows: the realised ECE checks that once labels arrive.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from features.insights.monitoring.thresholds import MonitorThresholds
from features.scoring.metrics import auc_interval, binary_metrics, calibration_noise

GRADES = ("A", "B", "C")
#: The chance level an ECE of one of many parts (months, slices) must pass: a few of many pass the 95th by chance.
MANY_PERCENTILE = 99.5
REALISED = ("roc_auc", "pr_auc", "brier", "ece", "positive_rate", "n")


def realised(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The metrics reported beside the test metrics, on labelled rows (NaN AUCs with one class)."""
    if not len(y):
        return {"n": 0}
    figures = binary_metrics(y, p)
    return {k: figures[k] for k in REALISED}


def estimated(p: np.ndarray) -> dict[str, float]:
    """Expected metrics of calibrated probabilities ``p`` without labels (CBPE)."""
    if not len(p):
        return {"n": 0}
    y = np.r_[np.ones(len(p)), np.zeros(len(p))]
    scores, weights = np.r_[p, p], np.r_[p, 1 - p]
    return {
        "roc_auc": float(roc_auc_score(y, scores, sample_weight=weights)),
        "pr_auc": float(average_precision_score(y, scores, sample_weight=weights)),
        "brier": float(brier_score_loss(y, scores, sample_weight=weights)),
        "expected_positives": float(p.sum()),
        "positive_rate": float(p.mean()),
        "n": int(len(p)),
    }


def grade_conversion(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per grade, labelled predictions, their realised positive rate and mean predicted probability."""
    out = []
    for grade in GRADES:
        part = rows[rows["grade"].eq(grade)]
        out.append(
            {
                "grade": grade,
                "n": int(len(part)),
                "positive_rate": float(part["label"].mean()) if len(part) else None,
                "mean_probability": float(part["probability"].mean()) if len(part) else None,
            }
        )
    return out


def flags(part: pd.DataFrame, reference_auc: float, drop: float, limits: MonitorThresholds, one: bool) -> list[str]:
    """What is wrong with a part's labelled rows beyond noise. ``auc``: its ROC AUC is more than ``drop`` under
    ``reference_auc`` and its 95% interval (entities bootstrapped) lies under ``reference_auc``; for one of many
    parts (``one`` False: a month, a slice) the whole interval must lie more than ``drop`` under, as a few of many
    parts of a few hundred leads each fall 0.05 by chance alone. ``ece``: its ECE is over ``max_ece`` and over what a
    calibrated model shows by chance on these rows (95th percentile; 99.5th for one of many parts). Nothing under
    ``min_rows``."""
    if len(part) < limits.min_rows:
        return []
    y, p, ids = part["label"].to_numpy(dtype=int), part["probability"].to_numpy(), part["entity_id"].to_numpy()
    figures, out = realised(y, p), []
    line = reference_auc - drop
    if figures["roc_auc"] < line and auc_interval(y, p, ids)[1] < (reference_auc if one else line):
        out.append("auc")
    if figures["ece"] > limits.max_ece and figures["ece"] > calibration_noise(p, ids, 95 if one else MANY_PERCENTILE):
        out.append("ece")
    return out


Judge = tuple[float, float, MonitorThresholds]


def by_group(rows: pd.DataFrame, key: pd.Series, judge: Judge | None = None) -> list[dict[str, Any]]:
    """Per value of ``key`` (a period, a model version): realised figures and grade conversion of its labelled rows
    and the estimate of its unlabelled ones, apart; with ``judge`` (reference AUC, drop, thresholds) its ``flags``."""
    out = []
    for value, part in rows.groupby(key, sort=True):
        labelled = part["label"].notna().to_numpy()
        y, p = part["label"].to_numpy()[labelled].astype(int), part["probability"].to_numpy()
        group = {
            "key": str(value),
            "realised": realised(y, p[labelled]),
            "grades": grade_conversion(part[labelled]),
            "estimated": estimated(p[~labelled]),
        }
        if judge is not None:
            group["flags"] = flags(part[labelled], *judge, one=False)
        out.append(group)
    return out


def slices(rows: pd.DataFrame, columns: tuple[str, ...], whole_auc: float, limits: MonitorThresholds) -> list[dict]:
    """Realised AUC and ECE per slice value with labelled rows, flagged (``flags``) against the whole."""
    labelled = rows[rows["label"].notna()]
    return [
        {
            "slice": column,
            "value": str(value),
            **realised(part["label"].to_numpy(dtype=int), part["probability"].to_numpy()),
            "flags": flags(part, whole_auc, limits.slice_auc_drop, limits, one=False),
        }
        for column in columns
        for value, part in labelled.groupby(column, sort=True)
    ]
