"""Frames made of whole columns, block by block, as pandas would consolidate them: a request's one-row tables are
built this way, where the dict constructor's checks and conversions of each column cost more than the rows."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.internals import create_dataframe_from_blocks


def frame_of(names: Sequence[str], arrays: Sequence[Any], rows: int) -> pd.DataFrame:
    """A frame of whole columns (1-D arrays of ``rows`` values each, in their final dtypes), taken as they are: the
    numpy columns of each dtype copied into one block (as pandas consolidates them), every other array a block of
    its own (the dict constructor checks and converts each column again: most of a request's one-row frame's time)."""
    stacked: dict[np.dtype, tuple[list[int], list[np.ndarray]]] = {}  # per dtype: the columns' positions, values
    blocks: list[tuple[Any, np.ndarray]] = []
    for i, values in enumerate(arrays):
        if values.__class__ is not np.ndarray:  # a request's table has a hundred columns: the usual case first
            if isinstance(values, pd.arrays.NumpyExtensionArray):  # Series.array of a numpy column
                values = values.to_numpy()
            elif not isinstance(values, np.ndarray):
                blocks.append((values, np.array([i])))
                continue
        group = stacked.get(values.dtype)
        if group is None:
            group = stacked[values.dtype] = ([], [])
        group[0].append(i)
        group[1].append(values)
    blocks += [(_block(columns, t, rows), np.array(at)) for t, (at, columns) in stacked.items()]
    return create_dataframe_from_blocks(blocks, pd.RangeIndex(rows), _column_index(tuple(names)).view())


def _block(columns: list[np.ndarray], dtype: np.dtype, rows: int) -> np.ndarray:
    """Columns of one dtype as a 2-D block, a row each: objects row by row (a cell's list is no extra dimension)."""
    if dtype.kind != "O":
        return np.array(columns, dtype=dtype)
    block = np.empty((len(columns), rows), dtype=dtype)
    for j, values in enumerate(columns):
        block[j] = values
    return block


@lru_cache(maxsize=256)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    """The index of these column names, made once (it costs more than a request's one-row frame); each frame gets a
    view of it (``Index.view``), so setting one frame's ``columns.name`` leaves the others' alone."""
    return pd.Index(names)
