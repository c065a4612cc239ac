"""The BentoML side of the registry: champions and the CRM history copied into the BentoML model store.

``salesml export`` (and ``salesml serve``) copies each champion from the MLflow registry, with its registry
version and test metrics, and the export's whole dataset (``serving.context``), so that the service and a built
bento carry everything they answer with. A challenger other than the champion is copied beside it as
``NAME_challenger``, which ``salesml serve`` shadow-scores with (``serving.shadow``); each segment champion
(``NAME.BY.VALUE``, ``features.scoring.segments``) is copied under its own name, which the service routes to. The
store is ``BENTOML_HOME`` (default ``.bentoml`` in the local directory, ``features.config``).

Each export ends by rewriting ``salesml-export.json`` in the store (``export_stamp``): a running service watches it
and loads the new export without a restart (``serving.reload``).

Each exported directory holds the SHA-256 of its files. A model that was never exported, or whose files differ from
them or do not load, is not served (its endpoints answer 503 with why) while the others are; ``servable`` is what
``salesml serve`` checks before it starts a server.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bentoml

from features.config import bentoml_home
from features.crm.dataset import Dataset
from features.errors import DataError
from features.scoring import served_kind
from features.scoring.scorer import Scorer
from features.scoring.segments import segment_prefix
from serving.context import ServingContext

#: BentoML model name of each served registry model, by entity.
SERVED = {"lead": "lead_score", "opportunity": "close_probability"}
CONTEXT = "salesml_context"
#: What a served model's challenger is stored as, beside its champion, for the service to shadow-score with.
CHALLENGER_SUFFIX = "_challenger"
#: Context metadata: the context holds every table of the export. Earlier exports kept only what scoring reads (no
#: stage changes, deal activities or targets), from which a forecast would be wrong without a word.
HISTORY, WHOLE = "history", "whole"
SCORER_DIR, CONTEXT_DIR, INFO_FILE, SUMS_FILE = "scorer", "context", "info.json", "sha256.json"
#: Why a served model is not served (its endpoints answer 503 with it), and what to do.
NOT_EXPORTED = (
    "no {name} in the BentoML store (salesml export leaves out a model without a champion in the MLflow registry:"
    " train it, or promote a version with salesml models promote); run salesml export (the service then loads it)"
)
UNLOADABLE = "{name} could not be loaded from the BentoML store: {why}; run salesml export (the service then loads it)"
NO_EXPORT = "nothing exported to {home}: run salesml export --data DIR, or serve --data DIR"
UNREADABLE_HISTORY = "the CRM history in the BentoML store could not be read: {why}; run salesml export --data DIR"
STAMP_FILE = "salesml-export.json"
REASON_CHARS = 200


@dataclass
class Exported:
    """A served model as read back from the BentoML store."""

    scorer: Scorer
    info: dict[str, Any]  # name, version, metrics, data window, exported_at

    @property
    def kind(self) -> str:
        """``prior`` or ``ml`` (``features.scoring.served_kind``)."""
        return served_kind(self.scorer.model_kind)

    @property
    def window_days(self) -> list[int]:
        """The model's time windows (deals: won within 30/60/90 days), empty when it has none."""
        return [head.days for head in self.scorer.heads]


def export_models(ds: Dataset, names: tuple[str, ...] = tuple(SERVED.values())) -> tuple[list[str], list[str]]:
    """Copy the champion of each name (those that exist), its challenger (``export_challenger``) and the dataset's
    history; the tags written, and why each model without a champion was left out (its endpoints answer 503)."""
    from features.scoring.pyfunc import CHAMPION, load_registered  # MLflow: only an export needs it, not the service

    tags, skipped = [], []
    for name in names:
        champion = None
        try:
            scorer, champion = load_registered(name, CHAMPION)
        except DataError as why:
            skipped.append(str(why))
        else:
            tags.append(_save_scorer(name, scorer, champion))
        tags.extend(export_challenger(name, champion))
        tags.extend(export_segments(name))
    if not tags:
        raise DataError("; ".join(skipped))
    metadata = {"source": ds.manifest.source, "exported_at": _now(), HISTORY: WHOLE}
    with bentoml.models.create(CONTEXT, metadata=metadata) as model:
        ServingContext.write(ds, Path(model.path) / CONTEXT_DIR)
        _write_sums(Path(model.path))
    tags.append(str(model.tag))
    _write_stamp(tags)
    return tags, skipped


def challenger_name(name: str) -> str:
    return f"{name}{CHALLENGER_SUFFIX}"


def export_challenger(name: str, champion: str | None) -> list[str]:
    """The challenger beside its champion (its tag), for shadow scoring. Without one that differs from the champion
    an earlier challenger's export is removed, so that the service never shadows with a version no longer
    challenger."""
    from features.scoring.pyfunc import CHALLENGER, alias_version, load_registered

    version = alias_version(name, CHALLENGER)
    if champion is None or version in (None, champion):
        _remove(challenger_name(name))
        return []
    scorer, version = load_registered(name, CHALLENGER)
    return [_save_scorer(name, scorer, version, challenger_name(name))]


def export_segments(name: str) -> list[str]:
    """Each segment champion of ``name`` (``features.scoring.segments``), its tag; an earlier export of a segment
    model that is no longer champion is removed, so that the service never routes to it."""
    from features.scoring.pyfunc import segment_champions

    champions = segment_champions(name)
    for stale in set(exported_segment_names(name)) - {found for found, _, _ in champions}:
        _remove(stale)
    return [_save_scorer(found, scorer, version) for found, scorer, version in champions]


def exported_segment_names(name: str) -> list[str]:
    """The segment models of ``name`` in the BentoML store, by name."""
    return sorted({m.tag.name for m in bentoml.models.list() if m.tag.name.startswith(segment_prefix(name))})


def _remove(name: str) -> None:
    """Every version of ``name`` out of the store (none: nothing to do)."""
    try:
        found = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        return
    for model in found:
        bentoml.models.delete(model.tag)


def export_stamp() -> Path:
    """The file each export rewrites last, which running services watch."""
    return bentoml_home() / STAMP_FILE


def _write_stamp(tags: list[str]) -> None:
    """Replaced whole once everything else is written, so that a service that sees it change finds the export
    complete."""
    partial = export_stamp().with_name(f".{STAMP_FILE}.{os.getpid()}")
    partial.write_text(json.dumps({"exported_at": _now(), "tags": tags}), encoding="utf-8")
    os.replace(partial, export_stamp())


def exported_history() -> Dataset:
    """The history the latest export holds, to export again beside other champions."""
    return load_history(stored(CONTEXT)).ds


def load_history(model: bentoml.Model | None) -> ServingContext:
    """The exported CRM history; DataError when nothing was exported or its files are damaged."""
    if model is None:
        raise DataError(NO_EXPORT.format(home=bentoml_home()))
    try:
        _check_sums(Path(model.path))
        return read_context(model.path)
    except Exception as error:  # whatever damaged history files raise
        raise DataError(UNREADABLE_HISTORY.format(why=short_reason(error))) from error


def _save_scorer(name: str, scorer: Scorer, version: str, stored_as: str | None = None) -> str:
    """The scorer of registry model ``name`` in the BentoML store, as ``stored_as`` (default: the same name)."""
    info = {
        "name": name,
        "version": version,
        "entity": scorer.entity,
        "label": scorer.metadata.get("label", "label"),
        "horizon_days": scorer.metadata.get("horizon_days"),
        "data_window": scorer.metadata.get("data_window", []),
        "metrics": scorer.metadata.get("metrics", {}),
        "segment": scorer.metadata.get("segment"),
        "exported_at": _now(),
    }
    labels = {"mlflow_version": version}
    with bentoml.models.create(stored_as or name, labels=labels, metadata=labels) as model:
        scorer.save(Path(model.path) / SCORER_DIR)
        (Path(model.path) / INFO_FILE).write_text(json.dumps(info, ensure_ascii=False, default=str), encoding="utf-8")
        _write_sums(Path(model.path))
    return str(model.tag)


def stored(name: str) -> bentoml.Model | None:
    """The latest version of a model in the BentoML store; None when there is none."""
    try:
        return bentoml.models.get(f"{name}:latest")
    except bentoml.exceptions.NotFound:
        return None


def load_served(name: str, model: bentoml.Model | None) -> Exported:
    """A served model from its BentoML store entry; DataError saying why it cannot be served (never exported, or
    damaged files), which its endpoints then answer with while the other models serve."""
    if model is None:
        raise DataError(NOT_EXPORTED.format(name=name))
    try:
        _check_sums(Path(model.path))
        info = json.loads((Path(model.path) / INFO_FILE).read_text(encoding="utf-8"))
        return Exported(Scorer.load(Path(model.path) / SCORER_DIR), info)
    except Exception as error:  # whatever a damaged file raises: LightGBM, JSON, a missing file or field
        raise DataError(UNLOADABLE.format(name=name, why=short_reason(error))) from error


def servable() -> tuple[dict[str, Exported], list[str]]:
    """The served models that load from the BentoML store, as each worker loads them, and why each other one is not
    served; DataError when nothing was exported, no model loads or the history does not, so that ``salesml serve``
    fails at once rather than start a server that is never ready."""
    context = stored(CONTEXT)
    if context is None:
        raise DataError(NO_EXPORT.format(home=bentoml_home()))
    models, reasons = {}, []
    with _native_stderr_muted():
        for name in SERVED.values():
            try:
                models[name] = load_served(name, stored(name))
            except DataError as why:
                reasons.append(str(why))
    if not models:
        raise DataError("no model can be served: " + "; ".join(reasons))
    load_history(context)
    return models, reasons


@contextmanager
def _native_stderr_muted() -> Iterator[None]:
    """LightGBM prints a damaged file's error to file descriptor 2 before it raises it; the command says it once."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _write_sums(directory: Path) -> None:
    """Each exported file's SHA-256, so that a damaged file is refused before it is parsed: LightGBM aborts the whole
    process on some cut-short models."""
    sums = {f.relative_to(directory).as_posix(): _sha256(f) for f in sorted(directory.rglob("*")) if f.is_file()}
    (directory / SUMS_FILE).write_text(json.dumps(sums, indent=1), encoding="utf-8")


def _check_sums(directory: Path) -> None:
    """DataError naming the first file that is missing or differs from what was exported (exports without sums are
    taken as they are)."""
    if not (directory / SUMS_FILE).exists():
        return
    for name, digest in json.loads((directory / SUMS_FILE).read_text(encoding="utf-8")).items():
        if not (directory / name).is_file() or _sha256(directory / name) != digest:
            raise DataError(f"{name} is not the file exported (damaged, cut short or missing)")


def _sha256(file: Path) -> str:
    return hashlib.sha256(file.read_bytes()).hexdigest()


def short_reason(error: Exception) -> str:
    """An exception as a short reason an operator reads in one line."""
    return (str(error) if isinstance(error, DataError) else f"{type(error).__name__}: {error}")[:REASON_CHARS]


def read_context(path: str) -> ServingContext:
    return ServingContext.read(Path(path) / CONTEXT_DIR)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def declared(name: str) -> bentoml.models.BentoModel | None:
    """The service's reference to a model in the store, which ``bentoml build`` packs into a bento (the workers read
    the store themselves, ``serving.reload``); None for one never exported, which BentoML would otherwise refuse to
    start without (the service starts, and that model's endpoints answer 503 with the reason)."""
    return bentoml.models.BentoModel(f"{name}:latest") if stored(name) is not None else None
