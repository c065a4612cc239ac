"""Evaluation on the test split: the model, its grades, its key factors, and the baselines side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: training runs on servers without a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shap  # noqa: E402
from sklearn.calibration import calibration_curve  # noqa: E402

from features.scoring.metrics import binary_metrics, calibration_noise  # noqa: E402
from features.scoring.scorer import Scorer  # noqa: E402
from training.fonts import cjk_font, quiet_drawing
from training.metrics import calibration_verdict
from training.spec import ModelSpec

GRADES = ("A", "B", "C")


def grade_table(y: np.ndarray, grades: np.ndarray) -> list[dict[str, float | str | int]]:
    """Share and conversion rate of each grade (A should convert more than B, B more than C)."""
    rows = []
    for g in GRADES:
        member = grades == g
        rows.append(
            {
                "grade": g,
                "n": int(member.sum()),
                "share": float(member.mean()),
                "conversion_rate": float(y[member].mean()) if member.any() else float("nan"),
            }
        )
    return rows


def grade_confusion(y: np.ndarray, grades: np.ndarray) -> list[dict[str, float | str | int]]:
    """The confusion matrix at each grade cut: grade A alone, then A and B, taken as "predicted to convert".

    What a manager routes by: of the leads that converted, how many the A channel caught (recall), and how many of
    its leads converted (precision); the same for A and B together."""
    y = np.asarray(y).astype(bool)
    rows = []
    for cut in range(1, len(GRADES)):
        chosen = np.isin(grades, GRADES[:cut])
        tp, fp = int((chosen & y).sum()), int((chosen & ~y).sum())
        fn, tn = int((~chosen & y).sum()), int((~chosen & ~y).sum())
        rows.append(
            {
                "cut": "+".join(GRADES[:cut]),
                "tp": tp,
                "fp": fp,
                "fn": fn,
                "tn": tn,
                "precision": tp / (tp + fp) if tp + fp else float("nan"),
                "recall": tp / (tp + fn) if tp + fn else float("nan"),
            }
        )
    return rows


def grades_ordered(table: list[dict]) -> bool:
    rates = [r["conversion_rate"] for r in table if r["n"] > 0]
    return len(rates) == len(GRADES) and rates[0] > rates[1] > rates[2]


def global_factors(scorer: Scorer, x: pd.DataFrame) -> list[dict]:
    """Mean |SHAP| per key factor and its direction (how its leading feature's value moves the odds)."""
    raw, by_factor, keys = scorer.contributions(x)
    importance = np.abs(by_factor).mean(axis=0)
    out = []
    for j in np.argsort(-importance):
        members = [i for i, f in enumerate(scorer.inputs) if f.factor == keys[j]]
        lead = members[int(np.argmax(np.abs(raw[:, members]).mean(axis=0)))]
        f = scorer.inputs[lead]
        direction = "mixed"
        if f.kind == "numeric":
            values = x.iloc[:, lead].to_numpy(dtype=float)
            ok = np.isfinite(values)
            if ok.sum() > 2 and np.ptp(values[ok]) > 0 and np.ptp(raw[ok, lead]) > 0:  # not std: 1e-17 on equal floats
                rho = pd.Series(values[ok]).corr(pd.Series(raw[ok, lead]), method="spearman")
                direction = "higher raises odds" if rho > 0.1 else "higher lowers odds" if rho < -0.1 else "mixed"
        out.append(
            {
                "factor": str(keys[j]),
                "zh": f.factor_zh,
                "en": f.factor_en,
                "mean_abs_shap": float(importance[j]),
                "leading_feature": f.name,
                "direction": direction,
            }
        )
    return out


def calibration_plot(y: np.ndarray, curves: dict[str, np.ndarray], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
    for name, p in curves.items():
        observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
        ax.plot(predicted, observed, marker="o", label=name)
    ax.set(xlabel="predicted probability", ylabel="observed rate", title="Calibration on the test split")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _numeric(values: pd.Series) -> np.ndarray:
    """Category codes for categoricals (colours in the beeswarm), values otherwise."""
    return values.cat.codes.to_numpy() if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy()


def shap_explanation(scorer: Scorer, x: pd.DataFrame) -> shap.Explanation:
    """Exact tree SHAP values (log-odds) of an encoded matrix with base values and feature values (categoricals as
    codes), named in English, ready for ``shap.plots``."""
    raw, _, _ = scorer.contributions(x)
    data = np.column_stack([_numeric(x[c]) for c in x]).astype(float)
    base = scorer.margin(x) - raw.sum(axis=1)
    return shap.Explanation(values=raw, base_values=base, data=data, feature_names=[f.en for f in scorer.inputs])


def beeswarm_plot(scorer: Scorer, x: pd.DataFrame, path: Path, max_rows: int = 2000) -> Path:
    """SHAP beeswarm of the features that matter most (LightGBM's exact tree SHAP values)."""
    with quiet_drawing(cjk_font()):  # declared extras may carry Chinese display names
        plt.figure()
        shap.plots.beeswarm(shap_explanation(scorer, x.iloc[:max_rows]), max_display=15, show=False)
        plt.gcf().set_size_inches(9, 6.5)
        plt.tight_layout()
        plt.savefig(path, dpi=110)
        plt.close("all")
    return path


def evaluate_model(scorer: Scorer, x: pd.DataFrame, y: np.ndarray) -> dict:
    p = scorer.probability(x)
    grades = scorer.grade(scorer.score(p))
    table = grade_table(y, grades)
    return {
        "metrics": binary_metrics(y, p),
        "grades": table,
        "grades_ordered": grades_ordered(table),
        "confusion": grade_confusion(y, grades),
        "probability": p,
    }


def test_calibration(
    spec: ModelSpec, evaluation: dict[str, Any], y: dict[str, np.ndarray], test_ids: np.ndarray
) -> dict[str, Any]:
    """The test ECE against the spec's target, what chance alone shows on these rows, the positive rates of the
    calibration and test rows, and the verdict in words."""
    ece, target = evaluation["metrics"]["ece"], spec.gate.max_ece
    noise = calibration_noise(evaluation["probability"], test_ids)
    calib_rate, test_rate = float(y["calib"].mean()), float(y["test"].mean())
    return {
        "ece": ece,
        "target": target,
        "noise_95": noise,
        "calib_positive_rate": calib_rate,
        "test_positive_rate": test_rate,
        "verdict": calibration_verdict(ece, target, noise, calib_rate, test_rate),
    }
