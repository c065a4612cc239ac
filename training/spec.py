"""Model specs: one YAML per model. The built-in ones ship inside the package (``training/specs/``, package data), so
an installed salesml trains by name as a checkout does; an analyst retrains a variant from an edited copy (kept in
``models/`` by convention), not code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from features.errors import DataError
from features.insights.monitoring.thresholds import MonitorThresholds

BUILT_IN = Path(__file__).resolve().parent / "specs"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Snapshots(_Strict):
    lead_ages: list[str] = Field(default=["1h", "1D", "3D", "7D", "14D"], description="Lead ages to snapshot at.")
    every_days: int = Field(default=7, ge=1, description="Deal snapshot interval.")


class FeatureSelection(_Strict):
    families: Literal["all"] | list[str] = "all"
    exclude_families: list[str] = []
    exclude: list[str] = []
    allow: list[str] = Field(default=[], description="Features kept even when the leakage guard flags them.")
    cutoff_calendar: bool = Field(
        default=False,
        description="Also use where the scoring time falls in its quarter (quarter-end pressure on deals); off by"
        " default: for leads it is a proxy of the lead's age, the same for every lead scored at one time.",
    )


class Categorical(_Strict):
    min_count: int = Field(default=20, ge=1)
    max_levels: int = Field(default=50, ge=2)


class Grades(_Strict):
    A: float = Field(default=85, gt=0, le=100)
    B: float = Field(default=60, gt=0, le=100)

    @field_validator("B")
    @classmethod
    def _b_below_a(cls, b: float, info) -> float:  # noqa: ANN001 (pydantic's ValidationInfo)
        if "A" in info.data and b >= info.data["A"]:
            raise ValueError("grade B threshold must be below grade A's")
        return b


class MinData(_Strict):
    positives: int = Field(default=40, ge=1)
    negatives: int = Field(default=40, ge=1)


class Leakage(_Strict):
    max_single_feature_auc: float = Field(default=0.95, gt=0.5, le=1.0)


class Split(_Strict):
    fractions: tuple[float, float, float, float] = (0.6, 0.15, 0.1, 0.15)
    seed: int = 0
    refit_folds: int = Field(
        default=3, ge=2, le=10, description="Folds of the cross-fitted calibration of the model refit on all rows."
    )
    settle_days: int | None = Field(
        default=None,
        ge=1,
        description="A row of the last segment also needs its cutoff this many days before the export: otherwise "
        "its last weeks hold only the rows whose labels resolved early (deals won fast), and the test runs optimistic.",
    )


class Tuning(_Strict):
    trials: int = Field(default=20, ge=1)
    timeout_s: float = Field(default=600, gt=0)
    seed: int = 0


class Selection(_Strict):
    default: Literal["lightgbm", "logistic", "naive_bayes", "blend"] = Field(
        default="logistic",
        description="The candidate served unless another's calibrated log loss on calib is clearly lower.",
    )
    clearly_better_se: float = Field(
        default=2.0, ge=0, description="'Clearly': by this many standard errors of the paired per-entity difference."
    )


class Gate(_Strict):
    metric: Literal["roc_auc", "pr_auc", "log_loss", "brier"] = "roc_auc"
    min_improvement: float = Field(default=0.002, ge=0)
    floor_margin: float = Field(
        default=0.005,
        ge=0,
        le=0.1,
        description="ROC AUC a version may trail the best baseline by, beyond noise, and still be served (the skill"
        " floor's non-inferiority margin).",
    )
    min_distinct: int = Field(
        default=20, ge=2, description="A model whose test probabilities take fewer distinct values is never served."
    )
    max_ece: float = Field(
        default=0.03,
        gt=0,
        le=1,
        description="Calibration target: above it on test the report says by how much and why (it does not block).",
    )


#: The feature-table column that holds each row's segment, by the spec's ``segments.by``.
SEGMENT_COLUMNS = {"region": "region", "industry": "industry", "source": "source", "team": "rep_team"}


class Segments(_Strict):
    by: Literal["region", "industry", "source", "team"] = Field(description="What a row's segment is.")
    min_rows: int = Field(default=2000, ge=1, description="Labelled rows a segment needs for a model of its own.")
    min_positives: int = Field(default=200, ge=1, description="... and positive rows among them.")

    @property
    def column(self) -> str:
        return SEGMENT_COLUMNS[self.by]


class ModelSpec(_Strict):
    """What to train: entity, label and horizon, snapshots, features, grades, guards and the promotion gate."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    entity: Literal["lead", "opportunity"]
    label: str = "label"
    horizon_days: int | Literal["auto"] = Field(
        default="auto",
        description="Label horizon in days; auto: derived from the export's own conversion delays (leads).",
    )
    window_heads_days: list[int] = Field(
        default=[],
        description="Time-window heads: also the probability of the label within each of these days (label_{N}d).",
    )
    snapshots: Snapshots = Snapshots()
    features: FeatureSelection = FeatureSelection()
    categorical: Categorical = Categorical()
    grades: Grades = Grades()
    min_data: MinData = MinData()
    leakage: Leakage = Leakage()
    split: Split = Split()
    tuning: Tuning = Tuning()
    selection: Selection = Selection()
    gate: Gate = Gate()
    segments: Segments | None = Field(
        default=None, description="One model per segment with enough data (the global model serves the rest)."
    )
    monitoring: MonitorThresholds = Field(
        default=MonitorThresholds(), description="When salesml monitor and /v1/monitoring raise an alert."
    )


def load_spec(spec: str | Path) -> tuple[ModelSpec, str]:
    """A spec and its YAML text from a path or a built-in model's name (``lead_score``)."""
    path = Path(spec)
    if not path.suffix:
        path = BUILT_IN / f"{spec}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in BUILT_IN.glob("*.yaml")))
        raise DataError(f"{path}: no such model spec (built-in models: {known})")
    text = path.read_text(encoding="utf-8")
    try:
        return ModelSpec.model_validate(yaml.safe_load(text)), text
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DataError(f"{path}: {where}: {first['msg']}") from exc


def require_dask_trainable(spec: ModelSpec) -> None:
    """DataError for a spec with segment models, which only ``--engine local`` trains: each is weighed against the
    global model on all of its segment's rows in one process."""
    if spec.segments is not None:
        raise DataError(
            f"{spec.name}: segment models (segments) are trained by --engine local only; use it, or a copy of the "
            "spec without them"
        )
