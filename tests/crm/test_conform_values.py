"""A request's values are cast to canonical columns straight when they already have their kind's Python type, and
through the general parse otherwise: both give the same column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.crm.blocks import frame_of
from features.crm.dataset import STRING_DTYPE, conform, conform_values, time_ns, values_frame

EAST = timezone(timedelta(hours=8))
COLUMNS: dict[str, list[Any]] = {
    "occurred_at": [
        datetime(2025, 1, 1, 9, 30, 15, 123456, tzinfo=UTC),
        None,
        datetime(2024, 5, 1, 3, tzinfo=EAST),  # another zone: UTC 2024-04-30 19:00
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
    "duration_s": [61.5, None, 0, 10**15],
    "attachment": [True, None, False, True],
    "type": ["call", "web_visit", None, "demo"],
}
#: Values of another Python type than the kind's: the general parse takes them.
OTHER = {
    "occurred_at": [
        "2025-01-01T09:30:15.123456Z",
        None,
        "2024-04-30T19:00:00+00:00",
        pd.Timestamp("1999-12-31 23:59:59", tz="UTC"),
    ],
    "duration_s": ["61.5", None, 0, True],
    "attachment": [np.True_, None, np.False_, True],
}


def _general(columns: dict[str, list[Any]]) -> pd.DataFrame:
    """The columns through ``conform``: a frame of objects, each column parsed by pandas."""
    return conform("activities", pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in columns.items()}))


def test_values_of_their_kinds_type_are_cast_as_the_general_parse_casts_them() -> None:
    straight = conform_values("activities", COLUMNS)
    pd.testing.assert_frame_equal(straight, _general(COLUMNS))
    assert straight["occurred_at"].iloc[2] == pd.Timestamp("2024-04-30 19:00", tz="UTC")
    assert straight["occurred_at"].iloc[0].microsecond == 123456


@pytest.mark.parametrize("name", sorted(OTHER))
def test_values_of_another_type_take_the_general_parse(name: str) -> None:
    columns = {**COLUMNS, name: OTHER[name]}
    pd.testing.assert_frame_equal(conform_values("activities", columns), _general(columns))


def test_values_already_in_arrays_are_cast_as_the_general_parse_casts_them() -> None:
    """A batch's activity columns arrive as arrays (times in microseconds, durations as floats): cast whole."""
    times = pd.to_datetime(COLUMNS["occurred_at"], utc=True).as_unit("us")
    arrays = {
        **COLUMNS,
        "occurred_at": times,
        "duration_s": pd.array(COLUMNS["duration_s"], dtype="Float64").to_numpy(dtype=float, na_value=float("nan")),
        "attachment": pd.array(COLUMNS["attachment"], dtype=object),
    }
    pd.testing.assert_frame_equal(conform_values("activities", arrays), _general(COLUMNS))


def test_a_requests_entity_frame_gets_the_canonical_dtypes() -> None:
    """A request's (entity, cutoff) frame is cast from its values as ``conform`` casts a table's ids and times."""
    values = {"entity_id": ["L1", None], "cutoff_time": [datetime(2025, 1, 1, 8, tzinfo=EAST), None]}
    frame = values_frame(values, {"entity_id": "text", "cutoff_time": "time"})
    assert frame.dtypes.tolist() == [STRING_DTYPE, pd.DatetimeTZDtype("ns", "UTC")]
    assert frame["entity_id"].tolist() == ["L1", pd.NA]
    assert frame["cutoff_time"].iloc[0] == pd.Timestamp("2025-01-01 00:00", tz="UTC")
    assert frame["cutoff_time"].isna().tolist() == [False, True]


def test_frames_of_the_same_columns_share_no_column_index() -> None:
    """Frames of the same column names get their index made once, each a view of it: naming one frame's columns
    leaves the other's as they were."""
    first = frame_of(["a", "b"], [np.array([1.0]), np.array([2])], 1)
    second = frame_of(["a", "b"], [np.array([3.0]), np.array([4])], 1)
    first.columns.name = "renamed"
    assert second.columns.name is None
    pd.testing.assert_index_equal(second.columns, pd.Index(["a", "b"]))
    assert second.to_dict("records") == [{"a": 3.0, "b": 4}]


def test_a_frame_of_arrays_is_the_frame_pandas_makes_of_them() -> None:
    """Numpy columns of one dtype share a block, other arrays keep theirs; values, dtypes and order are those the
    dict constructor gives, and the frame owns its numbers (changing an input array afterwards leaves it alone)."""
    listed = np.empty(2, dtype=object)
    listed[0], listed[1] = ["a", "b"], []  # lists in cells, as the scores' warnings
    columns: dict[str, Any] = {
        "f1": np.array([1.5, np.nan]),
        "i1": np.array([3, 4], dtype=np.int32),
        "text": pd.array(["x", None], dtype=STRING_DTYPE),
        "f2": pd.Series([2.5, 3.5]).array,  # a numeric Series' array (NumpyExtensionArray)
        "flag": np.array([True, False]),
        "at": pd.array(pd.to_datetime(["2025-01-01", None], utc=True)),
        "warnings": listed,
        "i2": np.array([5, 6], dtype=np.int32),
        "maybe": pd.array([True, None], dtype="boolean"),
    }
    made = frame_of(list(columns), list(columns.values()), 2)
    pd.testing.assert_frame_equal(made, pd.DataFrame(columns))
    assert made["warnings"].tolist() == [["a", "b"], []]
    dtypes = [block.dtype for block in made._mgr.blocks]
    assert dtypes.count(np.dtype(np.int32)) == 1 and dtypes.count(np.dtype(np.float64)) == 1
    columns["i1"][0] = 99
    assert made["i1"].tolist() == [3, 4]
    assert frame_of(["a"], [np.array([], dtype=float)], 0).shape == (0, 1)


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_time_ns_gives_a_copy_of_the_nanoseconds_with_nat_as_the_minimum(unit: str) -> None:
    """A canonical time column is read without a conversion, other units converted: the same numbers either way,
    and the caller's maths on them leaves the column alone."""
    parsed = pd.to_datetime(["2025-01-01T09:30:15.123456Z", None], utc=True)
    times = pd.Series(parsed).astype(f"datetime64[{unit}, UTC]")
    expected = [pd.Timestamp("2025-01-01T09:30:15.123456Z").value, np.iinfo(np.int64).min]
    for given in (times, times.array):
        ns = time_ns(given)
        assert ns.dtype == np.int64 and ns.tolist() == expected
        ns[0] = 0
        assert times.iloc[0] == pd.Timestamp("2025-01-01T09:30:15.123456Z")
