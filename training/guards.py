"""Guards that refuse or trim a training run: too little data, and features that leak the outcome."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.errors import NotEnoughData
from features.pit.catalog import Feature
from training.data import TrainingData
from training.spec import ModelSpec
from training.split import MIN_EVAL_CLASS


@dataclass
class LeakageFlag:
    feature: str
    reason: str
    single_feature_auc: float | None
    allowed: bool  # the spec allows it by name: kept despite the flag


def require_enough(y: np.ndarray, spec: ModelSpec, where: str) -> None:
    """Refuse below the spec's minimum positives/negatives, as commercial lead-scoring products do."""
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    need = spec.min_data
    if positives < need.positives or negatives < need.negatives:
        raise NotEnoughData(
            f"not enough data to train {spec.name}: the {where} split has {positives} positives and {negatives} "
            f"negatives; at least {need.positives} and {need.negatives} are needed (spec min_data)"
        )


def entity_halves(entities: pd.Series) -> np.ndarray:
    """Each row's half (0 or 1), every row of an entity in the same one: an entity's snapshots share its label, so
    split between the halves, a level that one entity alone has (a landing page id) would predict its label."""
    return pd.factorize(entities)[0] % 2


def single_feature_auc(values: pd.Series, y: np.ndarray, kind: str, halves: np.ndarray) -> float:
    """How well one feature alone ranks the labels (either direction); a categorical by each level's rate among
    the rows of the other half (``entity_halves``)."""
    if kind == "categorical":
        levels = values.astype("string").fillna("<NA>").to_numpy(dtype=object)
        score = np.empty(len(levels))
        for k in (0, 1):
            rates = pd.Series(y[halves != k]).groupby(levels[halves != k]).mean()
            score[halves == k] = pd.Series(levels[halves == k]).map(rates).fillna(y.mean()).to_numpy()
    else:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        finite = x[np.isfinite(x)]
        score = np.where(np.isfinite(x), x, (finite.min() - 1.0) if len(finite) else 0.0)
    if len(np.unique(y)) < 2 or len(np.unique(score)) < 2:
        return 0.5
    auc = roc_auc_score(y, score)
    return float(max(auc, 1.0 - auc))


def leakage_flags(table: pd.DataFrame, y: np.ndarray, candidates: list[Feature], spec: ModelSpec) -> list[LeakageFlag]:
    """Features declared post-outcome, and features that alone reach the spec's AUC limit on training rows
    (``table``: feature rows with their ``entity_id``)."""
    allowed = set(spec.features.allow)
    limit = spec.leakage.max_single_feature_auc
    flags, halves = [], entity_halves(table["entity_id"])
    for f in candidates:
        auc = single_feature_auc(table[f.name], y, f.kind, halves)
        if f.post_outcome:
            flags.append(LeakageFlag(f.name, "declared post-outcome by the source", auc, f.name in allowed))
        elif auc >= limit:
            flags.append(LeakageFlag(f.name, f"alone reaches ROC AUC {auc:.3f} >= {limit}", auc, f.name in allowed))
    return flags


def usable_features(data: TrainingData, spec: ModelSpec) -> tuple[list[Feature], list[LeakageFlag]]:
    """The candidates less those the leakage guard excludes and those with one value on every labelled row (a
    leads-only export has no activity, stage or rep features: they would only crowd the report and the model)."""
    train = data.rows("train")
    varying = [f for f in data.candidates if data.table[f.name].nunique(dropna=False) > 1]
    flags = leakage_flags(data.table[train], data.y[train], varying, spec)
    dropped = {f.feature for f in flags if not f.allowed}
    return [f for f in varying if f.name not in dropped], flags


def check_eval_splits(data: TrainingData, spec: ModelSpec, names: tuple[str, ...]) -> None:
    for name in names:
        y = data.y[data.rows(name)]
        if y.sum() < MIN_EVAL_CLASS or len(y) - y.sum() < MIN_EVAL_CLASS:
            raise NotEnoughData(
                f"the {name} split of {spec.name} has {int(y.sum())} positives and {int(len(y) - y.sum())} negatives;"
                f" at least {MIN_EVAL_CLASS} of each are needed: use a longer history or change split.fractions"
            )
