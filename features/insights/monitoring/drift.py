"""Drift between the training reference logged with a model and the inputs and scores of recent calls.

Per numeric feature the Wasserstein distance normed by the reference's standard deviation (with the KS statistic
beside it), per categorical feature the Jensen-Shannon distance of the level shares (base 2: 0 same, 1 disjoint), as
Evidently's data drift does by default on large samples; all from scipy. The scores drift like a numeric feature.

Many inputs move with time by construction (a rep's closed deals only grow; the creation month turns), so a live
window always differs from the training rows. A feature is drifted only by what it moved beyond that trend: its
statistic between the newer half of the reference (by cutoff) and the live inputs, less the statistic between the
older and the newer half, which spans about as long. A change the training data never showed stands out in full.
Seasonal inputs (the month a lead came in) differ between any live window and the training months, year after year:
their figures are shown, never flagged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from features.scoring.inputs import InputFeature

Measure = Callable[[pd.Series, pd.Series], dict[str, float] | None]
#: The factor of inputs that follow the calendar (``features.pit.catalog``): shown, never flagged.
SEASONAL = "seasonality"
#: Fewer values than this on either side: no drift figure (too noisy to judge).
MIN_VALUES = 30


def numeric_drift(reference: pd.Series, current: pd.Series) -> dict[str, float] | None:
    """Normed Wasserstein distance and the KS statistic and p-value; None with too few values."""
    ref = pd.to_numeric(reference, errors="coerce").dropna().to_numpy(dtype=float)
    cur = pd.to_numeric(current, errors="coerce").dropna().to_numpy(dtype=float)
    if min(len(ref), len(cur)) < MIN_VALUES:
        return None
    scale = ref.std() or 1.0
    ks = ks_2samp(ref, cur, method="asymp")
    return {
        "statistic": float(wasserstein_distance(ref, cur) / scale),
        "ks": float(ks.statistic),
        "ks_p": float(ks.pvalue),
    }


def categorical_drift(reference: pd.Series, current: pd.Series) -> dict[str, float] | None:
    """Jensen-Shannon distance of the level shares (missing counted as a level); None with too few values."""
    ref, cur = reference.astype(object).fillna("<NA>"), current.astype(object).fillna("<NA>")
    if min(len(ref), len(cur)) < MIN_VALUES:
        return None
    levels = sorted(set(ref.map(str)) | set(cur.map(str)))
    shares = [s.map(str).value_counts().reindex(levels, fill_value=0).to_numpy(dtype=float) for s in (ref, cur)]
    return {"statistic": float(jensenshannon(shares[0], shares[1], base=2))}


def split_reference(reference: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference's older and newer half by cutoff time."""
    ordered = reference.sort_values("cutoff_time", kind="stable")
    half = len(ordered) // 2
    return ordered.iloc[:half], ordered.iloc[half:]


def drift(measure: Measure, older: pd.Series, newer: pd.Series, current: pd.Series, limit: float) -> dict | None:
    """``measure`` from the newer reference half to ``current``, the training trend (older to newer half), the
    excess of the first over the second, and whether the excess is over ``limit``; None with too few values."""
    live, trend = measure(newer, current), measure(older, newer)
    if live is None or trend is None:
        return None
    excess = live["statistic"] - trend["statistic"]
    return {**live, "trend": trend["statistic"], "excess": excess, "drifted": bool(excess > limit)}


def feature_drift(
    inputs: list[InputFeature], reference: pd.DataFrame, current: pd.DataFrame, limit: float
) -> list[dict[str, Any]]:
    """Per model input in the reference, its drift (``drift``), most drifted first."""
    older, newer = split_reference(reference)
    out = []
    for feature in inputs:
        if feature.name not in reference.columns:
            continue
        values = current[feature.name] if feature.name in current.columns else pd.Series(np.nan, index=current.index)
        measure = categorical_drift if feature.kind == "categorical" else numeric_drift
        figures = drift(measure, older[feature.name], newer[feature.name], values, limit)
        if figures is not None:
            figures["drifted"] &= feature.factor != SEASONAL
            out.append({"feature": feature.name, "kind": feature.kind, **figures})
    return sorted(out, key=lambda row: -row["excess"])
