"""Calibration chosen on the calibration split, so that a predicted 30% converts 30% of the time."""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from features.scoring.scorer import Calibrator

EPS = 1e-4
#: The least slope a sigmoid calibration keeps: where the calibration rows would turn the model's order around
#: (a negative slope, seen on thin exports whose few rows happen to rank backwards), the probabilities go flat at
#: the rows' rate instead, still in the model's order, so scores, grades and ranking stay the model's.
MIN_SIGMOID_SLOPE = 1e-3
#: Isotonic steps are fitted only with at least this many positives and negatives on the calibration rows:
#: with fewer they collapse the scores onto a handful of values.
MIN_ISOTONIC_CLASS = 50


def fit_isotonic(margin: np.ndarray, y: np.ndarray) -> Calibrator:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(margin, y)
    return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())


def fit_sigmoid(margin: np.ndarray, y: np.ndarray) -> Calibrator:
    """Platt's sigmoid, its slope at least ``MIN_SIGMOID_SLOPE``: a calibration maps the model's margin to a
    probability and never reverses the order the model ranks in."""
    lr = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if a >= MIN_SIGMOID_SLOPE:
        return Calibrator("sigmoid", a=a, b=b)
    return Calibrator("sigmoid", a=MIN_SIGMOID_SLOPE, b=_intercept(MIN_SIGMOID_SLOPE * margin, y))


def _intercept(shifted: np.ndarray, y: np.ndarray) -> float:
    """The intercept of the least log loss with the slope fixed: where the mean probability equals the rate."""
    rate = float(np.clip(y.mean(), EPS, 1 - EPS))
    low, high = logit(rate) - shifted.max() - 1.0, logit(rate) - shifted.min() + 1.0  # mean below / above it
    return float(brentq(lambda b: float(expit(shifted + b).mean()) - rate, low, high))


def keep_model_probability(margin: np.ndarray, y: np.ndarray) -> Calibrator:
    """No calibration: the model's own probability (a logistic model's may already be the best)."""
    return Calibrator("none")


FITTERS = {"isotonic": fit_isotonic, "sigmoid": fit_sigmoid, "none": keep_model_probability}


def allowed_calibrators(y: np.ndarray) -> tuple[str, ...]:
    """Every calibrator, but isotonic only with enough of each class."""
    enough = min(int(y.sum()), int(len(y) - y.sum())) >= MIN_ISOTONIC_CLASS
    return tuple(name for name in FITTERS if enough or name != "isotonic")


def row_losses(margin: np.ndarray, y: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """Each row's log loss under a calibrator of ``kind`` fitted on the other 4 of 5 folds."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    p = np.empty(len(y))
    for fit_rows, eval_rows in folds.split(margin, y):
        p[eval_rows] = FITTERS[kind](margin[fit_rows], y[fit_rows])(margin[eval_rows])
    return row_log_loss(y, p)


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each row's log loss, the probabilities kept ``EPS`` from 0 and 1."""
    p = np.clip(p, EPS, 1 - EPS)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def fit_calibrator(margin: np.ndarray, y: np.ndarray, kind: str, min_distinct: int = 0) -> Calibrator:
    """A calibrator of ``kind`` on these rows; sigmoid in place of isotonic steps that the rows are too few for
    (``allowed_calibrators``) or that would leave fewer than ``min_distinct`` distinct probabilities on them."""
    if kind != "isotonic":
        return FITTERS[kind](margin, y)
    if kind in allowed_calibrators(y):
        steps = fit_isotonic(margin, y)
        if len(np.unique(steps(margin))) >= min_distinct:
            return steps
    return fit_sigmoid(margin, y)


def choose_calibrator(
    margin: np.ndarray, y: np.ndarray, seed: int = 0, min_distinct: int = 0
) -> tuple[Calibrator, dict[str, np.ndarray]]:
    """Isotonic, sigmoid or none (``allowed_calibrators``), whichever has the lowest 5-fold log loss on these
    (out-of-time) rows, fitted on all of them by ``fit_calibrator``; and each kind's per-row losses."""
    losses = {name: row_losses(margin, y, name, seed) for name in allowed_calibrators(y)}
    best = min(losses, key=lambda name: losses[name].mean())
    return fit_calibrator(margin, y, best, min_distinct), losses
