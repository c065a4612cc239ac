"""Metrics of predicted probabilities against labels: what training reports and monitoring measures live, on the same
definitions."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |observed rate - mean prediction| over equal-width probability bins."""
    y, p = np.asarray(y, float), np.clip(np.asarray(p, float), 0.0, 1.0)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    counts = np.bincount(idx, minlength=bins)
    gap = np.abs(np.bincount(idx, y, bins) - np.bincount(idx, p, bins))
    return float(gap.sum() / max(counts.sum(), 1))


def lift_top_decile(y: np.ndarray, p: np.ndarray) -> float:
    """Positive rate among the 10% highest scores over the overall positive rate."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
    base = y.mean()
    return float(y[top].mean() / base) if base > 0 else float("nan")


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Ranking, probability and business metrics of predicted probabilities ``p`` for labels ``y``."""
    y, p = np.asarray(y, int), np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    two_classes = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two_classes else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "lift_top_decile": lift_top_decile(y, p),
        "positive_rate": float(y.mean()),
        "n": int(len(y)),
    }


def entity_resamples(groups: np.ndarray, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Row indices of ``resamples`` bootstrap draws of entities (an entity's snapshots move together)."""
    codes, _ = pd.factorize(groups)
    order = np.argsort(codes, kind="stable")
    members = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield np.concatenate([members[i] for i in rng.integers(0, len(members), len(members))])


def auc_interval(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, *, resamples: int = 200, seed: int = 0
) -> tuple[float, float]:
    """95% interval of ROC AUC by bootstrapping entities."""
    aucs = [roc_auc_score(y[r], p[r]) for r in entity_resamples(groups, resamples, seed) if len(np.unique(y[r])) == 2]
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)


def calibration_noise(
    p: np.ndarray, groups: np.ndarray, percentile: float = 95, *, resamples: int = 400, seed: int = 0
) -> float:
    """The ``percentile`` of the ECE of ``p`` against labels drawn from ``p`` itself: what a perfectly calibrated
    model shows by chance on these rows, under which a measured ECE says nothing. An entity's rows (``groups``)
    share one draw, as its snapshots share one outcome."""
    codes, uniques = pd.factorize(groups)
    rng = np.random.default_rng(seed)
    draws = [expected_calibration_error(rng.random(len(uniques))[codes] < p, p) for _ in range(resamples)]
    return float(np.percentile(draws, percentile))
