"""Model files the scorer reads and writes, and the blend of two models.

A blend averages its members' log-odds with fixed weights; SHAP values are linear in the model, so its exact
contributions are the same weighted average of its members' (trees' and additive terms' alike), and its
factors add up as any member's do. Averaging a tree model and a linear one often ranks better than either
(the simulator's CRM histories and its regime-change export); which one is served is the spec's and the data's
choice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.scoring.additive import ADDITIVE_FILE, AdditiveModel

BOOSTER_FILE, BLEND_FILE = "booster.txt", "blend.json"


@dataclass
class Blend:
    """``sum_i weights[i] * margin_i``: members' log-odds averaged (weights sum to 1)."""

    members: list[lgb.Booster | AdditiveModel]
    weights: list[float]

    kind = "blend"

    def predict(self, x: pd.DataFrame | np.ndarray, raw_score: bool = False, pred_contrib: bool = False) -> np.ndarray:
        """Margins (``raw_score``), contributions with the bias last (``pred_contrib``), else probabilities."""
        parts = [m.predict(x, raw_score=not pred_contrib, pred_contrib=pred_contrib) for m in self.members]
        out = sum(w * np.asarray(p) for w, p in zip(self.weights, parts, strict=True))
        return out if raw_score or pred_contrib else 1.0 / (1.0 + np.exp(-out))


Model = lgb.Booster | AdditiveModel | Blend


def model_kind(model: Model) -> str:
    """``lightgbm``, ``logistic``, ``naive_bayes`` or ``blend``."""
    return "lightgbm" if isinstance(model, lgb.Booster) else model.kind


def tree_count(model: Model) -> int:
    """How many trees scoring a row walks (what tree SHAP's cost grows with); 0 for an additive model."""
    if isinstance(model, Blend):
        return sum(tree_count(m) for m in model.members)
    return model.num_trees() if isinstance(model, lgb.Booster) else 0


def save_model(model: Model, directory: Path, stem: str = "") -> None:
    """Write ``model`` into ``directory`` (file names prefixed by ``stem`` for a blend's members)."""
    if isinstance(model, Blend):
        for i, member in enumerate(model.members):
            save_model(member, directory, f"{stem}member_{i}_")
        state = {"weights": model.weights, "members": len(model.members)}
        (directory / f"{stem}{BLEND_FILE}").write_text(json.dumps(state), encoding="utf-8")
    elif isinstance(model, AdditiveModel):
        model.save(directory / f"{stem}{ADDITIVE_FILE}")
    else:
        model.save_model(str(directory / f"{stem}{BOOSTER_FILE}"))


def load_model(directory: Path, stem: str = "") -> Model:
    """The model ``save_model`` wrote into ``directory``."""
    blend = directory / f"{stem}{BLEND_FILE}"
    if blend.exists():
        state = json.loads(blend.read_text(encoding="utf-8"))
        members = [load_model(directory, f"{stem}member_{i}_") for i in range(state["members"])]
        return Blend(members, state["weights"])
    if (directory / f"{stem}{ADDITIVE_FILE}").exists():
        return AdditiveModel.load(directory / f"{stem}{ADDITIVE_FILE}")
    return lgb.Booster(model_file=str(directory / f"{stem}{BOOSTER_FILE}"))
