"""When monitoring raises an alert: the thresholds a model spec's ``monitoring`` section sets (defaults here), kept
in the model's metadata at training so the CLI and the service judge a model by the spec it was trained with."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MonitorThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_rows: int = Field(
        default=200, ge=20, description="Labelled predictions a slice or period needs before it is judged."
    )
    auc_drop: float = Field(
        default=0.05, gt=0, description="Alert when a period's realised ROC AUC is this far under the test AUC."
    )
    slice_auc_drop: float = Field(default=0.05, gt=0, description="Flag a slice whose AUC is this far under the whole.")
    max_ece: float = Field(default=0.05, gt=0, description="Flag calibration error (ECE) above this, whole or slice.")
    feature_drift: float = Field(
        default=0.1, gt=0, description="Drift of a feature: normed Wasserstein (numeric) or Jensen-Shannon distance."
    )
    score_drift: float = Field(default=0.1, gt=0, description="Drift of the scores (normed Wasserstein).")
    max_warning_share: float = Field(default=0.2, gt=0, le=1, description="Share of scored items with warnings.")
    max_age_days: int = Field(default=365, ge=1, description="Days since the training data ended.")
