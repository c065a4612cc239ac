"""``GET /v1/models``: the models the service holds, and why any other is not served."""

from __future__ import annotations

from pydantic import BaseModel, Field

from serving.schemas.common import ModelKind


class ModelInfo(BaseModel):
    name: str
    version: str = Field(description="MLflow registry version (the champion when exported).")
    entity: str = Field(description="lead or opportunity.")
    label: str = Field(description="What the probability is of.")
    horizon_days: int | None = Field(None, description="Label horizon in days (null: eventual outcome).")
    data_window: list[str] = Field(description="First and last training cutoff.")
    metrics: dict[str, float | None] = Field(description="Test metrics: roc_auc, pr_auc, brier, ece, ...")
    exported_at: str = Field(description="When it was copied from the MLflow registry into the BentoML store.")
    kind: ModelKind = "ml"
    segment: dict[str, str] | None = Field(
        None, description="A segment model: by, column and value of the rows routed to it (null: the global model)."
    )


class UnavailableModel(BaseModel):
    name: str
    reason: str = Field(description="Why it is not served; its endpoints answer 503 with this reason.")


class ModelsAnswer(BaseModel):
    models: list[ModelInfo]
    context_exported_at: str | None = Field(description="Export time of the CRM history the features use.")
    unavailable: list[UnavailableModel] = Field(
        default_factory=list, description="Served models that are not loaded (never exported, or damaged files)."
    )
