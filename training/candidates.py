"""The candidate models every training run weighs: tuned LightGBM, a regularised logistic regression, the
naive-Bayes frequency model and the blend of LightGBM and the logistic regression, all on the same encoded
inputs, all served through the same ``Scorer``.

LightGBM wins most exports with activity histories; on thin, leads-only exports a linear model often ranks as
well and calibrates better. The spec's default candidate is served unless another is clearly better out of time
(``choose_candidate``). Each candidate has a ``fit(inputs, x, y)`` with settings fixed from the tuning step, so
that the served model can be refit on every labelled row with the settings that were validated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import logit
from sklearn.linear_model import LogisticRegression

from features.scoring.additive import AdditiveModel, Term, as_matrix, signed_log1p
from features.scoring.blend import Blend, Model
from features.scoring.inputs import InputFeature
from training.baselines import ODOO_PSEUDO_COUNT, quantile_edges
from training.calibrate import row_log_loss

#: Inverse regularisation strengths tried for the logistic candidate (on standardised inputs), and the one used
#: unless another is clearly better on valid: with a few dozen validation positives the lowest loss is often noise.
LOGISTIC_C: tuple[float, ...] = (0.01, 0.1, 1.0)
DEFAULT_C = 0.1
#: Quantile bins of a numeric input in the naive-Bayes model.
NAIVE_BAYES_BINS = 5
#: The refit on more rows grows the trees in proportion, up to this many times the validated count.
MAX_ROUND_GROWTH = 2.0


Fit = Callable[[list[InputFeature], pd.DataFrame, np.ndarray], Model]  # (inputs, x, y) -> model


@dataclass
class Candidate:
    """A model kind with its validated settings: ``fit`` refits it on any rows with those settings."""

    name: str  # lightgbm, logistic, naive_bayes, blend
    fit_rows: Fit
    settings: dict[str, Any] = field(default_factory=dict)
    #: The last rows fitted (the very objects) and their model: a training run fits each candidate on its train
    #: rows, the blend its members on the same rows, and the logistic search the chosen strength on them already.
    last: tuple[pd.DataFrame, np.ndarray, Model] | None = field(default=None, repr=False, compare=False)

    def fit(self, inputs: list[InputFeature], x: pd.DataFrame, y: np.ndarray) -> Model:
        """The candidate fitted on ``x``, ``y``: the model fitted before when they are the same objects as last time
        (a fit is deterministic, so it would be the same model)."""
        if self.last is not None and self.last[0] is x and self.last[1] is y:
            return self.last[2]
        model = self.fit_rows(inputs, x, y)
        self.last = (x, y, model)
        return model


def grown_rounds(rounds: int, validated_rows: int, rows: int) -> int:
    """Trees for a fit on ``rows`` rows, ``rounds`` having been validated on ``validated_rows``: in proportion (more
    data supports more trees at the same learning rate), at most ``MAX_ROUND_GROWTH`` times, never fewer."""
    grown = rounds * min(max(rows / max(validated_rows, 1), 1.0), MAX_ROUND_GROWTH)
    return max(1, int(round(grown)))


def lightgbm_candidate(params: dict[str, Any], rounds: int, train_rows: int) -> Candidate:
    """Tuned LightGBM with ``rounds`` trees validated on ``train_rows`` rows: a refit on n rows grows
    ``rounds * n / train_rows`` trees (capped), as more data supports more trees at the same learning rate."""

    def fit(inputs: list[InputFeature], x: pd.DataFrame, y: np.ndarray) -> lgb.Booster:
        return lgb.train(params, lgb.Dataset(x, y), num_boost_round=grown_rounds(rounds, train_rows, len(y)))

    return Candidate("lightgbm", fit, {"rounds": rounds, "train_rows": train_rows})


def logistic_candidate(
    inputs: list[InputFeature],
    x: pd.DataFrame,
    y: np.ndarray,
    x_valid: pd.DataFrame,
    y_valid: np.ndarray,
    valid_ids: np.ndarray,
    clearly_better_se: float,
) -> Candidate:
    """A logistic regression of strength ``DEFAULT_C`` unless another's log loss on the validation rows is clearly
    lower (``choose_candidate``, the rule the candidates themselves are chosen by; ``valid_ids``: each validation
    row's entity); each fit starts where the last one ended (``WarmStart``)."""
    losses, models, warm = {}, {}, WarmStart()
    matrix = as_matrix(x)
    design, layout = logistic_design(inputs, matrix)  # one design for every strength
    strengths = {f"C={c:g}": c for c in LOGISTIC_C}
    for name, c in strengths.items():
        models[c] = _fit_design(matrix, design, layout, y, c, warm)
        losses[name] = row_log_loss(y_valid, models[c].predict(x_valid))
    chosen, _ = choose_candidate(losses, valid_ids, f"C={DEFAULT_C:g}", clearly_better_se)
    best = strengths[chosen]
    return Candidate(
        "logistic", lambda i, xs, ys: fit_logistic(i, xs, ys, best, warm), {"C": best}, (x, y, models[best])
    )


def blend_candidate(trees: Candidate, linear: Candidate) -> Candidate:
    """The two members with their own validated settings, log-odds averaged with equal weights (fixed: weights
    chosen on the same few validation rows would bring back the noise the blend is there to average out)."""

    def fit(inputs: list[InputFeature], x: pd.DataFrame, y: np.ndarray) -> Blend:
        return Blend([trees.fit(inputs, x, y), linear.fit(inputs, x, y)], [0.5, 0.5])

    return Candidate("blend", fit, {"members": [trees.name, linear.name], "weights": [0.5, 0.5]})


def naive_bayes_candidate() -> Candidate:
    return Candidate("naive_bayes", fit_naive_bayes, {"bins": NAIVE_BAYES_BINS})


@dataclass
class WarmStart:
    """The solution of the last logistic fit, where the next starts: the fits of one training run (the strengths
    in turn, the cross-fitting folds, the refit on all rows) differ in a setting or a fifth of the rows, and from
    there the solver needs about a third of the iterations (measured: 25 instead of 85 on 150,000 snapshots)."""

    coef: np.ndarray | None = None
    intercept: np.ndarray | None = None

    def apply(self, model: LogisticRegression, width: int) -> LogisticRegression:
        """``model`` set to start from the last solution, when there is one of this design's width."""
        if self.coef is not None and self.coef.shape[1] == width:
            model.set_params(warm_start=True)
            model.coef_, model.intercept_ = self.coef.copy(), self.intercept.copy()
        return model

    def keep(self, model: LogisticRegression) -> None:
        self.coef, self.intercept = model.coef_, model.intercept_


def logistic_design(inputs: list[InputFeature], matrix: np.ndarray) -> tuple[sparse.csr_array, list[tuple]]:
    """The logistic regression's sparse design of ``matrix`` and its layout (per input: kind, width, center, scale,
    lowest, highest). Every input gives each row a fixed number of cells (a level's one-hot column; a number's
    standardised value and missing indicator), so the rows are laid out directly, not sorted from coordinates."""
    n = len(matrix)
    columns, values, layout, at = [], [], [], 0
    for j, f in enumerate(inputs):
        column = matrix[:, j]
        known = ~np.isnan(column)
        if f.kind == "categorical":
            width = len(f.levels or [])
            columns.append(at + np.where(known, column, width).astype(np.int64))
            values.append(np.ones(n))
            layout.append(("levels", width + 1, 0.0, 1.0, 0.0, 0.0))
        else:
            logged = signed_log1p(np.where(known, column, 0.0))
            seen = logged[known] if known.any() else np.zeros(1)
            center, scale = float(seen.mean()), float(seen.std()) or 1.0
            columns += [np.full(n, at), np.full(n, at + 1)]
            values += [np.where(known, (logged - center) / scale, 0.0), (~known).astype(np.float64)]
            layout.append(("linear", 2, center, scale, float(seen.min()), float(seen.max())))
        at += layout[-1][1]
    if not columns:
        return sparse.csr_array((n, 0)), layout
    indptr = np.arange(0, n * len(columns) + 1, len(columns))
    design = sparse.csr_array((np.column_stack(values).ravel(), np.column_stack(columns).ravel(), indptr), (n, at))
    design.eliminate_zeros()  # a missing indicator where the value is known, a value at the mean
    return design, layout


def fit_logistic(
    inputs: list[InputFeature], x: pd.DataFrame, y: np.ndarray, c: float, warm: WarmStart | None = None
) -> AdditiveModel:
    """L2-regularised logistic regression on standardised signed-log numbers (missing: 0 plus an indicator) and
    one-hot levels (missing: a column of its own), turned into one additive term per input. The design matrix is
    sparse: one-hot levels of ids (owners, accounts) make it wide, and a dense one made the solver's products and
    the matrix itself cost most of a training run."""
    matrix = as_matrix(x)
    return _fit_design(matrix, *logistic_design(inputs, matrix), y, c, warm or WarmStart())


def _fit_design(
    matrix: np.ndarray, design: sparse.csr_array, layout: list[tuple], y: np.ndarray, c: float, warm: WarmStart
) -> AdditiveModel:
    model = warm.apply(LogisticRegression(C=c, max_iter=2000), design.shape[1]).fit(design, y)
    warm.keep(model)
    coef, at, terms = model.coef_[0], 0, []
    for kind, width, center, scale, low, high in layout:
        w = coef[at : at + width]
        at += width
        if kind == "levels":
            terms.append(Term("levels", values=w[:-1].tolist(), missing=float(w[-1])))
        else:
            terms.append(Term("linear", float(w[0]), center, scale, low, high, missing=float(w[1])))
    return AdditiveModel("logistic", float(model.intercept_[0]), terms).with_means(matrix)


def fit_naive_bayes(inputs: list[InputFeature], x: pd.DataFrame, y: np.ndarray) -> AdditiveModel:
    """Odoo's frequency naive Bayes (see ``training.baselines.OdooFrequencyBaseline``) on the model's inputs:
    per input, the log ratio of a value's share among positives and among negatives, each count plus 0.1;
    numbers in quantile bins, missing a value of its own."""
    matrix = as_matrix(x)
    won, lost = y.sum() + ODOO_PSEUDO_COUNT, (1 - y).sum() + ODOO_PSEUDO_COUNT
    terms = []
    for j, f in enumerate(inputs):
        column = matrix[:, j]
        if f.kind == "categorical":
            width, edges = len(f.levels or []), []
            codes = np.where(np.isnan(column), width, column).astype(np.int64)
        else:
            edges = quantile_edges(column, NAIVE_BAYES_BINS).tolist()
            width = len(edges) + 1
            codes = np.where(np.isnan(column), width, np.searchsorted(edges, np.nan_to_num(column), side="right"))
        pos = np.bincount(codes[y == 1], minlength=width + 1) + ODOO_PSEUDO_COUNT
        neg = np.bincount(codes[y == 0], minlength=width + 1) + ODOO_PSEUDO_COUNT
        weight = np.log(pos / pos.sum()) - np.log(neg / neg.sum())
        kind = "levels" if f.kind == "categorical" else "bins"
        terms.append(Term(kind, edges=edges, values=weight[:-1].tolist(), missing=float(weight[-1])))
    return AdditiveModel("naive_bayes", float(logit(won / (won + lost))), terms).with_means(matrix)


def choose_candidate(
    losses: dict[str, np.ndarray], entity_ids: np.ndarray, default: str, clearly_better_se: float
) -> tuple[str, dict[str, dict]]:
    """``default``, unless another candidate's calibrated log loss on the same out-of-time rows is lower by more
    than ``clearly_better_se`` standard errors (rows of one entity averaged first: its snapshots are not
    independent); among those, the lowest. A choice made on a few hundred rows is itself noisy, so a candidate
    has to earn its place over the spec's prior (the one-standard-error rule, at two). Returns the choice and,
    per candidate, its mean loss and its paired difference to the default with the standard error."""
    codes, _ = pd.factorize(entity_ids)
    per_entity = {name: np.bincount(codes, loss) / np.bincount(codes) for name, loss in losses.items()}
    base = per_entity[default]
    table = {}
    for name, loss in per_entity.items():
        diff = loss - base
        se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        table[name] = {"log_loss": float(losses[name].mean()), "vs_default": float(diff.mean()), "se": se}
    clearly = [n for n, t in table.items() if t["vs_default"] < -clearly_better_se * t["se"]]
    return min(clearly, key=lambda n: table[n]["log_loss"]) if clearly else default, table
