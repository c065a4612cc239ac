"""The vectorised point-in-time join every feature family is built on, and the column helpers around it.

``Timeline`` sorts events of many entities by (entity, time) so that what each (entity, cutoff) query saw is
a ``np.searchsorted`` away; ``Subset`` counts and maxima over some of its events. When each kind of event
becomes known is in ``features.pit.frames``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.crm.dataset import STRING_DTYPE, time_ns

NAT = np.iinfo(np.int64).min
HOUR_NS = 3_600 * 10**9
DAY_NS = 24 * HOUR_NS

ExtensionArray = pd.api.extensions.ExtensionArray
Array = np.ndarray | ExtensionArray


class Timeline:
    """Events of many entities sorted by (entity code, time): a point-in-time join by ``np.searchsorted``.

    Times are replaced by their rank among the distinct event times, so (code, rank) packs into one sorted
    int64 key without losing nanosecond exactness. ``upto`` gives, per query, the position just past the
    entity's last event with time <= cutoff; window counts are differences of positions, and per-event values
    become per-query aggregates through ``prefix`` sums and ``Subset``. Events with a negative code or no time
    are left out. Events at the same time are ordered by ``tiebreak`` (small ints >= 0) if given, else
    arbitrarily: every aggregate is read after all of an entity's events at one time.
    """

    def __init__(self, codes: np.ndarray, times: np.ndarray, tiebreak: np.ndarray | None = None) -> None:
        keep = np.flatnonzero((codes >= 0) & (times != NAT))
        kept, at = codes[keep].astype(np.int64), times[keep]
        by_time = ordered(at)
        self.times, ranked = _distinct(at[by_time])
        self._stride = len(self.times) + 1
        self._ties = 1 if tiebreak is None else int(tiebreak.max(initial=0)) + 1
        if tiebreak is None:  # by entity, then time: the events in time order sorted stably by entity
            within = ordered(kept[by_time])
            order, rank = by_time[within], ranked[within]
            self.keys = (kept[order] * self._stride + rank + 1) * self._ties
        else:
            rank = np.empty(len(keep), dtype=np.int64)
            rank[by_time] = ranked
            key = (kept * self._stride + rank + 1) * self._ties + tiebreak[keep]
            order = ordered(key)
            self.keys = key[order]
        self.rows = keep[order]  # input row of each event, in timeline order
        self.codes = kept[order]

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, values: np.ndarray) -> np.ndarray:
        """Per-event input values in timeline order."""
        return values[self.rows]

    def upto(self, codes: np.ndarray, cutoffs: np.ndarray) -> np.ndarray:
        """Per query, the position just past the entity's last event with time <= cutoff."""
        return search(self.keys, (codes * self._stride + search(self.times, cutoffs) + 1) * self._ties - 1)

    def first(self, codes: np.ndarray) -> np.ndarray:
        """Per query, the position of the entity's first event (== ``upto`` when none is visible)."""
        return search(self.keys, (codes * self._stride + 1) * self._ties - 1)

    def prefix(self, values: np.ndarray) -> np.ndarray:
        """Running sums with a leading 0: the sum over positions [lo, hi) is ``p[hi] - p[lo]`` (exact for ints)."""
        out = np.zeros(len(values) + 1, dtype=np.int32 if values.dtype == bool else values.dtype)
        np.cumsum(values, out=out[1:])
        return out

    def last(self, values: np.ndarray, start: np.ndarray, pos: np.ndarray, fill: float | int) -> np.ndarray:
        """Per query, ``values`` at the entity's last visible event, ``fill`` when none is visible."""
        return np.where(pos > start, _take(values, pos - 1, fill), fill)


class Subset:
    """Some of a timeline's events (a mask in timeline order): per-query counts of them and maxima over them."""

    def __init__(self, timeline: Timeline, mask: np.ndarray) -> None:
        self.timeline, self.mask = timeline, mask
        self.prefix = timeline.prefix(mask)

    def count(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Per query, the subset's events at timeline positions [lo, hi)."""
        return self.prefix[hi] - self.prefix[lo]

    def latest(self, ranked: Ranked, start: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Per query, the largest of ``ranked``'s values over its visible events here; -1: none.

        A running max over the subset's events alone: their packed values restart it per entity by themselves.
        """
        running = np.maximum.accumulate(ranked.packed[self.mask])
        end = self.prefix[pos]
        return np.where(end > self.prefix[start], _take(running, end - 1, -1) % ranked.span, -1)


class Ranked:
    """Per-event ranks (ints >= 0 on the events a maximum is taken over) packed with their entity's code as
    ``code * span + rank``: every entity's packed values exceed those of the entities before it on the timeline, so a
    running max over any subset of events restarts at each entity by itself, and ``% span`` gives the rank back.
    Packed once, shared by every subset's maximum."""

    def __init__(self, timeline: Timeline, ranks: np.ndarray) -> None:
        self.span = int(ranks.max(initial=0)) + 1
        self.packed = timeline.codes * self.span + ranks


def _take(values: np.ndarray, index: np.ndarray, fill: float | int) -> np.ndarray:
    """``values[index]`` where valid, ``fill`` elsewhere (and everywhere when ``values`` is empty)."""
    if not len(values):
        return np.full(len(index), fill)
    return values[np.minimum(np.maximum(index, 0), len(values) - 1)]  # np.clip's wrapper costs more on few rows


def dense_rank(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values, sorted, and each value's position among them (one sort: faster than np.unique)."""
    order = ordered(values)
    distinct, ranked = _distinct(values[order])
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = ranked
    return distinct, rank


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values' distinct values and each value's position among them."""
    new = np.ones(len(values), dtype=bool)
    new[1:] = values[1:] != values[:-1]
    return values[new], np.cumsum(new) - 1


def ordered(values: np.ndarray) -> np.ndarray:
    """The positions that sort integer ``values``, equal values in position order (a stable argsort). Where they fit,
    the values (less the smallest, over their common step: whole seconds in nanoseconds have one of 10**9) are
    packed with their positions into one int64 and sorted as plain numbers, several times faster than an argsort."""
    n = len(values)
    if n < 2:
        return np.arange(n, dtype=np.int64)
    low = int(values.min())
    span = int(values.max()) - low
    if span >= 2**62:
        return np.argsort(values, kind="stable")
    offset = values.astype(np.int64) - low
    step = int(np.gcd.reduce(offset)) or 1
    bits = (n - 1).bit_length()
    if (span // step).bit_length() + bits > 62:
        return np.argsort(values, kind="stable")
    packed = ((offset // step) << bits) | np.arange(n, dtype=np.int64)
    packed.sort()
    return packed & ((1 << bits) - 1)


def search(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """``np.searchsorted(side='right')`` with the needles sorted first: ordered look-ups are cache friendly. Needles
    already in order (a frame's (entity, cutoff) keys, as ``build_features`` sorts it) are searched as they are:
    one pass to check instead of a sort (a third of a lead build's time at 2 M activities)."""
    if len(needles) < 2 or bool((needles[1:] >= needles[:-1]).all()):
        return np.searchsorted(haystack, needles, side="right")
    order = np.argsort(needles)
    out = np.empty(len(needles), dtype=np.int64)
    out[order] = np.searchsorted(haystack, needles[order], side="right")
    return out


def _canonical(values: pd.Series | Array) -> ExtensionArray:
    """Values (a Series or a column's array) as an array of canonical strings (``astype`` costs 10 us even when
    they already are)."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, np.ndarray):  # a column of numbers read as text
        array = pd.arrays.NumpyExtensionArray(array)
    return array if array.dtype == STRING_DTYPE else array.astype(STRING_DTYPE)


def strings(values: pd.Series | Array) -> ExtensionArray:
    """Values as an array of canonical strings of their own."""
    return _canonical(values).copy()


def arrow_strings(values: pd.Series | Array) -> pa.Array:
    """Values as one contiguous Arrow string array (Parquet reads give chunked ones)."""
    array = pa.array(_canonical(values), type=pa.large_string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def lookup(values: pd.Series | ExtensionArray, universe: pd.Series | ExtensionArray | pa.Array) -> np.ndarray:
    """Position of each value in ``universe`` (the first of equal ones; -1: missing or unknown); hashed in Arrow
    for speed, or for a few values in a few (a request's) read from a dictionary, a third of Arrow's fixed cost."""
    value_set = universe if isinstance(universe, pa.Array) else arrow_strings(universe)
    if len(values) <= FEW_VALUES and len(value_set) <= FEW_VALUES:
        return _positions(_first_positions(value_set.to_pylist()), arrow_strings(values).to_pylist())
    found = pc.index_in(arrow_strings(values), value_set=value_set, skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _first_positions(universe: list[str | None]) -> dict[str | None, int]:
    """Each value's position in ``universe``, the first of equal ones; missing (None): -1."""
    found: dict[str | None, int] = {}
    for i, value in enumerate(universe):
        found.setdefault(value, i)
    found[None] = -1
    return found


def _positions(found: dict[str | None, int], values: list[str | None]) -> np.ndarray:
    """Each value's position in ``found`` (``_first_positions``); -1: missing or unknown."""
    return np.fromiter((found.get(v, -1) for v in values), np.int64, len(values))


def column(df: pd.DataFrame, name: str) -> pd.Series:
    """A column, or all missing values when the source lacks it."""
    return df[name] if name in df.columns else pd.Series(pd.NA, index=df.index, dtype=STRING_DTYPE)


def column_values(df: pd.DataFrame, name: str) -> Array:
    """``column``'s values as an array (``column_array``), all missing when the source lacks the column."""
    return column_array(df, name) if name in df.columns else column(df, name).array


def present(values: pd.Series | Array) -> np.ndarray:
    """Whether each value is there (not missing), as numpy bools: a seventh of ``Series.notna``'s time."""
    return ~pd.isna(values.array if isinstance(values, pd.Series) else values)


def flags(values: pd.Series, *allowed: str) -> np.ndarray:
    """Whether each value is one of ``allowed`` (missing: False); in Arrow, a third of pandas' ``isin`` time."""
    found = pc.is_in(arrow_strings(values), value_set=pa.array(allowed, type=pa.large_string()))
    return found.fill_null(False).to_numpy(zero_copy_only=False)


#: Up to this many values, a look-up reads a dictionary; beyond, one hashed Arrow pass is faster.
FEW_VALUES = 512


class Vocabulary:
    """Positions of known values (the first of equal ones), for many look-ups against one column: a request's
    few ids cost a dictionary read each instead of hashing the whole history's ids again."""

    def __init__(self, universe: pd.Series) -> None:
        self.universe = universe.reset_index(drop=True)
        self._positions: dict[str | None, int] | None = None

    def codes(self, values: pd.Series | Array | list[str | None]) -> np.ndarray:
        """Position of each value (-1: missing or unknown), as ``lookup`` gives; a request's ids may come as a list."""
        if len(values) > FEW_VALUES:
            return lookup(pd.array(values, dtype=STRING_DTYPE) if isinstance(values, list) else values, self.universe)
        return self.positions(values if isinstance(values, list) else arrow_strings(values).to_pylist())

    def positions(self, values: list[str | None]) -> np.ndarray:
        """``codes`` of a few values already read into Python (a request's keys, read once for every look-up)."""
        if self._positions is None:
            self._positions = _first_positions(arrow_strings(self.universe).to_pylist())
        return _positions(self._positions, values)


def numeric(values: pd.Series | Array) -> np.ndarray:
    """Values (a Series or a column's array) as float64: booleans 0/1, missing or unreadable NaN."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array.dtype, pd.BooleanDtype):
        array = array.astype("Float64")
    elif not pd.api.types.is_numeric_dtype(array.dtype):
        array = pd.to_numeric(array, errors="coerce")
    if isinstance(array, np.ndarray):  # a float or int column's own array: copied, as ``to_numpy`` would
        return np.array(array, dtype=np.float64)
    return array.to_numpy(dtype=np.float64, na_value=np.nan)


def gather(values: Array, rows: np.ndarray, fill: object) -> Array:
    """``values[rows]``, with ``fill`` where ``rows`` is -1 (no such row)."""
    if isinstance(values, np.ndarray):
        if np.can_cast(np.min_scalar_type(fill), values.dtype):  # no pandas overhead
            return np.where(rows >= 0, _take(values, rows, fill), fill).astype(values.dtype, copy=False)
        return pd.api.extensions.take(values, rows, allow_fill=True, fill_value=fill)  # upcast to hold the fill
    return values.take(rows, allow_fill=True, fill_value=fill)


def times(df: pd.DataFrame, column: str) -> np.ndarray:
    """A time column as int64 ns (NaT: ``NAT``); all NaT when the source lacks the column. Read from the column's
    array: the Series ``df[column]`` makes around it costs more than the conversion of a request's rows."""
    return time_ns(column_array(df, column)) if column in df.columns else np.full(len(df), NAT)


def column_array(df: pd.DataFrame, name: str) -> ExtensionArray | np.ndarray:
    """A column's array (KeyError for a column ``df`` lacks), without the Series ``df[name]`` makes around it,
    which costs more than what a request's few rows do with it."""
    return df._get_column_array(df.columns.get_loc(name))


def to_time(ns: np.ndarray) -> pd.Series:
    """int64 ns (``NAT``: missing) as canonical UTC times."""
    return pd.Series(pd.to_datetime(ns, utc=True), dtype="datetime64[ns, UTC]")


def earliest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise earliest of two time arrays, ignoring missing times."""
    return np.where(a == NAT, b, np.where(b == NAT, a, np.minimum(a, b)))
