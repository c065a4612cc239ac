"""A running service takes a new export without a restart.

Each worker holds what it serves as one ``Loaded`` value, replaced whole: a call reads it once, so one model version
scores it and its answer names that version, even while a reload happens. Each export rewrites the store's stamp
file last (``serving.store.export_stamp``). A thread in every worker looks at the stamp once a second (one
``stat``) and, when it changed, loads the new export beside the old one and swaps it in: workers are separate
processes, and this way each one reloads without any of them having to reach the others. ``POST /v1/admin/reload``
loads at once in the worker that takes the call and touches the stamp, so that the others follow within a second.

Each ``Loaded`` writes its calls' records with its own ``PredictionLog``: what the log hashes whole (the schema's
personal fields and the free-text columns of the history's source) follows the history that answered the call.

A reload that fails (damaged files, a model that was served and no longer loads, an unreadable history) leaves the
worker serving what it had; the admin call answers 503 with why, and the watch logs it.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path

import pandas as pd

from features.crm.privacy import Redactor
from features.errors import DataError, Unavailable
from features.scoring.segments import Segmented
from serving.context import ServingContext
from serving.predlog import PredictionLog
from serving.schemas.forecast import ForecastOptions
from serving.schemas.models import ModelInfo, ModelsAnswer, UnavailableModel
from serving.segments import load_segment_models
from serving.store import (
    CONTEXT,
    HISTORY,
    SERVED,
    WHOLE,
    Exported,
    challenger_name,
    export_stamp,
    load_history,
    load_served,
    short_reason,
    stored,
)

CHECK_INTERVAL_S = 1.0
NO_HISTORY = "no CRM history in this service; run `salesml export`"
FAILED = "reload failed, still serving {versions}: {why}"
logger = logging.getLogger(__name__)
Stamp = tuple[int, int, int] | None  # the stamp file's inode, size and modification time; None: no stamp


@dataclass(frozen=True)
class Loaded:
    """What a worker serves: the models that load (by entity), why each other one does not, the history, the
    challengers exported beside them (by entity), which shadow-score (``serving.shadow``), and the prediction log its
    calls are written to, redacted for its history."""

    models: dict[str, Exported]
    unavailable: dict[str, str]
    context: ServingContext | None
    context_exported_at: str | None
    whole_history: bool  # the export holds every table (earlier ones lack what forecasts read)
    challengers: dict[str, Exported]
    log: PredictionLog
    segments: dict[str, list[Exported]]  # by entity: the segment champions rows are routed to (serving.segments)

    @classmethod
    def read(cls, log_dir: Path) -> Loaded:
        """The latest export in the BentoML store, logging to ``log_dir`` with the installation's key; DataError when
        its history (or the key) does not load."""
        models, unavailable = {}, {}
        for entity, name in SERVED.items():
            try:
                models[entity] = load_served(name, stored(name))
            except DataError as why:
                unavailable[entity] = str(why)
        found = stored(CONTEXT)
        context = load_history(found) if found is not None else None
        metadata = found.info.metadata if found is not None else {}
        whole = metadata.get(HISTORY) == WHOLE
        log = PredictionLog(log_dir, Redactor.from_settings(context.ds.manifest if context is not None else None))
        segments = {entity: load_segment_models(name) for entity, name in SERVED.items() if entity in models}
        return cls(models, unavailable, context, metadata.get("exported_at"), whole, _challengers(), log, segments)

    def ready(self, entity: str) -> tuple[ServingContext, Exported]:
        """The history and the entity's model; Unavailable (503) with why when either is missing."""
        if entity not in self.models:
            raise Unavailable(self.unavailable[entity])
        if self.context is None:
            raise Unavailable(NO_HISTORY)
        return self.context, self.models[entity]

    def routed(self, entity: str) -> tuple[ServingContext, Exported]:
        """``ready``, with the model's scorer routing each row to its segment's champion (``Segmented``)."""
        context, model = self.ready(entity)
        segments = tuple(m.scorer for m in self.segments.get(entity, []))
        return context, replace(model, scorer=Segmented(model.scorer, segments)) if segments else model

    def served(self) -> list[Exported]:
        """Every model served: the global ones and the segment champions."""
        return [*self.models.values(), *chain(*self.segments.values())]

    def forecaster(self, request: ForecastOptions) -> tuple[ServingContext, Exported, pd.Timestamp]:
        """What a forecast call runs with: the history, the close-probability model and the checked as-of time."""
        context, model = self.ready("opportunity")
        if not self.whole_history:
            raise Unavailable("the exported history predates forecasts; run `salesml export`")
        return context, model, pd.Timestamp(request.at(*context.span()))

    def answer(self) -> ModelsAnswer:
        """``GET /v1/models``: the models served, and why any other is not."""
        return ModelsAnswer(
            models=[ModelInfo(**m.info, kind=m.kind) for m in self.served()],
            context_exported_at=self.context_exported_at,
            unavailable=[UnavailableModel(name=SERVED[e], reason=why) for e, why in self.unavailable.items()],
        )

    def versions(self) -> str:
        return ", ".join(f"{m.info['name']} v{m.info['version']}" for m in self.models.values()) or "no model"


def _challengers() -> dict[str, Exported]:
    """The exported challengers that load; one that does not is logged and not shadowed with (never a failed load:
    the champions serve either way)."""
    out = {}
    for entity, name in SERVED.items():
        if (found := stored(challenger_name(name))) is None:
            continue
        try:
            out[entity] = load_served(challenger_name(name), found)
        except DataError as why:
            logger.error("not shadowing %s: %s", name, why)
    return out


class LiveModels:
    """A worker's ``Loaded`` (``current``), replaced whole when the export changes; see the module docstring."""

    def __init__(self, log_dir: Path, interval_s: float = CHECK_INTERVAL_S) -> None:
        self._lock = threading.Lock()
        self._seen = _stamp()
        self._log_dir = log_dir
        self.current = Loaded.read(log_dir)
        watch = threading.Thread(target=self._watch, args=(interval_s,), name="salesml-reload", daemon=True)
        watch.start()

    def reload(self) -> Loaded:
        """Load the latest export and serve it, then touch the stamp so that the other workers follow; Unavailable
        (the old models kept) when it does not load whole."""
        with self._lock:
            self._swap()
            try:
                export_stamp().touch()
            except OSError as exc:  # a read-only store (a built bento): this worker reloaded, the others cannot follow
                logger.warning("could not touch %s (%s): other workers keep their models", export_stamp(), exc)
            self._seen = _stamp()
            return self.current

    def _swap(self) -> None:
        """``current`` becomes the latest export unless it would serve less than now."""
        old = self.current
        try:
            new = Loaded.read(self._log_dir)
        except Exception as error:  # whatever the store raises: the worker keeps serving, and its watch goes on
            raise Unavailable(FAILED.format(versions=old.versions(), why=short_reason(error))) from error
        lost = [why for entity, why in new.unavailable.items() if entity in old.models]
        if lost or (new.context is None and old.context is not None):
            raise Unavailable(FAILED.format(versions=old.versions(), why="; ".join(lost) or NO_HISTORY))
        self.current = new
        settle()
        logger.info("reloaded: serving %s", new.versions())

    def _watch(self, interval_s: float) -> None:
        """Reload when the stamp changes; a failed reload is logged and waits for the next export."""
        while True:
            time.sleep(interval_s)
            with self._lock:
                if (stamp := _stamp()) == self._seen:
                    continue
                self._seen = stamp
                try:
                    self._swap()
                except Unavailable as why:
                    logger.error("%s", why)


def settle() -> None:
    """Loaded models and history are frozen out of the collector's scans (a batch's many young objects would
    otherwise make each collection rescan them); what a reload replaced is unfrozen first, so that it is freed."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _stamp() -> Stamp:
    try:
        found = export_stamp().stat()
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns
