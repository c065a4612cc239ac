"""The model's inputs are read from a feature table by position: the values ``table[name]`` holds, whatever the
column's storage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.crm.blocks import frame_of
from features.errors import DataError
from features.scoring.inputs import InputFeature, column_positions, encode_matrix, model_values

MIXED = pd.DataFrame(
    {
        "entity_id": ["L1", "L2", "L3"],
        "a": [1.5, np.nan, 3.0],
        "b": np.array([3, 4, 5], dtype=np.int32),
        "c": pd.array(["x", None, "y"], dtype=pd.StringDtype()),
        "d": pd.array([True, None, False], dtype="boolean"),
        "e": pd.Series(["x", None, "z"], dtype="category"),
        "f": [None, "2.5", "not a number"],
        "t": pd.to_datetime(["2025-01-02", None, "2025-03-04"]),
    }
)


def numeric(name: str) -> InputFeature:
    return InputFeature(name, "numeric", name, name, name, name, name)


def categorical(name: str, levels: list[str]) -> InputFeature:
    return InputFeature(name, "categorical", name, name, name, name, name, levels)


def test_the_values_are_the_named_columns_in_the_named_order_as_python_values() -> None:
    names = ["c", "a", "b", "d", "e", "t"]
    expected = [[None if pd.isna(v) else v for v in MIXED[name].astype(object)] for name in names]
    got = model_values(MIXED, names)
    assert got == expected
    assert [type(v) for v in got[2]] == [int, int, int]  # counts stay whole numbers in the log


def test_a_name_the_table_lacks_is_an_error_not_another_column() -> None:
    with pytest.raises(KeyError, match="missing"):
        model_values(MIXED, ["a", "missing"])


def test_a_table_with_a_column_twice_is_refused_rather_than_one_of_them_guessed() -> None:
    table = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "b", "a"])
    with pytest.raises(DataError, match="twice: a"):
        encode_matrix([numeric("a")], table)


def test_the_matrix_is_what_pandas_makes_of_each_column_whatever_its_storage() -> None:
    inputs = [numeric("a"), numeric("b"), numeric("d"), numeric("f"), categorical("c", ["y", "x"]), numeric("gone")]
    matrix, warnings = encode_matrix(inputs, MIXED)
    expected = np.array(
        [
            [1.5, 3.0, 1.0, np.nan, 1.0, np.nan],
            [np.nan, 4.0, np.nan, 2.5, np.nan, np.nan],
            [3.0, 5.0, 0.0, np.nan, 0.0, np.nan],
        ]
    )
    np.testing.assert_array_equal(matrix, expected)
    assert warnings == [["gone: not provided (treated as missing)"]] * 3
    as_objects, _ = encode_matrix(inputs, MIXED.astype(object))  # the same table read back without its dtypes
    np.testing.assert_array_equal(as_objects, expected)


def test_columns_read_a_block_at_a_time_are_each_named_columns_values() -> None:
    rng = np.random.default_rng(3)
    floats, counts = rng.normal(size=(4, 6)), rng.integers(0, 9, size=(4, 5)).astype(np.int32)
    floats[1, 2] = np.nan
    table = pd.DataFrame({f"f{i}": floats[:, i] for i in range(6)} | {f"n{i}": counts[:, i] for i in range(5)})
    table["late"] = [0.5, np.nan, 2.0, 1.0]  # a block of its own
    table["flag"] = pd.array([True, None, False, True], dtype="boolean")
    assert sorted(len(b.mgr_locs) for b in table._mgr.blocks) == [1, 1, 5, 6]  # columns read together, and alone
    names = ["n3", "f4", "late", "f0", "flag", "n0", "f2", "n4"]
    matrix, _ = encode_matrix([numeric(name) for name in names], table)
    expected = np.column_stack([table[name].to_numpy(dtype=np.float64, na_value=np.nan) for name in names])
    np.testing.assert_array_equal(matrix, expected)
    values = model_values(table, names)
    assert values == [[None if pd.isna(v) else v for v in table[name].astype(object)] for name in names]
    assert [type(v) for v in values[0]] == [int] * 4 and type(values[1][0]) is float


def test_kept_column_positions_are_each_tables_own() -> None:
    """Frames of the same names share their positions; a frame of the same names in another order, or holding a
    name twice, gets its own answer, whatever was kept before."""
    names = ["a", "b", "c"]
    first = frame_of(names, [np.array([1.0]), np.array([2.0]), np.array([3.0])], 1)
    second = frame_of(names, [np.array([4.0]), np.array([5.0]), np.array([6.0])], 1)
    assert column_positions(first) == column_positions(second) == {"a": 0, "b": 1, "c": 2}
    reordered = frame_of(["c", "a", "b"], [np.array([1.0]), np.array([2.0]), np.array([3.0])], 1)
    assert column_positions(reordered) == {"c": 0, "a": 1, "b": 2}
    assert model_values(reordered, ["a", "c"]) == [[2.0], [1.0]]
    renamed = first.rename(columns={"a": "z"})
    assert column_positions(renamed) == {"z": 0, "b": 1, "c": 2}
    with pytest.raises(DataError, match="twice: b"):
        column_positions(frame_of(["b", "b"], [np.array([1.0]), np.array([2.0])], 1))
