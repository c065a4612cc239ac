"""The sort the point-in-time join stands on: ``ordered`` is a stable argsort whatever the values (packed into one
integer where they fit, argsorted where they do not), a ``Timeline`` orders events by entity, then time, and a
``Subset``'s counts and maxima are those of its events each query saw; look-ups of a few values read a dictionary,
of many hash in Arrow, and give the same positions; a request's few rows of history count as an indexed stream does."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.crm.dataset import STRING_DTYPE, time_ns
from features.pit.counts import KEY_SEPARATOR, Indexed, Query, Scanned
from features.pit.history import STREAMS
from features.pit.timeline import (
    FEW_VALUES,
    NAT,
    Ranked,
    Subset,
    Timeline,
    Vocabulary,
    column_values,
    dense_rank,
    lookup,
    numeric,
    ordered,
    present,
    strings,
    times,
)

INT64 = st.integers(np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max)
SECONDS = st.integers(1_600_000_000, 1_800_000_000).map(lambda s: s * 10**9)  # whole seconds: the packed path


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(INT64, SECONDS, st.integers(-3, 3)), max_size=80), st.booleans())
def test_ordered_is_a_stable_argsort(values: list[int], narrow: bool) -> None:
    array = np.array([v % 1_000 if narrow else v for v in values], dtype=np.int64)
    assert (ordered(array) == np.argsort(array, kind="stable")).all()
    distinct, rank = dense_rank(array)
    assert (distinct == np.unique(array)).all()
    assert (distinct[rank] == array).all()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-1, 6), st.one_of(SECONDS, INT64, st.just(NAT))), max_size=60))
def test_a_timeline_holds_each_kept_event_once_by_entity_then_time(events: list[tuple[int, int]]) -> None:
    codes = np.array([c for c, _ in events], dtype=np.int64)
    times = np.array([t for _, t in events], dtype=np.int64)
    timeline = Timeline(codes, times)
    kept = np.flatnonzero((codes >= 0) & (times != NAT))
    assert sorted(timeline.rows.tolist()) == kept.tolist()
    order = list(zip(codes[timeline.rows].tolist(), times[timeline.rows].tolist(), strict=True))
    assert order == sorted(order)
    assert (timeline.codes == codes[timeline.rows]).all()
    assert (np.diff(timeline.keys) >= 0).all()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 20), st.integers(0, 9), st.booleans()), max_size=60),
    st.lists(st.tuples(st.integers(0, 6), st.integers(-1, 21)), min_size=1, max_size=20),
)
def test_a_subset_counts_and_maxima_are_those_of_the_events_each_query_saw(
    events: list[tuple[int, int, int, bool]], queries: list[tuple[int, int]]
) -> None:
    codes, times, ranks, mask = (np.array([e[i] for e in events], dtype=int) for i in range(4))
    timeline = Timeline(codes.astype(np.int64), times.astype(np.int64) * 10**9)
    subset = Subset(timeline, timeline.take(mask.astype(bool)))
    asked = np.array([code for code, _ in queries], dtype=np.int64)
    cutoffs = np.array([cutoff for _, cutoff in queries], dtype=np.int64) * 10**9
    start, now = timeline.first(asked), timeline.upto(asked, cutoffs)
    latest = subset.latest(Ranked(timeline, timeline.take(ranks)), start, now)
    for i, (code, cutoff) in enumerate(queries):
        seen = [rank for c, t, rank, m in events if c == code and t <= cutoff and m]
        assert subset.count(start[i : i + 1], now[i : i + 1])[0] == len(seen)
        assert latest[i] == max(seen, default=-1)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from("abcde")), max_size=20),
    st.lists(st.one_of(st.none(), st.sampled_from("abcdef")), max_size=20),
)
def test_a_few_values_are_looked_up_as_many_are(universe: list[str | None], values: list[str | None]) -> None:
    """The first of equal values gives the position; missing and unknown values -1, whichever path looks up."""
    few, known = pd.Series(values, dtype=STRING_DTYPE), pd.Series(universe, dtype=STRING_DTYPE)
    many = pd.Series(values + ["z"] * FEW_VALUES, dtype=STRING_DTYPE)  # past FEW_VALUES: Arrow's hashed pass
    expected = [universe.index(v) if v is not None and v in universe else -1 for v in values]
    assert lookup(few, known).tolist() == expected
    assert lookup(many, known)[: len(values)].tolist() == expected
    assert Vocabulary(known).codes(few).tolist() == expected
    assert Vocabulary(known).codes(many)[: len(values)].tolist() == expected
    assert Vocabulary(known).codes(values).tolist() == expected  # a request's ids, as a list
    assert Vocabulary(known).codes(values + ["z"] * FEW_VALUES)[: len(values)].tolist() == expected
    assert Query([few]).codes(Vocabulary(known)).tolist() == expected  # read into Python: a dictionary each
    assert Query([many]).codes(Vocabulary(known))[: len(values)].tolist() == expected


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.sampled_from("ab")), st.one_of(st.none(), st.sampled_from("xy"))), max_size=20
    )
)
def test_a_few_compound_keys_are_joined_as_many_are(pairs: list[tuple[str | None, str | None]]) -> None:
    """A request's few keys of two columns are joined in Python, many in Arrow: the same key, missing when a part is."""
    padding = [("z", "z")] * (FEW_VALUES + 1 - len(pairs))  # past FEW_VALUES: Arrow's join
    columns = [pd.Series([p[i] for p in pairs + padding], dtype=STRING_DTYPE) for i in (0, 1)]
    few = Query([c.head(len(pairs)) for c in columns]).values
    assert few == Query(columns).values[: len(pairs)]
    assert few == [None if None in p else KEY_SEPARATOR.join(p) for p in pairs]  # type: ignore[arg-type]


KEYS = st.one_of(st.none(), st.sampled_from(["r1", "r2", "r3"]))
TIMES = st.one_of(st.just(NAT), st.integers(0, 20))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(KEYS, TIMES, st.booleans()), max_size=12),
    st.lists(st.tuples(st.one_of(KEYS, st.just("r9")), st.integers(-1, 21)), min_size=1, max_size=8),
)
def test_a_few_rows_are_counted_as_indexed_ones(rows: list, queries: list) -> None:
    """Per asked key and cutoff, the events of the key by the cutoff and the marked ones; everyone's by the cutoff.
    Scanned rows, a few queries of indexed ones (read from each key's counts in all when every cutoff is after the
    last event: the request's case) and many (the timeline's search) agree, at the queries' cutoffs and around the last
    event's time."""
    keys, at, marked = (list(column) for column in zip(*rows, strict=True)) if rows else ([], [], [])
    table = pd.DataFrame({"owner_rep_id": pd.Series(keys, dtype=STRING_DTYPE)})
    at, marked = np.array(at, dtype=np.int64), np.array(marked, dtype=bool)
    asked = pd.Series([k for k, _ in queries], dtype=STRING_DTYPE)
    many = Query([pd.concat([asked, pd.Series(["r1"] * FEW_VALUES, dtype=STRING_DTYPE)], ignore_index=True)])
    stream = STREAMS["rep_leads_resolved"]
    indexed, scanned = (kind(stream.keys_of(table), at, marked) for kind in (Indexed, Scanned))
    last = int(at[at != NAT].max(initial=0))
    for cutoffs in (np.array([c for _, c in queries]), np.full(len(queries), last - 1), np.full(len(queries), last)):
        timeline = indexed.count(many, np.concatenate([cutoffs, np.zeros(FEW_VALUES, dtype=np.int64)]))
        for got, expected in (
            (scanned.count(Query([asked]), cutoffs), indexed.count(Query([asked]), cutoffs)),
            (indexed.count(Query([asked]), cutoffs), [c[: len(queries)] for c in timeline]),
            (scanned.total(cutoffs), indexed.total(cutoffs)),
        ):
            assert [g.tolist() for g in got] == [e.tolist() for e in expected]


def test_a_columns_array_reads_as_its_series() -> None:
    """Families read a request's attributes as the columns' arrays: numbers, presence and times come out as they do
    from the Series, and a number read is the reader's own copy."""
    table = pd.DataFrame(
        {
            "text": pd.array(["1.5", "x", None], dtype=STRING_DTYPE),
            "float": [1.5, np.nan, 3.0],
            "int": np.array([1, 2, 3], dtype=np.int32),
            "flag": pd.array([True, None, False], dtype="boolean"),
            "at": pd.to_datetime(["2025-01-01 00:00:00", None, "2025-06-30 18:00:00.5"], utc=True, format="mixed"),
        }
    )
    for name in ("text", "float", "int", "flag"):
        np.testing.assert_array_equal(numeric(column_values(table, name)), numeric(table[name]))
        np.testing.assert_array_equal(present(column_values(table, name)), table[name].notna().to_numpy())
        assert strings(column_values(table, name)).tolist() == strings(table[name]).tolist()
    read = numeric(column_values(table, "float"))
    read[0] = 99.0
    assert table["float"].iloc[0] == 1.5
    assert times(table, "at").tolist() == time_ns(table["at"]).tolist() and times(table, "at")[1] == NAT
    assert times(table, "absent").tolist() == [NAT] * 3
    assert column_values(table, "absent").isna().all()
