"""Model versions registered before the applied model moved to ``features.scoring`` pickled their MLflow wrapper
under this module's path; it stays importable so that those versions still load."""

from features.scoring.pyfunc import ScorerModel

__all__ = ["ScorerModel"]
