"""The CRM's past as the rep and account features read it: keyed event streams, counted per (key, cutoff).

An owner's record (deals closed and won, leads converted, open work), its fit with a kind of lead and an
account's deals are counts of one key's events (a rep; a rep and an industry; an account) that happened by the
cutoff, smoothed towards everyone's share at the cutoff. Counts add up over rows, so a history indexed once serves
many requests: the service keeps the export's ``History`` and, per request, takes out the export's rows of the
entities the request sends and puts in the request's rows (``History.replaced``). ``features.pit.build`` counts the
same streams either way, so a request is counted as training counts it (``tests/serving/test_serving_request.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from features.crm.dataset import STRING_DTYPE, Dataset, text_array
from features.crm.schema import ENTITIES, OUTCOME_COLUMNS
from features.pit.counts import FEW_ROWS, Indexed, Query, Scanned
from features.pit.timeline import (
    FEW_VALUES,
    NAT,
    Array,
    Vocabulary,
    arrow_strings,
    column,
    column_values,
    earliest,
    flags,
    gather,
    numeric,
    strings,
    times,
)

#: Rates are smoothed towards the overall rate known at the cutoff with this many pseudo-observations.
SMOOTHING = 5.0
#: Where a dataset keeps its indexed history (``Dataset.kept``).
KEPT = "history"

Kind = Literal["time", "text", "number"]
T = TypeVar("T")
_AS: dict[str, Callable[[pd.Series], Array]] = {"text": strings, "number": numeric}
_MISSING: dict[str, Any] = {"time": NAT, "text": None, "number": np.nan}  # what a row not found gets
Events = tuple[np.ndarray, np.ndarray]  # per row: when it happened (NAT: never), and whether it is marked
Rows = slice | np.ndarray  # the frame rows a part of the history is counted for: all of them, or a mask
EVERY: Rows = slice(None)


def visible(ds: Dataset, name: str) -> pd.DataFrame:
    """A dataset table without the columns features must not read: those the manifest excludes, and without
    event times the outcomes (their times are the snapshot's, so they would leak the labels)."""
    leaking = () if ds.manifest.has_event_times else OUTCOME_COLUMNS.get(name, ())
    table = ds.get(name)
    held = [c for c in (*ds.manifest.excluded_columns.get(name, ()), *leaking) if c in table.columns]
    return table.drop(columns=held) if held else table


def outcomes(deals: pd.DataFrame) -> Events:
    """When each deal closed with a known outcome (NAT: still open), and whether it was won."""
    settled = column(deals, "outcome").notna().to_numpy(dtype=bool)
    return np.where(settled, times(deals, "closed_at"), NAT), flags(column(deals, "outcome"), "won")


def resolutions(leads: pd.DataFrame) -> Events:
    """When each lead was resolved, converted or disqualified (NAT: still open), and whether by conversion."""
    converted = times(leads, "converted_at")
    resolved_at = earliest(converted, times(leads, "disqualified_at"))
    return resolved_at, (converted != NAT) & (converted == resolved_at)


def _created(table: pd.DataFrame) -> Events:
    return times(table, "created_at"), np.zeros(len(table), dtype=bool)


def _closed(table: pd.DataFrame) -> Events:
    """When each deal closed, with or without a recorded outcome."""
    return times(table, "closed_at"), np.zeros(len(table), dtype=bool)


@dataclass(frozen=True)
class Stream:
    """Events of one table, keyed by some of its columns."""

    table: str
    keys: tuple[str, ...]
    events: Callable[[pd.DataFrame], Events]

    def keys_of(self, table: pd.DataFrame) -> Query:
        """Each row's key (missing when any of its columns is)."""
        return Query([column_values(table, k) for k in self.keys])


STREAMS = {
    "rep_leads_created": Stream("leads", ("owner_rep_id",), _created),
    "rep_leads_resolved": Stream("leads", ("owner_rep_id",), resolutions),
    "rep_industry_leads_resolved": Stream("leads", ("owner_rep_id", "industry"), resolutions),
    "rep_source_leads_resolved": Stream("leads", ("owner_rep_id", "source"), resolutions),
    "rep_deals_created": Stream("opportunities", ("owner_rep_id",), _created),
    "rep_deals_ended": Stream("opportunities", ("owner_rep_id",), _closed),
    "rep_deals_closed": Stream("opportunities", ("owner_rep_id",), outcomes),
    "account_deals_closed": Stream("opportunities", ("account_id",), outcomes),
}


class _Part:
    """A dataset's streams and tables, each indexed on first use and kept; streams of a table of a few rows (a
    request's) share its events and keys (three streams count the leads' resolutions, two by the owner alone)."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self._streams: dict[str, Indexed | Scanned | None] = {}
        self._events: dict[tuple[str, Callable[[pd.DataFrame], Events]], Events] = {}
        self._keys: dict[tuple[str, tuple[str, ...]], Query] = {}
        self._tables: dict[str, pd.DataFrame] = {}
        self._vocabularies: dict[tuple[str, str], Vocabulary] = {}
        self._values: dict[tuple[str, str, Kind], Array] = {}
        self._listed: dict[tuple[str, str], list[str | None]] = {}

    def table(self, name: str) -> pd.DataFrame:
        if name not in self._tables:
            self._tables[name] = visible(self.ds, name)
        return self._tables[name]

    def values(self, name: str, key: str, kind: Kind) -> Array:
        if (name, key, kind) not in self._values:
            table = self.table(name)
            converted = times(table, key) if kind == "time" else _AS[kind](column(table, key))
            self._values[name, key, kind] = converted
        return self._values[name, key, kind]

    def listed(self, name: str, key: str) -> list[str | None]:
        """A text column's values as Python strings (None: missing), made once."""
        if (name, key) not in self._listed:
            self._listed[name, key] = arrow_strings(self.values(name, key, "text")).to_pylist()
        return self._listed[name, key]

    def vocabulary(self, name: str, key: str) -> Vocabulary:
        if (name, key) not in self._vocabularies:
            self._vocabularies[name, key] = Vocabulary(column(self.table(name), key))
        return self._vocabularies[name, key]

    def stream(self, name: str) -> Indexed | Scanned | None:
        """The stream, indexed (scanned when it has a few rows); None when the dataset has no such event (it
        then counts nothing: a request's new leads, say, are not resolved yet)."""
        if name not in self._streams:
            stream, indexed = STREAMS[name], None
            if stream.table in self.ds.tables and len(self.ds.tables[stream.table]) > 0:
                table = self.table(stream.table)
                few = len(table) <= FEW_ROWS  # a large table's events and keys are not kept once indexed
                events, keys = (self._events, self._keys) if few else ({}, {})
                at, marked = self._shared(events, (stream.table, stream.events), lambda: stream.events(table))
                if (at != NAT).any():
                    query = self._shared(keys, (stream.table, stream.keys), lambda: stream.keys_of(table))
                    indexed = (Scanned if few else Indexed)(query, at, marked)
            self._streams[name] = indexed
        return self._streams[name]

    @staticmethod
    def _shared(kept: dict[Any, T], key: Any, made: Callable[[], T]) -> T:
        return kept[key] if key in kept else kept.setdefault(key, made())


@dataclass(frozen=True)
class _Change:
    """Rows taken out of the history and rows put in, as seen by the frame rows of ``entities`` (None: every row)."""

    old: _Part
    new: _Part
    entities: frozenset[str] | None


@dataclass(frozen=True)
class Totals:
    """Everyone's events of a stream by each of some times (sorted, unique), and the marked ones: what a history
    holding only some keys' records (a partition of a distributed build) smooths its shares towards."""

    times: np.ndarray
    events: np.ndarray
    marked: np.ndarray

    def at(self, cutoffs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The counts by each cutoff; every cutoff must be one of ``times``."""
        i = np.searchsorted(self.times, cutoffs)
        if len(cutoffs) and (i.max() >= len(self.times) or (self.times[i] != cutoffs).any()):
            raise ValueError("totals asked at a time they were not counted for")
        return self.events[i], self.marked[i]


class History:
    """Counts of the streams over a dataset, or over one dataset with some rows taken out and others put in."""

    def __init__(self, base: _Part, changes: tuple[_Change, ...] = (), totals: dict[str, Totals] | None = None) -> None:
        self._base, self._changes, self._totals = base, changes, totals or {}

    def with_totals(self, totals: dict[str, Totals]) -> History:
        """This history smoothing towards ``totals`` (per stream) instead of its own dataset's events: the
        dataset of one partition holds only its keys' records, everyone's share was counted over all of them."""
        return History(self._base, self._changes, totals)

    @classmethod
    def of(cls, ds: Dataset) -> History:
        """The history of ``ds``: the index kept with it (``kept``), else one indexed as the counts need it."""
        part = ds.kept.get(KEPT)
        return cls(part if isinstance(part, _Part) else _Part(ds))

    def kept(self) -> History:
        """Index every stream now and keep the index with this history's dataset, so that later ``History.of`` on
        the same dataset object reuse it: the service's forecasts, sweeps and quality checks read the export it
        holds, which nothing changes. Another dataset, even with the same tables, is indexed on its own."""
        if self._changes:
            raise ValueError("only a dataset's own history can be kept")
        self._base.ds.kept[KEPT] = self.warm()._base
        return self

    def replaced(self, old: Dataset, new: Dataset, entities: frozenset[str] | None = None) -> History:
        """This history without ``old``'s rows and with ``new``'s: the service's history with a request's entities
        in place of the export's rows for them, counted without indexing the whole history again. With
        ``entities``, only the frame rows of those entities see the change: calls scored in one batch each see
        the history with their own rows alone."""
        return History(self._base, (*self._changes, _Change(_Part(old), _Part(new), entities)), self._totals)

    @property
    def per_entity(self) -> bool:
        """Whether counts need each frame row's entity id (some change is seen by some rows only)."""
        return any(change.entities is not None for change in self._changes)

    def warm(self) -> History:
        """Index every stream, its keys' counts in all (``Indexed.settled``) and every look-up now (the service does
        it at start, so no request waits for it)."""
        for name in STREAMS:
            if isinstance(indexed := self._base.stream(name), Indexed):
                indexed.settled()
        for table, key in (("reps", "rep_id"), ("accounts", "account_id"), *ENTITIES.values()):
            self._base.vocabulary(table, key).codes(pd.Series([], dtype=STRING_DTYPE))
        return self

    def table(self, name: str) -> pd.DataFrame:
        """A table of the history's dataset as features may read it (reps and accounts: no request changes them)."""
        return self._base.table(name)

    def gathered(self, name: str, key: str, kind: Kind, rows: np.ndarray) -> Array:
        """A column of ``table(name)`` at ``rows`` (-1: no such row, missing there): int64 ns times (``time``, NaT's),
        canonical strings (``text``) or floats (``number``). Each column is converted once and kept: the reps' and
        accounts' attributes every request reads. A few rows' text is picked from the column's Python strings: an
        Arrow take costs several times more amid a request's work."""
        if kind == "text" and len(rows) <= FEW_VALUES:
            listed = self._base.listed(name, key)
            picked = [None if row < 0 else listed[row] for row in rows.tolist()]
            return text_array(picked)
        return gather(self._base.values(name, key, kind), rows, _MISSING[kind])

    def rows(self, name: str, key: str, asked: pd.Series | Array | list[str | None]) -> np.ndarray:
        """Per value of ``asked``, its row in ``table(name)`` by ``key`` (-1: none)."""
        return self._base.vocabulary(name, key).codes(asked)

    def seen_by(self, entities: np.ndarray | None = None) -> tuple[Rows, ...]:
        """Per change, the frame rows that see it (``entities``: each row's entity id, needed when ``per_entity``):
        worked out once per feature build and passed to every count."""
        if self.per_entity and entities is None:
            raise ValueError("this history changes per entity: give the rows' entity ids")
        return tuple(
            EVERY if change.entities is None else np.isin(entities, list(change.entities)) for change in self._changes
        )

    def count(
        self,
        name: str,
        asked: Query,
        cutoffs: np.ndarray,
        seen: tuple[Rows, ...] | None = None,
        extra: Events | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per frame row, the events of its key (``asked``: the stream's key columns' values) by its cutoff, and the
        marked ones (``seen``: from ``seen_by``; ``extra``: per row, events the history lacks, 0/1 each)."""

        def counted(indexed: Indexed | Scanned, rows: Rows) -> tuple[np.ndarray, np.ndarray]:
            return indexed.count(asked, cutoffs) if rows is EVERY else indexed.count(asked[rows], cutoffs[rows])

        n, k = self._sum(name, counted, cutoffs, seen)
        return (n, k) if extra is None else (n + extra[0], k + extra[1])

    def smoothed(
        self, name: str, n: np.ndarray, k: np.ndarray, cutoffs: np.ndarray, seen: tuple[Rows, ...] | None = None
    ) -> np.ndarray:
        """The share ``k / n`` of a count (``count``), smoothed towards everyone's share at the cutoff."""
        if name in self._totals:
            n_all, k_all = self._totals[name].at(cutoffs)
        else:
            n_all, k_all = self._sum(name, lambda indexed, rows: indexed.total(cutoffs[rows]), cutoffs, seen)
        prior = (k_all + 1) / (n_all + 2)
        return (k + SMOOTHING * prior) / (n + SMOOTHING)

    def _sum(
        self,
        name: str,
        counted: Callable[[Indexed | Scanned, Rows], tuple[np.ndarray, np.ndarray]],
        cutoffs: np.ndarray,
        seen: tuple[Rows, ...] | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """A count over the base and the changes each row sees, signed (rows taken out count negatively)."""
        base = self._base.stream(name)
        if base is None:
            n, k = np.zeros(len(cutoffs), dtype=np.int64), np.zeros(len(cutoffs), dtype=np.int64)
        else:  # the base's counts are new arrays: the changes are added to them in place
            n, k = (np.asarray(counts, dtype=np.int64) for counts in counted(base, EVERY))
        for change, rows in zip(self._changes, self.seen_by() if seen is None else seen, strict=True):
            for sign, part in ((-1, change.old), (1, change.new)):
                indexed = part.stream(name)
                if indexed is not None and (rows is EVERY or rows.any()):
                    part_n, part_k = counted(indexed, rows)
                    n[rows] += sign * part_n
                    k[rows] += sign * part_k
        return n, k
