"""Baselines every model is reported beside, fitted and scored on the same split.

A model earns its keep only by beating what a team could have without it:

- ``logistic``: logistic regression on the same features (what a careful analyst fits in an afternoon);
- ``odoo_naive_bayes``: the frequency-table naive Bayes of Odoo CRM's predictive lead scoring;
- ``points``: a hand-made points score like the A/B/C grading sales teams run by hand (see ``RULES``).

All three are scikit-learn classifiers: parameters only in ``__init__``, learned attributes end in ``_``,
``fit(X, y)`` takes the feature table of ``features.pit.build.build_features`` and 0/1 labels, ``predict_proba``
returns an (n, 2) array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from features.messages import pair
from features.pit.catalog import Feature
from features.scoring.additive import signed_log1p as signed_log1p_values
from training.data import TrainingData

#: Label of a missing categorical value or numeric bin: absence is informative (e.g. no response yet).
MISSING = "<missing>"
CLASSES = np.array([0, 1])


def binary_labels(y: Any) -> np.ndarray:
    """Labels as a 0/1 int array (booleans accepted); anything else is a caller's bug."""
    labels = np.asarray(y).astype(int)
    if not np.isin(labels, CLASSES).all():
        raise ValueError("baselines need binary labels (0/1 or False/True)")
    return labels


def as_floats(X: pd.DataFrame) -> np.ndarray:
    """Numeric columns as float64, missing as NaN (counts arrive as int32, flags as booleans)."""
    return X.to_numpy(dtype=np.float64, na_value=np.nan)


def as_labels(X: pd.DataFrame) -> np.ndarray:
    """Categorical columns as strings, missing as its own level ``MISSING``."""
    return X.astype("string").fillna(MISSING).to_numpy(dtype=object)


def signed_log1p(X: pd.DataFrame) -> np.ndarray:
    """``features.scoring.additive.signed_log1p`` of the columns as floats (for a scikit-learn FunctionTransformer)."""
    return signed_log1p_values(as_floats(X))


def two_columns(p_won: np.ndarray) -> np.ndarray:
    return np.column_stack([1.0 - p_won, p_won])


class _Baseline(ClassifierMixin, BaseEstimator):
    """Shared classifier plumbing: hard predictions follow the probability at 0.5."""

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return CLASSES[(self.predict_proba(X)[:, 1] >= 0.5).astype(int)]


# --- logistic regression ------------------------------------------------------------------------------------


class LogisticBaseline(_Baseline):
    """Logistic regression on the same features: the linear model a gradient-boosted one has to beat.

    Numbers get signed log1p, median imputation with missing indicators and standardisation; categoricals
    are one-hot with missing as a level and levels rarer than ``min_frequency`` rows grouped (unseen levels
    at predict time fall into that group, or into no column when there is none).
    """

    def __init__(self, features: list[Feature], C: float = 1.0, min_frequency: int | float = 20, max_iter: int = 2000):
        self.features = features
        self.C = C
        self.min_frequency = min_frequency
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> LogisticBaseline:
        self.pipeline_ = self._pipeline().fit(X, binary_labels(y))
        self.classes_ = CLASSES
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "pipeline_")
        return self.pipeline_.predict_proba(X)

    def _pipeline(self) -> Pipeline:
        numeric = [f.name for f in self.features if f.kind == "numeric"]
        categorical = [f.name for f in self.features if f.kind == "categorical"]
        numbers = make_pipeline(
            FunctionTransformer(signed_log1p),
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        levels = make_pipeline(
            FunctionTransformer(as_labels),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=self.min_frequency, sparse_output=False),
        )
        branches = [("numeric", numbers, numeric), ("categorical", levels, categorical)]
        columns = ColumnTransformer([b for b in branches if b[2]])
        model = LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter)
        return Pipeline([("columns", columns), ("model", model)])


# --- Odoo CRM predictive lead scoring -------------------------------------------------------------------------

#: Numeric families binned into the Odoo fields by default: the lead's own attributes and its response and
#: stage, like Odoo's stage, team, country, state, phone/email quality, source, language and tags.
ODOO_NUMERIC_FAMILIES: tuple[str, ...] = ("static", "response", "lifecycle", "stage")
#: Odoo seeds every (field, value) count with 0.1 so an outcome never seen with a value is not impossible.
ODOO_PSEUDO_COUNT = 0.1
#: Odoo reports probabilities between 0.01% and 99.99%.
ODOO_CLIP = 1e-4


def default_odoo_fields(features: Sequence[Feature]) -> tuple[str, ...]:
    """Every categorical feature plus the numeric ones of ``ODOO_NUMERIC_FAMILIES`` (Odoo's kind of fields)."""
    return tuple(f.name for f in features if f.kind == "categorical" or f.family in ODOO_NUMERIC_FAMILIES)


def quantile_edges(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Inner edges of up to ``n_bins`` equal-count bins of the known values (ties merge bins)."""
    known = values[~np.isnan(values)]
    if known.size == 0:
        return np.empty(0)
    return np.unique(np.quantile(known, np.arange(1, n_bins) / n_bins))


def bin_labels(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Each value's bin as a readable interval ``[lo, hi)``; NaN as ``MISSING``."""
    bounds = np.concatenate([[-np.inf], edges, [np.inf]])
    names = np.array([f"[{lo:.6g}, {hi:.6g})" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)], dtype=object)
    return np.where(np.isnan(values), MISSING, names[np.searchsorted(edges, values, side="right")])


class OdooFrequencyBaseline(_Baseline):
    """Odoo CRM's predictive lead scoring (``crm.lead._pls_get_naive_bayes_probabilities``).

    Fit counts won and lost rows per (field, value), each plus 0.1, into ``frequencies_`` (Odoo's
    ``crm.lead.scoring.frequency`` table). A row's probability is the naive-Bayes product
    ``P(won) prod P(v|won) / (P(won) prod P(v|won) + P(lost) prod P(v|lost))`` with ``P(v|won)`` = won count of
    ``v`` / won counts of its field and ``P(won)`` from all won and lost rows, also plus 0.1 each (Odoo reads it
    off the first stage's row); a value not in the table drops its field, as in Odoo.

    ``fields`` (default ``default_odoo_fields``) picks the columns; numeric ones are cut into ``n_bins``
    quantile bins learned at fit. Unlike Odoo, missing is a value (Odoo skips unset fields except phone and
    email quality, where absence is the signal, as it often is for features), and the stage is one field
    among others (Odoo also counts a won deal in every stage it passed).
    """

    def __init__(self, features: list[Feature], fields: tuple[str, ...] | None = None, n_bins: int = 5):
        self.features = features
        self.fields = fields
        self.n_bins = n_bins

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> OdooFrequencyBaseline:
        labels = binary_labels(y)
        fields = self.fields if self.fields is not None else default_odoo_fields(self.features)
        numeric = {f.name for f in self.features if f.kind == "numeric"}
        self.edges_ = {n: quantile_edges(as_floats(X[[n]])[:, 0], self.n_bins) for n in fields if n in numeric}
        won, lost = labels.sum() + ODOO_PSEUDO_COUNT, (1 - labels).sum() + ODOO_PSEUDO_COUNT
        self.prior_won_ = won / (won + lost)
        self.frequencies_ = pd.concat([self._count(n, self._values(X, n), labels) for n in fields], ignore_index=True)
        self.classes_ = CLASSES
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "frequencies_")
        evidence = np.full(len(X), logit(self.prior_won_))
        for name, table in self.frequencies_.groupby("variable", sort=False):
            weight = np.log(table.won_count / table.won_count.sum()) - np.log(table.lost_count / table.lost_count.sum())
            found = pd.Series(weight.to_numpy(), index=table.value.to_numpy())
            evidence += pd.Series(self._values(X, name)).map(found).fillna(0.0).to_numpy()
        return two_columns(np.clip(expit(evidence), ODOO_CLIP, 1.0 - ODOO_CLIP))

    def _values(self, X: pd.DataFrame, name: str) -> np.ndarray:
        if name in self.edges_:
            return bin_labels(as_floats(X[[name]])[:, 0], self.edges_[name])
        return as_labels(X[[name]])[:, 0]

    @staticmethod
    def _count(name: str, values: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
        """One field's rows of the frequency table: won and lost counts per value, each plus 0.1."""
        counts = pd.crosstab(values, labels).reindex(columns=CLASSES, fill_value=0) + ODOO_PSEUDO_COUNT
        return pd.DataFrame(
            {
                "variable": name,
                "value": counts.index,
                "won_count": counts[1].to_numpy(),
                "lost_count": counts[0].to_numpy(),
            }
        )


# --- hand-made points ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Points for one fact a sales team grades leads on by hand.

    Numeric features score ``points`` when the value lies in [``low``, ``high``), or, with ``cap``, ``points``
    per unit up to ``cap``; categorical ones score ``points`` when the value is one of ``values``. Rules of one
    ``criterion`` read the first of their features that the model has (e.g. company size from the lead's size
    band, else the account's headcount), so no fact counts twice.
    """

    criterion: str
    feature: str
    points: float
    en: str
    zh: str
    low: float = -np.inf
    high: float = np.inf
    cap: float | None = None
    values: tuple[str, ...] = ()

    def score(self, column: pd.Series) -> np.ndarray:
        if self.values:
            return np.where(column.isin(self.values).fillna(False).to_numpy(dtype=bool), self.points, 0.0)
        x = as_floats(column.to_frame())[:, 0]
        if self.cap is not None:
            return np.minimum(np.nan_to_num(np.clip(x, 0.0, None)) * self.points, self.cap)
        return np.where((x >= self.low) & (x < self.high), self.points, 0.0)


def _rule(criterion: str, feature: str, points: float, words: str, **limits: Any) -> Rule:
    """A rule described by the message ``baseline.rule.<words>``, which quotes the rule's own limits."""
    rule = Rule(criterion, feature, points, "", "", **limits)
    zh, en = pair(f"baseline.rule.{words}", low=rule.low, high=rule.high, cap=rule.cap)
    return replace(rule, en=en, zh=zh)


#: Sources a person vouched for or met in person.
WARM_SOURCES = ("referral", "partner", "trade_show")
#: The sectors the field reference's teams sell into (industrial equipment, medical devices, SaaS, education).
TARGET_INDUSTRIES = ("manufacturing", "healthcare", "software", "education")
#: The scoring inputs the field reference names (recency and frequency of interactions, website dwell time,
#: downloads, source, company size, budget, decision chain, industry fit) with response speed and activation
#: weighted after its response-time table (<1 h ~40% conversion, 1-4 h ~21%, 4-24 h ~10%, >24 h ~2%).
RULES: tuple[Rule, ...] = (
    _rule("response_speed", "first_response_h", 20, "response_within", high=1),
    _rule("response_speed", "first_response_h", 10, "response_between", low=1, high=4),
    _rule("response_speed", "first_response_h", 5, "response_between", low=4, high=24),
    _rule("activation", "activated_7d", 15, "activated_7d", low=1),
    _rule("activation", "effective_interactions_7d", 15, "interactions_7d", low=2),
    _rule("recency", "act_all_hours_since_last", 10, "recent_hours", high=24),
    _rule("recency", "act_all_hours_since_last", 5, "recent_1_3d", low=24, high=72),
    _rule("frequency", "act_all_n_30d", 2, "frequency_30d", cap=10),
    _rule("downloads", "act_download_n_total", 5, "downloads", cap=15),
    _rule("web_dwell", "web_dwell_min_total", 5, "web_dwell_between", low=5, high=30),
    _rule("web_dwell", "web_dwell_min_total", 10, "web_dwell_over", low=30),
    _rule("form_fill", "act_form_n_total", 5, "form_fill", low=1),
    _rule("source", "source", 10, "warm_source", values=WARM_SOURCES),
    _rule("company_size", "company_size", 10, "size_1000", values=("1000+",)),
    _rule("company_size", "company_size", 5, "size_200_999", values=("200-999",)),
    _rule("company_size", "account_employees", 10, "size_1000", low=1000),
    _rule("company_size", "account_employees", 5, "size_200_999", low=200, high=1000),
    _rule("industry_fit", "industry", 10, "target_industry", values=TARGET_INDUSTRIES),
    _rule("industry_fit", "account_industry", 10, "target_industry", values=TARGET_INDUSTRIES),
    _rule("senior_contact", "senior_roles_met_n", 10, "senior_contact", low=1),
    _rule("decision_chain", "roles_met_n", 5, "decision_chain", low=3),
    _rule("cto", "cto_touches_n", 5, "cto", cap=10),
    _rule("budget", "note_budget_approval_n", 10, "budget", low=1),
    _rule("price_comparison", "note_price_comparison_n", -5, "price_comparison", low=1),
    _rule("stage", "stage_index", 10, "stage", cap=40),
)


def applicable_rules(rules: Sequence[Rule], available: set[str]) -> tuple[Rule, ...]:
    """Rules on available features, each criterion read from the first of its features available."""
    chosen: dict[str, str] = {}
    for rule in rules:
        if rule.feature in available:
            chosen.setdefault(rule.criterion, rule.feature)
    return tuple(r for r in rules if chosen.get(r.criterion) == r.feature)


class PointsBaseline(_Baseline):
    """The manual A/B/C grading as a score: fixed ``rules`` add up points; nothing about them is learned.

    ``decision_function`` gives the points (rank by them); fit only maps points to a probability with a
    one-feature logistic fit (strictly increasing, so ranking by probability is ranking by points; if more
    points meant fewer wins on the training rows, every row gets the base rate instead).
    """

    def __init__(self, features: list[Feature], rules: tuple[Rule, ...] = RULES):
        self.features = features
        self.rules = rules

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> PointsBaseline:
        labels = binary_labels(y)
        self.rules_ = applicable_rules(self.rules, {f.name for f in self.features})
        points = self.decision_function(X)
        slope, intercept = self._logistic(points, labels)
        self.slope_, self.intercept_ = (slope, intercept) if slope > 0 else (0.0, float(logit(labels.mean())))
        self.classes_ = CLASSES
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Total points per row."""
        check_is_fitted(self, "rules_")
        total = np.zeros(len(X))
        for rule in self.rules_:
            total += rule.score(X[rule.feature])
        return total

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "slope_")
        return two_columns(expit(self.intercept_ + self.slope_ * self.decision_function(X)))

    @staticmethod
    def _logistic(points: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        """Slope and intercept of P(won) = expit(a + b * points), nearly unpenalised (points / 100 for lbfgs)."""
        model = LogisticRegression(C=1e4).fit(points[:, None] / 100.0, labels)
        return float(model.coef_[0, 0]) / 100.0, float(model.intercept_[0])


BASELINES: dict[str, Callable[[list[Feature]], _Baseline]] = {
    "logistic": LogisticBaseline,
    "odoo_naive_bayes": OdooFrequencyBaseline,
    "points": PointsBaseline,
}


def baseline_probabilities(data: TrainingData, features: list[Feature], x_cols: list[str]) -> dict[str, np.ndarray]:
    """Each baseline fit on train, its probabilities on test: the same rows as the model."""
    train, test = data.rows("train"), data.rows("test")
    out = {}
    for name, make in BASELINES.items():
        model = make(features).fit(data.table.loc[train, x_cols], data.y[train])
        out[name] = model.predict_proba(data.table.loc[test, x_cols])[:, 1]
    return out
