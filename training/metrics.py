"""Intervals and verdicts on the evaluation metrics (``features.scoring.metrics``) of models and baselines."""

from __future__ import annotations

import numpy as np

from features.scoring.metrics import resampled_aucs


def auc_difference_interval(
    y: np.ndarray, p: np.ndarray, q: np.ndarray, groups: np.ndarray, *, resamples: int = 200, seed: int = 0
) -> tuple[float, float]:
    """95% interval of ROC AUC(p) - ROC AUC(q) on the same rows, by bootstrapping entities: paired, so the rows'
    shared difficulty cancels and two near-identical rankers get a narrow interval around their true gap."""
    aucs = resampled_aucs(y, [p, q], groups, resamples, seed)
    lo, hi = np.percentile(aucs[:, 0] - aucs[:, 1], [2.5, 97.5])
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
