"""The model's columns are taken from a feature table by position, as ``table[names]`` takes them by name."""

from __future__ import annotations

import pandas as pd
import pytest

from features.scoring.inputs import model_columns


def test_the_model_columns_are_the_named_ones_in_the_named_order() -> None:
    table = pd.DataFrame({"entity_id": ["L1", "L2"], "a": [1.0, 2.0], "b": [3, 4], "c": ["x", None]})
    pd.testing.assert_frame_equal(model_columns(table, ["c", "a"]), table[["c", "a"]])


def test_a_name_the_table_lacks_is_an_error_not_another_column() -> None:
    table = pd.DataFrame({"a": [1.0], "b": [2.0]})
    with pytest.raises(KeyError, match="missing"):
        model_columns(table, ["a", "missing"])


def test_a_table_with_a_column_twice_gives_what_table_names_gives() -> None:
    table = pd.DataFrame([[1.0, 2.0, 3.0]], columns=["a", "b", "a"])
    pd.testing.assert_frame_equal(model_columns(table, ["b", "a"]), table[["b", "a"]])
