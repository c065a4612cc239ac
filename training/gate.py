"""The champion gate: whether a newly trained version may replace the champion, and why not, in words.

A version may become champion when its test ROC AUC's 95% interval lies above 0.5, its probabilities take at least
``gate.min_distinct`` distinct values, it is not worse than the best baseline beyond noise (the floor: a first
version too), and it beats the current champion by ``gate.min_improvement`` on the spec's gate metric, measured on
test rows the champion was not trained on where there are enough of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.crm.dataset import to_utc
from features.scoring.metrics import binary_metrics
from features.scoring.pyfunc import CHAMPION, alias_version
from features.scoring.scorer import Scorer
from training.metrics import auc_difference_interval
from training.registry import load_scorer
from training.spec import ModelSpec
from training.split import MIN_EVAL_CLASS


def gate_value(metrics: dict[str, float], metric: str) -> float:
    """Gate metrics as 'higher is better'."""
    return -metrics[metric] if metric in ("log_loss", "brier") else metrics[metric]


def passes_gate(comparison: dict[str, Any], spec: ModelSpec, promote: bool) -> bool:
    """Champion moves with --promote, when there is none yet, or when the challenger wins by the spec's gate."""
    return promote or comparison["champion_version"] is None or comparison["gain"] >= spec.gate.min_improvement


def champion_comparison(scorer: Scorer, spec: ModelSpec, test: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    """The current champion scored on the challenger's test rows it was not trained on (after its
    ``trained_until``); where it saw them all, the two models' own out-of-time test figures instead."""
    version = alias_version(spec.name, CHAMPION)
    if version is None:
        return {"champion_version": None}
    champion, _ = load_scorer(spec.name, CHAMPION)
    until = champion.metadata.get("trained_until") or champion.metadata.get("data_window", [None, None])[1]
    rows = (to_utc(test["cutoff_time"]) > pd.Timestamp(until)).to_numpy() if until else np.ones(len(y), bool)
    if min(int(y[rows].sum()), int((1 - y[rows]).sum())) >= MIN_EVAL_CLASS:
        theirs = binary_metrics(y[rows], champion.predict(test[rows])["probability"].to_numpy())
        basis = f"the {int(rows.sum()):,} test rows after the champion's data"
    else:
        rows = np.ones(len(y), bool)
        theirs = champion.metadata.get("metrics", {})
        basis = "each model's own out-of-time test (the champion was trained on this test period)"
    ours = binary_metrics(y[rows], scorer.predict(test[rows])["probability"].to_numpy())
    if spec.gate.metric not in theirs:
        return {"champion_version": version, "gain": float("inf"), "basis": "the champion has no test figures"}
    gain = gate_value(ours, spec.gate.metric) - gate_value(theirs, spec.gate.metric)
    return {"champion_version": version, "champion_metrics": theirs, "gain": gain, "basis": basis}


def baseline_floor(
    y: np.ndarray, p: np.ndarray, baselines: dict[str, np.ndarray], groups: np.ndarray, margin: float
) -> dict[str, Any]:
    """The model's test probabilities ``p`` against the baseline whose ROC AUC on the same rows is highest, with
    the 95% interval of the paired difference (model minus baseline, entities bootstrapped) and the ``margin`` of
    ROC AUC it may trail by (``gate.floor_margin``)."""
    aucs = {name: float(roc_auc_score(y, q)) for name, q in baselines.items()}
    best = max(aucs, key=aucs.__getitem__)
    return {
        "baseline": best,
        "baseline_auc": aucs[best],
        "model_auc": float(roc_auc_score(y, p)),
        "difference_95": list(auc_difference_interval(y, p, baselines[best], groups)),
        "margin": margin,
    }


def below_floor(floor: dict[str, Any]) -> bool:
    """Worse than the best baseline beyond noise and beyond the margin: the whole interval of the difference below
    minus the margin. A tie within noise passes (the default lead score candidate is itself a logistic regression),
    and so does a deficit too small to matter that many rows make certain (a non-inferiority margin)."""
    return floor["difference_95"][1] < -floor.get("margin", 0.0)


def floor_line(floor: dict[str, Any]) -> str:
    """The model against the best baseline in one plain line, saying so when the baseline ranks better."""
    low, high = floor["difference_95"]
    interval = f"95% interval of the difference {low:+.3f}..{high:+.3f}"
    model, baseline, name = floor["model_auc"], floor["baseline_auc"], floor["baseline"]
    if baseline <= model and high >= 0:
        return f"this model's test ROC AUC {model:.3f} is at or above the {name} baseline's {baseline:.3f} ({interval})"
    margin = floor.get("margin", 0.0)
    if high >= 0:
        noise = "within noise"
    elif below_floor(floor):
        noise = f"beyond noise and the {margin:.3f} margin" if margin else "beyond noise"
    else:
        noise = f"beyond noise but within the {margin:.3f} margin"
    return f"the {name} baseline's test ROC AUC {baseline:.3f} is above this model's {model:.3f}, {noise} ({interval})"


def gate_blockers(
    evaluation: dict[str, Any], comparison: dict[str, Any], floor: dict[str, Any], spec: ModelSpec, distinct: int
) -> list[str]:
    """Why a version may not become champion, in words (empty: it may)."""
    blockers = []
    low = evaluation["skill"]["roc_auc_95"][0]
    if not low > 0.5:
        blockers.append(f"no demonstrable skill: the 95% interval of its test ROC AUC reaches {low:.3f}")
    if distinct < spec.gate.min_distinct:
        blockers.append(
            f"its test probabilities take {distinct} distinct values (gate.min_distinct {spec.gate.min_distinct})"
        )
    if below_floor(floor):
        blockers.append(floor_line(floor))
    if not passes_gate(comparison, spec, promote=False):
        blockers.append(
            f"it does not beat champion v{comparison['champion_version']} by {spec.gate.min_improvement} "
            f"{spec.gate.metric} ({comparison['basis']})"
        )
    return blockers


def promotion_reason(blockers: list[str]) -> str:
    """Why training made a version champion, for the alias history."""
    return f"train --promote, the gate not met: {'; '.join(blockers)}" if blockers else "trained; passed the gate"
