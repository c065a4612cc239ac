"""Calibration chosen on the calibration split, so that a predicted 30% converts 30% of the time."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

from features.scoring import Calibrator

EPS = 1e-4


def fit_isotonic(margin: np.ndarray, y: np.ndarray) -> Calibrator:
    iso = IsotonicRegression(out_of_bounds="clip", y_min=EPS, y_max=1 - EPS).fit(margin, y)
    return Calibrator("isotonic", x=iso.X_thresholds_.tolist(), y=iso.y_thresholds_.tolist())


def fit_sigmoid(margin: np.ndarray, y: np.ndarray) -> Calibrator:
    lr = LogisticRegression(C=1e6).fit(margin.reshape(-1, 1), y)
    return Calibrator("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))


FITTERS = {"isotonic": fit_isotonic, "sigmoid": fit_sigmoid}


def choose_calibrator(margin: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[Calibrator, dict[str, float]]:
    """Isotonic or sigmoid, whichever has the lower 5-fold log loss on the calibration split; refit on all of it."""
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    losses = {}
    for name, fit in FITTERS.items():
        fold_losses = []
        for fit_rows, eval_rows in folds.split(margin, y):
            p = np.clip(fit(margin[fit_rows], y[fit_rows])(margin[eval_rows]), EPS, 1 - EPS)
            fold_losses.append(log_loss(y[eval_rows], p, labels=[0, 1]))
        losses[name] = float(np.mean(fold_losses))
    best = min(losses, key=losses.get)
    return FITTERS[best](margin, y), losses
