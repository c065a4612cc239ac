"""The model's input contract: each input's catalog entry and training levels, and the encoding of a feature
table into what the model reads (training, scoring and serving encode alike)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from features.crm.dataset import STRING_DTYPE
from features.errors import DataError
from features.pit.catalog import Feature
from features.pit.timeline import arrow_strings
from features.scoring.factors import factor_of

OTHER = "__other__"  # rare training levels are pooled into this one


@dataclass
class InputFeature:
    """A model input: the catalog entry plus, for categoricals, the levels seen in training."""

    name: str
    kind: Literal["numeric", "categorical"]
    zh: str
    en: str
    factor: str
    factor_zh: str
    factor_en: str
    levels: list[str] | None = None
    distinct: int | None = None  # categoricals: distinct values seen in training (None: not recorded)

    @classmethod
    def of(cls, feature: Feature, levels: list[str] | None = None, distinct: int | None = None) -> InputFeature:
        f = factor_of(feature)
        return cls(feature.name, feature.kind, feature.zh, feature.en, f.key, f.zh, f.en, levels, distinct)

    @cached_property
    def level_codes(self) -> dict[str, int]:
        """Each training level's code, made once: every value scored is looked up in it."""
        return {level: i for i, level in enumerate(self.levels or [])}


def encode_inputs(inputs: list[InputFeature], table: pd.DataFrame) -> tuple[pd.DataFrame, list[list[str]]]:
    """Feature table -> model input frame (fixed categorical levels), and per row the warnings to report."""
    matrix, warnings = encode_matrix(inputs, table)
    columns = {
        f.name: pd.Categorical.from_codes(np.nan_to_num(matrix[:, j], nan=-1).astype(int), categories=f.levels or [])
        if f.kind == "categorical"
        else matrix[:, j]
        for j, f in enumerate(inputs)
    }
    return pd.DataFrame(columns, index=range(len(table))), warnings


def encode_matrix(inputs: list[InputFeature], table: pd.DataFrame) -> tuple[np.ndarray, list[list[str]]]:
    """Feature table -> float matrix LightGBM reads directly (categoricals as their training level codes, missing
    as NaN, exactly what LightGBM makes of the pandas frame), and per row the warnings to report."""
    warnings: list[list[str]] = [[] for _ in range(len(table))]
    position = column_positions(table)
    matrix = np.full((len(table), len(inputs)), np.nan)
    numeric: list[int] = []  # read together below: they warn of nothing
    categorical: dict[int, list[float]] = {}
    for j, f in enumerate(inputs):
        if f.name not in position:
            for w in warnings:
                w.append(f"{f.name}: not provided (treated as missing)")
        elif f.kind == "categorical":
            values = table._get_column_array(position[f.name])  # read only: a view of the table's own column
            categorical[j] = _level_codes(f, python_values(values), warnings)
        else:
            numeric.append(j)
    if categorical:
        matrix[:, list(categorical)] = np.array(list(categorical.values()), dtype=np.float64).T
    blocks, rest = numeric_blocks(table, [position[inputs[j].name] for j in numeric])
    for which, values in blocks:
        matrix[:, [numeric[i] for i in which]] = values.T
    for i in rest:
        matrix[:, numeric[i]] = _floats(table._get_column_array(position[inputs[numeric[i]].name]))
    return matrix, warnings


def numeric_blocks(table: pd.DataFrame, positions: list[int]) -> tuple[list[tuple[list[int], np.ndarray]], list[int]]:
    """The columns at ``positions`` that pandas holds in 2-D numpy blocks of numbers, read with one take per block
    (a look-up per column costs more than encoding a request's row): per block, which of ``positions`` (their
    indexes) and their values, a row per column; and the indexes of the other columns, to read one at a time."""
    manager = table._mgr
    blocks: dict[int, list[int]] = {}
    for i, block in enumerate(manager.blknos[positions].tolist()):
        blocks.setdefault(block, []).append(i)
    read, rest = [], []
    locations = manager.blklocs[positions]
    for block, which in blocks.items():
        values = manager.blocks[block].values
        if isinstance(values, np.ndarray) and values.ndim == 2 and values.dtype.kind in "fiub":
            read.append((which, values[locations[which]]))
        else:
            rest += which
    return read, sorted(rest)


def column_positions(table: pd.DataFrame) -> dict[str, int]:
    """Each column's position (read only): the model's inputs are read by position, without a Series each (pandas'
    look-up by name and the Series cost more than the scoring itself on a request's one row). DataError for a table
    that holds a column twice (which of them the model read would be a guess).

    Kept per column index values, which never change: the frames ``frame_of`` makes of the same names share them,
    so a request's feature table is not read name by name again (its 142 names cost more than its scoring's
    arithmetic). A kept entry is used only while the very values it was made of are alive (a weak reference)."""
    names = table.columns.array
    kept = _POSITIONS.get(id(names))
    if kept is not None and kept[0]() is names:
        return kept[1]
    columns = table.columns.tolist()
    position = dict(zip(columns, range(len(columns)), strict=True))
    if len(position) < len(columns):
        twice = sorted({name for name in columns if columns.count(name) > 1}, key=str)
        raise DataError(f"the feature table holds these columns twice: {', '.join(map(str, twice))}")
    if len(_POSITIONS) >= KEPT_POSITIONS:
        _POSITIONS.clear()
    _POSITIONS[id(names)] = (weakref.ref(names), position)
    return position


#: Column positions kept (``column_positions``), by the identity of the column index's values.
KEPT_POSITIONS = 256
_POSITIONS: dict[int, tuple[weakref.ref[Any], dict[str, int]]] = {}


def model_values(table: pd.DataFrame, names: list[str]) -> list[list[Any]]:
    """Per named column (KeyError for one the table lacks), its values as Python numbers and strings, None where
    missing (the prediction log's inputs)."""
    position = column_positions(table)
    missing = [name for name in names if name not in position]
    if missing:
        raise KeyError(f"not in the feature table: {missing}")
    out: list[list[Any]] = [[] for _ in names]
    blocks, rest = numeric_blocks(table, [position[name] for name in names])
    for which, values in blocks:
        for i, listed in zip(which, values.tolist(), strict=True):
            out[i] = _with_none(listed, values.dtype)
    for i in rest:
        out[i] = python_values(table._get_column_array(position[names[i]]))
    return out


def python_values(values: np.ndarray | ExtensionArray) -> list[Any]:
    """A column's values as Python objects (ints, floats, strings, bools), None where missing."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iubf":
        return _with_none(values.tolist(), values.dtype)
    if values.dtype == STRING_DTYPE:  # text: read from its Arrow data, faster than going through numpy
        return arrow_strings(values).to_pylist()
    if isinstance(values, ExtensionArray):
        return list(values.to_numpy(dtype=object, na_value=None).tolist())
    objects = pd.Series(values, copy=False).to_numpy(dtype=object)  # Python objects, times as Timestamps
    return list(np.where(pd.isna(objects), None, objects).tolist())


def _with_none(listed: list[Any], dtype: np.dtype) -> list[Any]:
    """A numpy column's Python numbers, None where a float is NaN (NaN != NaN)."""
    return [None if v != v else v for v in listed] if dtype.kind == "f" else listed


def _floats(values: np.ndarray | ExtensionArray) -> np.ndarray:
    """A column as floats, missing as NaN; text is parsed (what cannot be read is missing)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values
    try:
        if isinstance(values, ExtensionArray):
            return values.to_numpy(dtype=np.float64, na_value=np.nan)
        return values.astype(np.float64)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, copy=False), errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _level_codes(f: InputFeature, values: list[Any], warnings: list[list[str]]) -> list[float]:
    """Codes of the training levels, NaN where missing; unseen values become the pooled rare level (or missing),
    with a warning."""
    index = f.level_codes
    rare = index.get(OTHER, -1)
    codes: list[float] = []
    for i, value in enumerate(values):
        code = -1 if value is None else index.get(str(value), -2)
        if code == -2:
            warnings[i].append(f"{f.name}: unseen value {str(value)!r} (scored as a rare level)")
            code = rare
        codes.append(np.nan if code < 0 else code)
    return codes
