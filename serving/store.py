"""The BentoML side of the registry: champions and the CRM history copied into the BentoML model store.

``salesml export`` (and ``salesml serve``) copies each champion from the MLflow registry, with its registry
version and test metrics, and the export's whole dataset (``serving.context``), so that the service and a built
bento carry everything they answer with. The store is ``BENTOML_HOME`` (default ``.bentoml`` under the repo).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bentoml

from features.dataset import Dataset
from features.errors import DataError
from features.pyfunc import CHAMPION, load_registered
from features.scoring import Scorer
from serving.context import ServingContext

#: BentoML model name of each served registry model, by entity.
SERVED = {"lead": "lead_score", "opportunity": "close_probability"}
CONTEXT = "salesml_context"
#: Context metadata: the context holds every table of the export. Earlier exports kept only what scoring reads (no
#: stage changes, deal activities or targets), from which a forecast would be wrong without a word.
HISTORY, WHOLE = "history", "whole"
SCORER_DIR, CONTEXT_DIR, INFO_FILE = "scorer", "context", "info.json"


@dataclass
class Exported:
    """A served model as read back from the BentoML store."""

    scorer: Scorer
    info: dict[str, Any]  # name, version, metrics, data window, exported_at

    @property
    def window_days(self) -> list[int]:
        """The model's time windows (deals: won within 30/60/90 days), empty when it has none."""
        return [head.days for head in self.scorer.heads]


def export_models(ds: Dataset, names: tuple[str, ...] = tuple(SERVED.values())) -> tuple[list[str], list[str]]:
    """Copy the champion of each name (those that exist) and the dataset's history; the tags written, and why
    each model without a champion was left out (its endpoints answer 503)."""
    tags, skipped = [], []
    for name in names:
        try:
            scorer, version = load_registered(name, CHAMPION)
        except DataError as why:
            skipped.append(str(why))
            continue
        tags.append(_save_scorer(name, scorer, version))
    if not tags:
        raise DataError("; ".join(skipped))
    metadata = {"source": ds.manifest.source, "exported_at": _now(), HISTORY: WHOLE}
    with bentoml.models.create(CONTEXT, metadata=metadata) as model:
        ServingContext.write(ds, Path(model.path) / CONTEXT_DIR)
    return [*tags, str(model.tag)], skipped


def _save_scorer(name: str, scorer: Scorer, version: str) -> str:
    info = {
        "name": name,
        "version": version,
        "entity": scorer.entity,
        "label": scorer.metadata.get("label", "label"),
        "horizon_days": scorer.metadata.get("horizon_days"),
        "data_window": scorer.metadata.get("data_window", []),
        "metrics": scorer.metadata.get("metrics", {}),
        "exported_at": _now(),
    }
    with bentoml.models.create(name, labels={"mlflow_version": version}, metadata={"mlflow_version": version}) as model:
        scorer.save(Path(model.path) / SCORER_DIR)
        (Path(model.path) / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, default=str), encoding="utf-8")
    return str(model.tag)


def exported_names() -> list[str]:
    """The served models present in the BentoML store, with the history they need."""
    stored = {model.tag.name for model in bentoml.models.list()}
    return [name for name in SERVED.values() if name in stored] if CONTEXT in stored else []


def read_exported(path: str) -> Exported:
    """A served model from its BentoML model directory."""
    info = json.loads((Path(path) / INFO_FILE).read_text(encoding="utf-8"))
    return Exported(Scorer.load(Path(path) / SCORER_DIR), info)


def read_context(path: str) -> ServingContext:
    return ServingContext.read(Path(path) / CONTEXT_DIR)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
