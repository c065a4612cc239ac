"""The activity families executed row by row, for frames of a few rows (a scoring request's).

The vectorised families (``features.pit.families``) pay a fixed cost of some hundred numpy and pandas calls whatever
the frame's size: most of a request's feature time. For a few rows, each row's own activities are read once into
Python lists (``Known``: those known at its cutoff) and each family's per-row function (``<family>_row``, beside the
family in its module) computes the same values with a loop over them. The activities' attributes come from the same
functions the timeline reads them with (``features.pit.activity_log``), and the values are computed as numpy computes
them (a time difference divided as float64), so both executions give equal features; the tests compare them on
thousands of random rows (tests/pit/test_per_row.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crm.schema import ENTITIES
from features.pit.activity_log import Raw, effective, entity_codes, inbound, kinds, whole_seconds
from features.pit.keywords import match_notes
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import NAT, column

#: Frames of at most this many rows run the activity families row by row (above, vectorised is faster).
FEW_ROWS = 8

Row = dict[str, int | float]  # one row's values of a family: ints are counts (int32, as the timeline counts)


@dataclass(frozen=True)
class Known:
    """One frame row's entity's activities known at its cutoff (known_at <= cutoff), in the table's order."""

    cutoff: int
    created: int
    known: list[int]
    occurred: list[int]
    kind: list[int]  # type code, unknown or missing as ``other``
    inbound: list[bool]
    effective: list[bool]
    duration_s: list[int]
    role: list[int]  # contact role code, -1: none
    notes: dict[str, list[bool]]  # per lexicon category, whether each activity's note mentions it


@dataclass(frozen=True)
class Activities:
    """Activities given as values instead of a dataset table (a request's own): what the per-row families read."""

    raw: Raw
    notes: pd.Series | list[str | None]
    entity: np.ndarray  # per activity, its entity's row in the frame's entity table


def runs_per_row(rows: int) -> bool:
    """Whether a frame of ``rows`` rows runs the activity families row by row by default."""
    return rows <= FEW_ROWS


def known_activities(r: FrameRows, given: Activities | None = None) -> list[Known]:
    """Per frame row (in ``r``'s order), its entity's activities known at its cutoff: from ``given``, else from the
    dataset's activities table."""
    if given is None:
        acts = r.table("activities")
        codes = entity_codes(acts, r.entity, column(r.entities, ENTITIES[r.entity][1]))
        given = Activities(Raw.read(acts), column(acts, "note"), codes)
    raw = given.raw
    kind = kinds(raw.kind)
    columns = {
        "known": raw.known,
        "occurred": raw.occurred,
        "kind": kind,
        "inbound": inbound(kind, raw.direction),
        "effective": effective(kind, raw.duration),
        "duration_s": whole_seconds(raw.duration),
        "role": raw.role,
    }
    mentions = match_notes(given.notes, r.lexicon)
    own: dict[int, np.ndarray] = {}
    out = []
    for code, cutoff, created in zip(r.codes.tolist(), r.cutoffs.tolist(), r.created.tolist(), strict=True):
        if code not in own:
            own[code] = np.flatnonzero((given.entity == code) & (raw.known != NAT))
        at = own[code][raw.known[own[code]] <= cutoff]
        taken = {name: values[at].tolist() for name, values in columns.items()}
        out.append(Known(cutoff, created, **taken, notes={name: hits[at].tolist() for name, hits in mentions.items()}))
    return out


def per_row(rows: list[Known], family: Callable[[Known], Row]) -> Columns:
    """A family's per-row function over every row, as the vectorised family's columns: its counts read into one
    int32 table and its other values into one float64 table, each column a view of its table (half the time of an
    array made per column, which is most of a request's per-row time)."""
    values = [family(row) for row in rows]
    columns: Columns = {}
    for dtype, names in _by_dtype(values[0]).items():
        table = np.array([[v[name] for name in names] for v in values], dtype=dtype)
        columns.update(zip(names, table.T, strict=True))  # each a view: iterating the transpose makes them in C
    return {name: columns[name] for name in values[0]}


def _by_dtype(row: Row) -> dict[type, list[str]]:
    """A row's value names by the dtype of their column: counts int32, the others float64."""
    counts = [name for name, value in row.items() if isinstance(value, int)]
    others = [name for name, value in row.items() if not isinstance(value, int)]
    return {dtype: names for dtype, names in ((np.int32, counts), (np.float64, others)) if names}


def per(ns: int, unit: int) -> float:
    """A time difference (or a sum) in ``unit``s, divided as numpy divides an int64 array: in float64."""
    return float(ns) / unit


def earliest(times: list[int]) -> int:
    """The earliest of some times, ``NAT`` for none (as ``ActivityLog.earliest`` gives it)."""
    return min(times, default=NAT)


def latest(times: list[int]) -> int:
    """The latest of some times, ``NAT`` for none (as ``ActivityLog.latest`` gives it)."""
    return max(times, default=NAT)
