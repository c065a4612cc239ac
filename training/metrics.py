"""Evaluation metrics reported for every model and baseline, on the same rows."""

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


def _entity_resamples(groups: np.ndarray, resamples: int, seed: int) -> Iterator[np.ndarray]:
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
    aucs = [roc_auc_score(y[r], p[r]) for r in _entity_resamples(groups, resamples, seed) if len(np.unique(y[r])) == 2]
    lo, hi = np.percentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)


def auc_difference_interval(
    y: np.ndarray, p: np.ndarray, q: np.ndarray, groups: np.ndarray, *, resamples: int = 200, seed: int = 0
) -> tuple[float, float]:
    """95% interval of ROC AUC(p) - ROC AUC(q) on the same rows, by bootstrapping entities: paired, so the rows'
    shared difficulty cancels and two near-identical rankers get a narrow interval around their true gap."""
    gaps = [
        roc_auc_score(y[r], p[r]) - roc_auc_score(y[r], q[r])
        for r in _entity_resamples(groups, resamples, seed)
        if len(np.unique(y[r])) == 2
    ]
    lo, hi = np.percentile(gaps, [2.5, 97.5])
    return float(lo), float(hi)


def skill_verdict(auc: float, interval: tuple[float, float]) -> str:
    """In words, whether the ranking beats chance: the report must not claim skill the data does not show."""
    lo, hi = interval
    if lo <= 0.5:
        return (
            f"no demonstrable skill: test ROC AUC {auc:.3f} (95% interval {lo:.3f}-{hi:.3f}) is indistinguishable"
            " from chance; do not rank by these scores"
        )
    if auc < 0.6:
        return f"weak: test ROC AUC {auc:.3f} (95% interval {lo:.3f}-{hi:.3f}) is barely better than chance"
    return f"test ROC AUC {auc:.3f} (95% interval {lo:.3f}-{hi:.3f})"
