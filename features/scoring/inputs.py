"""The model's input contract: each input's catalog entry and training levels, and the encoding of a feature
table into what the model reads (training, scoring and serving encode alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionArray

from features.errors import DataError
from features.pit.catalog import Feature
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
    for j, f in enumerate(inputs):
        if f.name not in position:
            for w in warnings:
                w.append(f"{f.name}: not provided (treated as missing)")
            continue
        values = table._get_column_array(position[f.name])  # read only: a view of the table's own column
        if f.kind == "categorical":
            codes = _level_codes(f, python_values(values), warnings)
            matrix[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            matrix[:, j] = _floats(values)
    return matrix, warnings


def column_positions(table: pd.DataFrame) -> dict[str, int]:
    """Each column's position: the model's inputs are read by position, without a Series each (pandas' look-up
    by name and the Series cost more than the scoring itself on a request's one row). DataError for a table that
    holds a column twice (which of them the model read would be a guess)."""
    columns = table.columns.tolist()
    position = {name: i for i, name in enumerate(columns)}
    if len(position) < len(columns):
        twice = sorted({name for name in columns if columns.count(name) > 1}, key=str)
        raise DataError(f"the feature table holds these columns twice: {', '.join(map(str, twice))}")
    return position


def model_values(table: pd.DataFrame, names: list[str]) -> list[list[Any]]:
    """Per named column (KeyError for one the table lacks), its values as Python numbers and strings, None where
    missing (the prediction log's inputs)."""
    position = column_positions(table)
    missing = [name for name in names if name not in position]
    if missing:
        raise KeyError(f"not in the feature table: {missing}")
    return [python_values(table._get_column_array(position[name])) for name in names]


def python_values(values: np.ndarray | ExtensionArray) -> list[Any]:
    """A column's values as Python objects (ints, floats, strings, bools), None where missing."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iubf":
        listed = values.tolist()
        return [None if v != v else v for v in listed] if values.dtype.kind == "f" else listed  # NaN != NaN
    if isinstance(values, ExtensionArray):
        return list(values.to_numpy(dtype=object, na_value=None).tolist())
    objects = pd.Series(values, copy=False).to_numpy(dtype=object)  # Python objects, times as Timestamps
    return list(np.where(pd.isna(objects), None, objects).tolist())


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


def _level_codes(f: InputFeature, values: list[Any], warnings: list[list[str]]) -> np.ndarray:
    """Codes of the training levels; unseen values become the pooled rare level (or missing), with a warning."""
    levels = f.levels or []
    index = {level: i for i, level in enumerate(levels)}
    rare = index.get(OTHER, -1)
    codes = np.full(len(values), -1, dtype=np.int64)
    for i, value in enumerate(values):
        if value is None:
            continue
        code = index.get(str(value), -2)
        if code == -2:
            warnings[i].append(f"{f.name}: unseen value {str(value)!r} (scored as a rare level)")
            code = rare
        codes[i] = code
    return codes
