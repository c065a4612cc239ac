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
    """Row weights of ``resamples`` bootstrap draws of entities: how many times each row's entity was drawn (an
    entity's snapshots move together)."""
    codes, uniques = pd.factorize(groups)
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield np.bincount(rng.integers(0, len(uniques), len(uniques)), minlength=len(uniques))[codes]


def resampled_aucs(
    y: np.ndarray, scores: list[np.ndarray], groups: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    """ROC AUC of each of ``scores`` (columns) on each bootstrap draw of entities that holds both classes (rows).

    A draw weighs each row by how often its entity was drawn, and the AUC of the weighted rows is the Mann-Whitney
    statistic over the score's distinct values (ties count half), which equals ``roc_auc_score`` on the drawn rows
    repeated: the scores are ranked once, not once a draw (the sort made a training run's intervals cost seconds).
    """
    y = np.asarray(y, dtype=float)
    ranked = [np.unique(np.asarray(s, dtype=float), return_inverse=True)[1] for s in scores]
    aucs = []
    for w in entity_resamples(groups, resamples, seed):
        positive, negative = w * y, w * (1.0 - y)
        if positive.any() and negative.any():
            aucs.append([_weighted_auc(rank, positive, negative) for rank in ranked])
    return np.asarray(aucs).reshape(-1, len(scores))


def _weighted_auc(rank: np.ndarray, positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative) + half P(tie), rows weighted, ``rank`` the dense rank of each
    row's score."""
    pos, neg = np.bincount(rank, positive), np.bincount(rank, negative)
    below = np.cumsum(neg) - neg
    return float(pos @ (below + 0.5 * neg) / (pos.sum() * neg.sum()))


def auc_interval(
    y: np.ndarray, p: np.ndarray, groups: np.ndarray, *, resamples: int = 200, seed: int = 0
) -> tuple[float, float]:
    """95% interval of ROC AUC by bootstrapping entities."""
    lo, hi = np.percentile(resampled_aucs(y, [p], groups, resamples, seed)[:, 0], [2.5, 97.5])
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
