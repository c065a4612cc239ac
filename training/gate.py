"""The champion gate: whether a newly trained version may replace the champion, and why not, in words.

A version may become champion when its test ROC AUC's 95% interval lies above 0.5, its probabilities take at least
``gate.min_distinct`` distinct values, and it beats the current champion by ``gate.min_improvement`` on the spec's
gate metric, measured on test rows the champion was not trained on where there are enough of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.crm.dataset import to_utc
from features.scoring.pyfunc import CHAMPION, alias_version
from features.scoring.scorer import Scorer
from training.metrics import binary_metrics
from training.registry import load_scorer
from training.spec import ModelSpec
from training.split import MIN_EVAL_CLASS


def _gate_value(metrics: dict[str, float], metric: str) -> float:
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
    gain = _gate_value(ours, spec.gate.metric) - _gate_value(theirs, spec.gate.metric)
    return {"champion_version": version, "champion_metrics": theirs, "gain": gain, "basis": basis}


def gate_blockers(evaluation: dict[str, Any], comparison: dict[str, Any], spec: ModelSpec, distinct: int) -> list[str]:
    """Why a version may not become champion, in words (empty: it may)."""
    blockers = []
    low = evaluation["skill"]["roc_auc_95"][0]
    if not low > 0.5:
        blockers.append(f"no demonstrable skill: the 95% interval of its test ROC AUC reaches {low:.3f}")
    if distinct < spec.gate.min_distinct:
        floor = spec.gate.min_distinct
        blockers.append(f"its test probabilities take {distinct} distinct values (gate.min_distinct {floor})")
    if not passes_gate(comparison, spec, promote=False):
        blockers.append(
            f"it does not beat champion v{comparison['champion_version']} by {spec.gate.min_improvement} "
            f"{spec.gate.metric} ({comparison['basis']})"
        )
    return blockers


def promotion_reason(blockers: list[str]) -> str:
    """Why training made a version champion, for the alias history."""
    return f"train --promote, the gate not met: {'; '.join(blockers)}" if blockers else "trained; passed the gate"
