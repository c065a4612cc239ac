"""The import path some registered model versions pickled their MLflow wrapper under: the wrapper is
``features.scoring.pyfunc.ScorerModel``, and this name for it keeps every registered version loadable."""

from features.scoring.pyfunc import ScorerModel

__all__ = ["ScorerModel"]
