"""The sort the point-in-time join stands on: ``ordered`` is a stable argsort whatever the values (packed into one
integer where they fit, argsorted where they do not), and a ``Timeline`` orders events by entity, then time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.pit.timeline import NAT, Timeline, dense_rank, ordered

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
