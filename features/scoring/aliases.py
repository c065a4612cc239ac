"""The registry's aliases and reading one: what moving a champion needs, without the model code behind it (a
registry listing or an alias move answers without LightGBM loading)."""

from __future__ import annotations

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

CHALLENGER, CHAMPION = "challenger", "champion"  # registry aliases (never deprecated stages)
GATE_TAG = "gate_blockers"  # a version's tag: why it may not be champion


def alias_version(name: str, alias: str) -> str | None:
    """The version behind ``name@alias`` in the current registry, None when there is none."""
    try:
        return str(MlflowClient().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None
