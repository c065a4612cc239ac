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


def calibration_verdict(
    ece: float, target: float, noise: float, calib_rate: float, test_rate: float, shift: float = 0.05
) -> str:
    """In words, whether the test probabilities are calibrated, and when not, by how much and the likely why: chance
    (``noise``: what a perfectly calibrated model shows on these rows), or a base rate that moved between the
    calibration rows and the test rows by more than ``shift``."""
    if ece <= target:
        return f"calibrated: test ECE {ece:.3f}, within the {target:.2f} target"
    above = f"test ECE {ece:.3f} is {ece - target:.3f} above the {target:.2f} target"
    if ece <= noise:
        return f"{above}, within what a perfectly calibrated model shows by chance on these rows ({noise:.3f})"
    if abs(test_rate - calib_rate) > shift:
        return (
            f"{above}: the positive rate moved from {calib_rate:.1%} on the calibration rows to {test_rate:.1%} on"
            " test (the base rate shifts over time; the served model is calibrated again on every row up to the"
            " export)"
        )
    return f"{above}: the calibration fitted on the calibration rows does not carry over to the test rows"
