"""The frame rows being featurised, and what every feature family reads of them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset
from features.crm.schema import ENTITIES
from features.pit.activity_log import ActivityLog
from features.pit.counts import Query
from features.pit.history import STREAMS, Events, History, visible
from features.pit.keywords import Lexicon
from features.pit.timeline import DAY_NS, NAT, Array, column, column_values, times

#: A family's output: per feature name, its values in frame-row order.
Columns = dict[str, Array]


@dataclass
class FrameRows:
    """The frame rows being featurised, sorted by (entity, cutoff) so that look-ups run in order."""

    ds: Dataset
    entity: str
    codes: np.ndarray
    cutoffs: np.ndarray
    lexicon: Lexicon
    history: History
    overrides: dict[str, pd.Series] = field(default_factory=dict)  # per row, values in place of the entity's own
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    _since: dict[int, np.ndarray] = field(default_factory=dict)
    _attrs: dict[str, Array] = field(default_factory=dict)
    _queries: dict[tuple[str, ...], Query] = field(default_factory=dict)
    _log: ActivityLog | None = None
    _log_lock: threading.Lock = field(default_factory=threading.Lock)

    def table(self, name: str) -> pd.DataFrame:
        """A dataset table without the columns features must not read (``history.visible``)."""
        if name not in self._tables:
            self._tables[name] = visible(self.ds, name)
        return self._tables[name]

    @property
    def entities(self) -> pd.DataFrame:
        return self.table(ENTITIES[self.entity][0])

    def attr(self, name: str) -> Array:
        """The entity's own attribute, per row; where the frame overrides it (a what-if row), the frame's value."""
        own = self._own(name)
        return self.overrides[name].fillna(pd.Series(own, copy=False)).array if name in self.overrides else own

    def _own(self, name: str) -> Array:
        """Taken once per attribute (several families read the owner, the industry and the source), as an array:
        a Series around it costs more than what a request's row is then asked."""
        if name not in self._attrs:
            own = column_values(self.entities, name)
            self._attrs[name] = own if self._table_order else own.take(self.codes)
        return self._attrs[name]

    @cached_property
    def _table_order(self) -> bool:
        """Whether the rows are the entity table's rows in its order (a request's): its columns serve as they are."""
        n, index = len(self.codes), self.entities.index
        return n == len(index) and index.equals(pd.RangeIndex(n)) and bool((self.codes == np.arange(n)).all())

    def hidden_attr(self, name: str) -> pd.Series:
        """A post-outcome attribute, per row: only for the catalog's flagged copy that training guards."""
        return column(self.ds.get(ENTITIES[self.entity][0]), name).take(self.codes).reset_index(drop=True)

    @cached_property
    def created(self) -> np.ndarray:
        return times(self.entities, "created_at")[self.codes]

    @property
    def log(self) -> ActivityLog:
        """Built once, under a lock: families on several threads ask for it at once, and it indexes every activity
        (``functools.cached_property`` locks only before Python 3.12)."""
        with self._log_lock:
            if self._log is None:
                ids = column(self.entities, ENTITIES[self.entity][1])
                self._log = ActivityLog(self.table("activities"), self.entity, ids)
        return self._log

    @cached_property
    def start(self) -> np.ndarray:
        """Per row, the timeline position of its entity's first activity."""
        return self.log.tl.first(self.codes)

    @cached_property
    def now(self) -> np.ndarray:
        """Per row, the position just past its last activity known at the cutoff."""
        return self.log.tl.upto(self.codes, self.cutoffs)

    @cached_property
    def owner(self) -> Array:
        return self.attr("owner_rep_id")

    @cached_property
    def owner_leads(self) -> tuple[np.ndarray, np.ndarray]:
        """The owner's leads resolved by the cutoff and its smoothed lead conversion rate (rep and rep-fit read it)."""
        resolved, _, conversion = self.rate("rep_leads_resolved")
        return resolved, conversion

    @cached_property
    def seen(self) -> tuple[np.ndarray | slice, ...]:
        """Per change to the history, the rows that see it (calls scored in one batch see only their own)."""
        per_entity = self.history.per_entity
        ids = column(self.entities, ENTITIES[self.entity][1]).to_numpy(dtype=object)[self.codes] if per_entity else None
        return self.history.seen_by(ids)

    def count(self, stream: str) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the stream's events of the row's key by the cutoff, and the marked ones (``history.History``):
        the key is the row's own values of the stream's key columns (its owner, its owner and industry, its account)."""
        return self.history.count(
            stream, self._query(STREAMS[stream].keys), self.cutoffs, self.seen, self._own_events(stream)
        )

    def _query(self, keys: tuple[str, ...]) -> Query:
        """Joined once per key: several streams are keyed by the owner."""
        if keys not in self._queries:
            self._queries[keys] = Query([self.attr(k) for k in keys])
        return self._queries[keys]

    def rate(self, stream: str) -> tuple[np.ndarray, ...]:
        """``count``, and the share of marked events smoothed towards everyone's share at the cutoff."""
        n, k = self.count(stream)
        return n, k, self.history.smoothed(stream, n, k, self.cutoffs, self.seen)

    @cached_property
    def moved(self) -> dict[str, np.ndarray]:
        """Per column the frame overrides, the rows whose value differs from the entity's own (what-if rows)."""
        return {
            name: (given.notna() & given.ne(self._own(name)).fillna(True)).to_numpy(dtype=bool)
            for name, given in self.overrides.items()
        }

    def _own_events(self, stream: str) -> Events | None:
        """For a stream of this entity's table keyed by an overridden column: per row, the row's own entity's event
        by the cutoff, on what-if rows only. The history has the entity under its own value (its own owner), so
        without it the key the row asks about would lack the entity it is scored as having (one open lead short)."""
        spec = STREAMS[stream]
        moved = [self.moved[k] for k in spec.keys if k in self.moved]
        if spec.table != ENTITIES[self.entity][0] or not moved or not (rows := np.logical_or.reduce(moved)).any():
            return None
        at, marked = spec.events(self.entities)
        at, marked = at[self.codes], marked[self.codes]
        happened = rows & (at != NAT) & (at <= self.cutoffs)
        return happened, happened & marked

    def since(self, days: int) -> np.ndarray:
        """Per row, the position just past its last activity known ``days`` before the cutoff."""
        if days not in self._since:
            self._since[days] = self.log.tl.upto(self.codes, self.cutoffs - days * DAY_NS)
        return self._since[days]
