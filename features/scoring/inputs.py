"""The model's input contract: each input's catalog entry and training levels, and the encoding of a feature
table into what the model reads (training, scoring and serving encode alike)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

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
    table = pd.DataFrame(table, copy=False)  # without attrs: pandas deep-copies them on every column access
    present = set(table.columns.tolist())  # read once: a look-up in pandas' column index costs microseconds
    matrix = np.full((len(table), len(inputs)), np.nan)
    numeric = [j for j, f in enumerate(inputs) if f.kind != "categorical" and f.name in present]
    matrix[:, numeric] = _floats(model_columns(table, [inputs[j].name for j in numeric]))
    for j, f in enumerate(inputs):
        if f.name not in present:
            for w in warnings:
                w.append(f"{f.name}: not provided (treated as missing)")
        elif f.kind == "categorical":
            codes = _level_codes(f, table[f.name], warnings)
            matrix[:, j] = np.where(codes < 0, np.nan, codes)
    return matrix, warnings


def model_columns(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """``table[names]``, taken by position (raises KeyError for a name the table lacks, as ``table[names]`` does).
    The positions come from a dictionary of the column names: pandas' own look-up builds a hash table of its
    arrow-backed index on each call, more than the rest of this on a request's one row."""
    columns = table.columns.tolist()
    position = {name: i for i, name in enumerate(columns)}
    if len(position) < len(columns):  # a name twice: pandas decides what to take
        return table[names]
    missing = [name for name in names if name not in position]
    if missing:
        raise KeyError(f"not in the feature table: {missing}")
    return table.take([position[name] for name in names], axis=1)


def _floats(columns: pd.DataFrame) -> np.ndarray:
    """The columns as one float block (one copy when they are numeric, as built features are); text is parsed."""
    try:
        return columns.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        parsed = {c: pd.to_numeric(columns[c], errors="coerce") for c in columns.columns}
        return pd.DataFrame(parsed).to_numpy(dtype=np.float64, na_value=np.nan)


def _level_codes(f: InputFeature, values: pd.Series, warnings: list[list[str]]) -> np.ndarray:
    """Codes of the training levels; unseen values become the pooled rare level (or missing), with a warning."""
    levels = f.levels or []
    index = {level: i for i, level in enumerate(levels)}
    rare = index.get(OTHER, -1)
    codes = np.full(len(values), -1, dtype=np.int64)
    for i, value in enumerate(values.to_numpy(dtype=object, na_value=None).tolist()):
        if value is None:
            continue
        code = index.get(str(value), -2)
        if code == -2:
            warnings[i].append(f"{f.name}: unseen value {str(value)!r} (scored as a rare level)")
            code = rare
        codes[i] = code
    return codes
