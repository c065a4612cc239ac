"""Point-in-time features one key at a time: which records each feature family needs, and one partition's build.

Every family reads the records of one key per frame row: the entity's own activities and stage changes, its owner
rep's leads and deals, its account's deals, a deal's originating lead and its activities, the deals of its product.
A ``Join`` names that key (a column of the entity's table), the column holding it in each table the families
read, and which of their columns it gives. A distributed build (``features.pit.distributed``) sends each frame row
and each record to the partition of its key's ``bucket``; ``build_partition`` then runs the same family code as
``features.pit.build.build_features`` on that partition's records alone, which are all the records of its keys,
so every value is the one the whole dataset gives. Only everyone's share at the cutoff, which rep and account
rates are smoothed towards, spans all keys: it is counted apart (``history.Totals``) and passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crm.dataset import STRING_DTYPE, Dataset, Manifest, time_ns, to_utc
from features.crm.schema import ENTITIES
from features.pit.build import OVERRIDABLE, SHARED, Family, family_columns
from features.pit.families.account import account
from features.pit.families.deal import deal
from features.pit.families.rep import rep, rep_fit
from features.pit.families.response import lead_origin
from features.pit.families.stage import stage
from features.pit.history import STREAMS, History, Totals, visible
from features.pit.keywords import Lexicon
from features.pit.timeline import NAT, arrow_strings, column

#: Columns a distributed build adds: a row's position in its frame or table, and the partition of its key.
ROW, BUCKET = "_row", "_bucket"
#: Prefixes of the frame columns carrying everyone's counts of a stream at the row's cutoff (``with_totals``).
EVENTS, MARKED = "_events:", "_marked:"
#: Every missing key hashes as this value, so records without a key meet the frame rows without one.
MISSING_KEY = ""
#: ``key_hash``'s constants: the polynomial's base (FNV-1a's 64-bit prime), a length multiplier, splitmix64's steps.
_BASE, _GOLDEN = np.uint64(0x100000001B3), np.uint64(0x9E3779B97F4A7C15)
_SPLITMIX = ((np.uint64(30), np.uint64(0xBF58476D1CE4E5B9)), (np.uint64(27), np.uint64(0x94D049BB133111EB)))


@dataclass(frozen=True)
class Join:
    """Families whose values for a frame row depend only on the records of one key of that row.

    ``key``: the entity table's column holding the key (the frame may override it when ``overridable``);
    ``tables``: per table the families read, its column holding the key; ``columns``: the families' columns this
    join gives (None: all of them), when another join gives the others.
    """

    key: str
    tables: dict[str, str]
    families: tuple[Family, ...]
    columns: frozenset[str] | None = None
    overridable: bool = False


_OWNER_TABLES = {"leads": "owner_rep_id", "opportunities": "owner_rep_id", "reps": "rep_id"}
_ACCOUNT = Join("account_id", {"opportunities": "account_id", "accounts": "account_id"}, (account,))

JOINS: dict[str, tuple[Join, ...]] = {
    "lead": (
        Join("lead_id", {"leads": "lead_id", "activities": "entity_id"}, SHARED),
        Join("owner_rep_id", _OWNER_TABLES, (rep, rep_fit), overridable=True),
        _ACCOUNT,
    ),
    "opportunity": (
        Join(
            "opportunity_id",
            {"opportunities": "opportunity_id", "activities": "entity_id", "stage_changes": "opportunity_id"},
            (*SHARED, stage),
        ),
        Join("lead_id", {"leads": "lead_id", "activities": "entity_id"}, (lead_origin,)),
        Join("owner_rep_id", _OWNER_TABLES, (rep,), overridable=True),
        # a deal's amount against its own rep's deals (never the what-if owner's) and against its product's deals
        Join("owner_rep_id", {"opportunities": "owner_rep_id"}, (deal,), frozenset({"amount_vs_rep_median"})),
        Join(
            "product",
            {"opportunities": "product"},
            (deal,),
            frozenset({"amount_vs_product_median", "expected_close_slip_days"}),
        ),
        _ACCOUNT,
    ),
}


def bucket(keys: pd.Series, partitions: int) -> np.ndarray:
    """The partition of each key (a missing key as ``MISSING_KEY``): the same in every process and run."""
    return (key_hash(keys.astype(STRING_DTYPE).fillna(MISSING_KEY)) % np.uint64(partitions)).astype(np.int64)


def key_hash(keys: pd.Series) -> np.ndarray:
    """A 64-bit hash of each string (no missing values), computed on the strings' bytes in place: a polynomial over
    the bytes, then splitmix64's finaliser. pandas hashes each distinct string as a Python object, a cost that grows
    with the number of distinct keys a part holds, and so faster than the data once keys outnumber a part's rows."""
    array = arrow_strings(keys)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = array.buffers()[2]
    raw = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    hashed = lengths.astype(np.uint64) * _GOLDEN
    if len(raw):
        powers = np.cumprod(np.full(int(lengths.max()), _BASE, dtype=np.uint64))  # wraps around 2**64, as meant
        starts = offsets[:-1] - offsets[0]
        place = np.arange(len(raw), dtype=np.int64) - np.repeat(starts, lengths)
        terms = (raw.astype(np.uint64) + np.uint64(1)) * powers[place]
        filled = lengths > 0
        hashed[filled] += np.add.reduceat(terms, starts[filled])
    for shift, multiplier in _SPLITMIX:
        hashed ^= hashed >> shift
        hashed *= multiplier
    return hashed ^ (hashed >> np.uint64(31))


def frame_keys(join: Join, frame: pd.DataFrame, entities: pd.DataFrame) -> pd.Series:
    """Each frame row's key for ``join``: its entity's value (``entities``: the entity's row per frame row), or
    the frame's own where the join lets the frame override it and the frame sets it."""
    own = column(entities, join.key).astype(STRING_DTYPE).reset_index(drop=True)
    if join.overridable and join.key in OVERRIDABLE and join.key in frame.columns:
        return frame[join.key].astype(STRING_DTYPE).reset_index(drop=True).fillna(own)
    return own


def build_partition(
    frame: pd.DataFrame,
    carried: pd.DataFrame,
    *tables: pd.DataFrame,
    join: Join,
    entity: str,
    manifest: Manifest,
    names: tuple[str, ...],
    lexicon: Lexicon,
) -> pd.DataFrame:
    """The join's columns for one partition's frame rows (with their ``ROW``), from the partition's records.

    ``carried``: the frame rows' own entity records (the entity may sit in another key's partition); ``tables``:
    the records of the partition's keys, one per name in ``names``, each with its ``ROW`` in the whole table, so
    that the records keep the whole table's order. The frame rows carry everyone's counts at their cutoffs
    (``with_totals``).
    """
    entity_table = ENTITIES[entity][0]
    parts = dict(zip(names, tables, strict=True))
    parts[entity_table] = pd.concat([carried, parts[entity_table]]) if entity_table in parts else carried
    ds = Dataset(manifest, {name: _in_table_order(part) for name, part in parts.items()})
    frame = frame.sort_values(ROW, kind="stable").reset_index(drop=True)
    history = History.of(ds).with_totals(totals_of(frame))
    columns = family_columns(ds, entity, frame, join.families, lexicon=lexicon, history=history)
    kept = columns if join.columns is None else {name: columns[name] for name in sorted(join.columns)}
    return pd.concat([frame[[ROW]], pd.DataFrame(kept)], axis=1)


@dataclass(frozen=True)
class Binned:
    """Some of a stream's events as counts per time bin: bin ``i`` holds the events after ``times[i - 1]`` up to
    ``times[i]`` (bins sorted, unique, only those with events). A table part's counts take the room of its events,
    not of the times, which at scale number millions for every part."""

    bins: np.ndarray
    events: np.ndarray
    marked: np.ndarray

    def totals(self, times: np.ndarray) -> Totals:
        """The counts by each of ``times``: everyone's events at or before it."""
        dense = [np.bincount(self.bins, weights=counts, minlength=len(times)) for counts in (self.events, self.marked)]
        return Totals(times, *(np.cumsum(d).astype(np.int64) for d in dense))


def count_events(part: pd.DataFrame, name: str, manifest: Manifest, times: np.ndarray) -> dict[str, Binned]:
    """Per stream of table ``name``, its events in this part of the table binned by ``times`` (sorted, unique; events
    after the last are left out), and the marked ones: summed over a table's parts (``add_counts``), everyone's
    counts (``History.smoothed``'s prior)."""
    table = visible(Dataset(manifest, {name: part}), name)
    out = {}
    for stream_name, stream in STREAMS.items():
        if stream.table == name:
            at, marked = stream.events(table)
            seen = at != NAT
            bins = np.searchsorted(times, at[seen], side="left")
            kept = bins < len(times)
            out[stream_name] = _binned(bins[kept], np.ones(int(kept.sum())), marked[seen][kept])
    return out


def add_counts(a: dict[str, Binned], b: dict[str, Binned]) -> dict[str, Binned]:
    """Two parts' ``count_events`` together."""
    out = dict(a)
    for name, t in b.items():
        both = (out[name], t) if name in out else (t,)
        out[name] = _binned(*(np.concatenate([getattr(x, f) for x in both]) for f in ("bins", "events", "marked")))
    return out


def _binned(bins: np.ndarray, events: np.ndarray, marked: np.ndarray) -> Binned:
    """Counts by bin, summed where a bin repeats."""
    unique, inverse = np.unique(bins, return_inverse=True)
    counts = (np.bincount(inverse, weights=c, minlength=len(unique)).astype(np.int64) for c in (events, marked))
    return Binned(unique, *counts)


def with_totals(frame: pd.DataFrame, totals: dict[str, Totals], cutoffs: tuple[np.ndarray, np.ndarray]) -> pd.DataFrame:
    """The frame with, per stream, everyone's events and marked events by each row's cutoff (``totals_of``);
    ``cutoffs``: the frame's ``cutoff_times``."""
    times, at_time = cutoffs
    counts = {}
    for name, total in totals.items():
        # looked up once per distinct cutoff, in order: millions of unsorted lookups miss the cache at every step
        events, marked = total.at(times)
        counts[f"{EVENTS}{name}"], counts[f"{MARKED}{name}"] = events[at_time], marked[at_time]
    return frame.assign(**counts)


def cutoff_times(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The frame's distinct cutoffs (ns, sorted) and each row's position among them. Asked for the positions, numpy
    sorts; without, it hashes, which is several times slower for millions of distinct values."""
    times, at_time = np.unique(time_ns(to_utc(frame["cutoff_time"])), return_inverse=True)
    return times, at_time.reshape(-1)


def totals_of(frame: pd.DataFrame) -> dict[str, Totals]:
    """The counts ``with_totals`` put on the frame's rows, as ``Totals`` at the rows' cutoffs."""
    times, first = np.unique(time_ns(to_utc(frame["cutoff_time"])), return_index=True)
    return {
        column.removeprefix(EVENTS): Totals(
            times, frame[column].to_numpy()[first], frame[MARKED + column.removeprefix(EVENTS)].to_numpy()[first]
        )
        for column in frame.columns
        if column.startswith(EVENTS)
    }


def _in_table_order(part: pd.DataFrame) -> pd.DataFrame:
    """A partition's records in the whole table's order, each once, without the build's own columns."""
    ordered = part.drop_duplicates(ROW).sort_values(ROW, kind="stable")
    return ordered.drop(columns=[ROW, BUCKET], errors="ignore").reset_index(drop=True)
