"""A canonical dataset: a directory of Parquet tables plus ``manifest.yaml``.

A table is one file (``leads.parquet``) or, for exports too large for one file, a directory of parts (``leads/``
holding ``part-*.parquet`` files or hive-style ``key=value/`` folders); every reader takes either.

All times are stored as UTC. ``conform`` is the single place where a frame is given the
canonical column types, so importers, the simulator and the service agree on dtypes.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import yaml

from features.crm.blocks import frame_of
from features.crm.schema import (
    DEFAULT_STAGES,
    ENTITIES,
    SCHEMA_VERSION,
    TABLE_ORDER,
    TABLES,
    ExtraColumn,
    Stage,
)
from features.errors import DataError
from features.outputs import output_dir

MANIFEST = "manifest.yaml"
TIME_DTYPE = "datetime64[ns, UTC]"
STRING_DTYPE = pd.StringDtype()
_TIME = pd.api.types.pandas_dtype(TIME_DTYPE)  # the same, as a dtype object


@dataclass
class Manifest:
    """What a dataset is: where it came from, when it was exported, how to read its columns."""

    source: str
    exported_at: pd.Timestamp
    timezone: str = "UTC"
    schema_version: int = SCHEMA_VERSION
    stages: list[Stage] = field(default_factory=lambda: list(DEFAULT_STAGES))
    extra_columns: dict[str, list[ExtraColumn]] = field(default_factory=dict)
    excluded_columns: dict[str, list[str]] = field(default_factory=dict)  # post-outcome columns
    has_event_times: bool = True  # False: one snapshot, no usable history (x-education)
    counts: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def stage_names(self) -> list[str]:
        return [s.name for s in self.stages]

    def extras(self, table: str) -> list[ExtraColumn]:
        return self.extra_columns.get(table, [])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["exported_at"] = to_utc_scalar(self.exported_at).isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        d = dict(d)
        d["exported_at"] = to_utc_scalar(d["exported_at"])
        d["stages"] = [Stage(**s) for s in d.get("stages") or [asdict(s) for s in DEFAULT_STAGES]]
        d["extra_columns"] = {t: [ExtraColumn(**c) for c in cols] for t, cols in (d.get("extra_columns") or {}).items()}
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Dataset:
    """Canonical tables in memory; a missing table is simply absent from ``tables``."""

    manifest: Manifest
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Indexes made from these tables and kept with them (``history.History.kept``). Not copied by
    #: ``dataclasses.replace``; a dataset must not change once it keeps one (the service's export never does).
    kept: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def get(self, name: str) -> pd.DataFrame:
        """The table, or an empty frame with the canonical columns when the source lacks it."""
        if name in self.tables:
            return self.tables[name]
        return conform(name, pd.DataFrame(columns=TABLES[name].names))

    def has(self, name: str) -> bool:
        return name in self.tables and len(self.tables[name]) > 0


def to_utc_scalar(value: Any) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def to_utc(values: pd.Series) -> pd.Series:
    """Parse to UTC datetimes; naive values are taken as UTC, unparseable ones become NaT."""
    if values.dtype == TIME_DTYPE:  # canonical already (tables read or conformed): nothing to convert
        return values
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype(TIME_DTYPE)
    if pd.api.types.is_datetime64_dtype(values.dtype):
        return values.dt.tz_localize("UTC").astype(TIME_DTYPE)
    return pd.to_datetime(values, utc=True, errors="coerce", format="mixed").astype(TIME_DTYPE)


NAT_US = np.iinfo(np.int64).min  # NaT as datetime64[us] reads it
KIND_DTYPES = {"time": TIME_DTYPE, "float": "float64", "numeric": "float64", "bool": "boolean", "boolean": "boolean"}


def _cast(values: pd.Series, kind: str) -> pd.Series:
    if values.dtype == KIND_DTYPES.get(kind, STRING_DTYPE):
        return values
    if kind == "time":
        return to_utc(values)
    if kind in ("float", "numeric"):
        return pd.to_numeric(values, errors="coerce").astype("float64")
    if kind in ("bool", "boolean"):
        return values.astype("boolean")
    return values.astype(STRING_DTYPE)


def conform(name: str, df: pd.DataFrame, extras: list[ExtraColumn] | None = None) -> pd.DataFrame:
    """Canonical column order and types for table ``name``; unknown columns are dropped.

    Canonical columns absent from ``df`` are left out (a source may lack them), so callers can tell
    "not exported" from "empty".
    """
    out = {col: _cast(df[col], kind).array for col, kind in column_kinds(name, extras).items() if col in df.columns}
    return frame_of(list(out), list(out.values()), len(df))


Values = list[Any] | np.ndarray | pd.Index | pa.Array


def conform_values(name: str, columns: Mapping[str, Values], extras: list[ExtraColumn] | None = None) -> pd.DataFrame:
    """``conform`` for columns of Python values (a scoring request's rows), each cast straight from its values:
    no frame of objects in between, which costs more than the rows themselves for a request's few."""
    return values_frame(columns, column_kinds(name, extras))


def values_frame(columns: Mapping[str, Values], kinds: Mapping[str, str]) -> pd.DataFrame:
    """The columns ``kinds`` names (in its order; those not in ``columns`` left out), each cast from its values to
    its kind's canonical array (``conform``'s dtypes)."""
    rows = len(next(iter(columns.values()), []))
    out = {col: _cast_values(columns[col], kind) for col, kind in kinds.items() if col in columns}
    return frame_of(list(out), list(out.values()), rows)


def column_kinds(name: str, extras: Sequence[ExtraColumn] | None = None) -> dict[str, str]:
    """The table's columns in canonical order, then the extras, with their kinds."""
    return {c.name: c.kind for c in TABLES[name].columns} | {e.name: e.kind for e in extras or ()}


_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)


def aware_ns(values: Sequence[datetime | None]) -> np.ndarray:
    """Aware datetimes as int64 ns (None: NaT's), as a canonical time column holds them (``time_ns``)."""
    us = np.array([NAT_US if v is None else (v - _EPOCH) // _MICROSECOND for v in values], dtype=np.int64)
    return us.view("datetime64[us]").astype("datetime64[ns]").view(np.int64)


def _time_array(ns: np.ndarray) -> pd.arrays.DatetimeArray:
    """int64 UTC nanoseconds (NaT's) as a canonical time array, taken as they are: pandas' public constructors
    check and convert them again, some 40 us a column amid a request's work for its one row."""
    return pd.arrays.DatetimeArray._simple_new(ns.view("datetime64[ns]"), dtype=_TIME)


def text_array(values: Sequence[str | None]) -> pd.api.extensions.ExtensionArray:
    """Python strings (None: missing) as a canonical text array, straight into Arrow: several times faster than
    pandas' own conversion of a list. ArrowInvalid or ArrowTypeError for a value that is no string."""
    return STRING_DTYPE.__from_arrow__(pa.array(values, type=pa.large_string()))


def _cast_values(values: Values, kind: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """The values as the kind's canonical array. What request models give (aware datetimes, floats, bools, None)
    is cast straight, a third of the general parse's time or less; anything else takes the general parse. Times,
    numbers and flags already in an array (a batch's activity columns) are cast whole, not looked at one by one."""
    if kind in KIND_DTYPES and not isinstance(values, list):
        return _cast(pd.Series(values, copy=False), kind).array
    if kind == "time" and all(v is None or (v.__class__ is datetime and v.tzinfo is not None) for v in values):
        return _time_array(aware_ns(values))
    if kind in ("float", "numeric") and all(v is None or v.__class__ in (float, int) for v in values):
        return np.array(values, dtype=np.float64)  # None is NaN
    if kind in ("bool", "boolean"):
        try:  # Arrow takes bools and None only, in C: a tenth of pandas' time on a batch's 60,000 activities
            return pd.BooleanDtype().__from_arrow__(pa.array(values, type=pa.bool_()))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # text or numbers: the general parse
    if kind not in KIND_DTYPES:
        try:
            return text_array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pd.array(values, dtype=STRING_DTYPE)  # not all text (an attribute sent as a number)
    if kind == "time":
        try:
            return _cast(pd.Series(pd.DatetimeIndex(values)), kind).array  # datetimes (and NaT) in one pass
        except (TypeError, ValueError):
            pass  # mixed zones or text: the general parse
    return _cast(pd.Series(values, dtype=object), kind).array


def write_dataset(ds: Dataset, out: Path, partitions: int | None = None) -> None:
    """Write every table as Parquet (one file, or ``partitions`` parts per table) and the manifest (with row
    counts) as YAML."""
    output_dir(out)
    for name in TABLE_ORDER:
        remove_table(out, name)
        if name in ds.tables:
            if partitions is None:
                ds.tables[name].to_parquet(out / f"{name}.parquet", index=False)
            else:
                write_parts(ds.tables[name], out / name, partitions)
            ds.manifest.counts[name] = int(len(ds.tables[name]))
    write_manifest(ds.manifest, out)


def write_manifest(manifest: Manifest, out: Path) -> None:
    """The manifest as ``out/manifest.yaml``, for a dataset written table by table (``write_dataset``)."""
    (out / MANIFEST).write_text(
        yaml.safe_dump(manifest.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


def part_file(directory: Path, number: int) -> Path:
    """The ``number``-th part of a partitioned table: names sort in row order."""
    return directory / f"part-{number:05d}.parquet"


def write_parts(table: pd.DataFrame, directory: Path, partitions: int) -> None:
    """``table`` as ``partitions`` parts of consecutive rows (at least one part, empty for an empty table)."""
    directory.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(table), max(partitions, 1) + 1).astype(int)
    for number, (first, last) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        table.iloc[first:last].to_parquet(part_file(directory, number), index=False)


def remove_table(directory: Path, name: str) -> None:
    """Remove table ``name`` in either form, so a rewritten dataset never keeps both."""
    file, parts = directory / f"{name}.parquet", directory / name
    if file.exists():
        file.unlink()
    if parts.is_dir():
        shutil.rmtree(parts)


def table_path(directory: Path, name: str) -> Path | None:
    """Where table ``name`` is kept: ``name.parquet`` or a directory ``name/`` of parts (None: neither)."""
    file, parts = directory / f"{name}.parquet", directory / name
    if file.exists():
        return file
    return parts if parts.is_dir() else None


def table_parts(path: Path) -> list[Path]:
    """The Parquet files of a table, in row order: the file itself, or a directory's parts sorted by path. DataError
    for a directory without parts and for parts whose columns or types differ."""
    if not path.is_dir():
        return [path]
    parts = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))
    if not parts:
        raise DataError(f"{path}: a partitioned table without Parquet parts (part-*.parquet or key=value/ folders)")
    schemas: dict[str, Path] = {}
    for part in parts:
        schemas.setdefault(str(_unreadable_as_data_error(part, lambda p: pq.read_schema(p).remove_metadata())), part)
    if len(schemas) > 1:
        first, other = list(schemas.values())[:2]
        raise DataError(
            f"{path}: parts with different columns or types ({first.relative_to(path)} and "
            f"{other.relative_to(path)}); write every part with the same schema"
        )
    return parts


def read_part(part: Path, table: Path) -> pd.DataFrame:
    """One part of table ``table`` (``table_parts``), hive-style folder names under it (``region=emea/``) read as
    columns; the whole table when it is one file."""
    if part == table:
        return _unreadable_as_data_error(part, pd.read_parquet)
    hive = pads.partitioning(flavor="hive")
    found = pads.dataset(str(part), format="parquet", partitioning=hive, partition_base_dir=str(table))
    return _unreadable_as_data_error(part, lambda _: found.to_table().to_pandas())


def read_table(path: Path) -> pd.DataFrame:
    """One table as written (``table_path``): a file, or its parts one after another (``read_part``)."""
    parts = [read_part(part, path) for part in table_parts(path)]
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _unreadable_as_data_error(file: Path, read: Any) -> Any:
    try:
        return read(file)
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"{file}: unreadable Parquet file ({' '.join(str(exc).split())})") from exc


def read_manifest(path: Path) -> Manifest:
    file = path / MANIFEST
    if not file.exists():
        raise DataError(f"{file}: no manifest.yaml here; is {path} a salesml dataset (salesml data import/synth)?")
    try:
        return Manifest.from_dict(yaml.safe_load(file.read_text(encoding="utf-8")))
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{file}: unreadable manifest ({exc})") from exc


def read_dataset(path: Path, tables: tuple[str, ...] = TABLE_ORDER) -> Dataset:
    """Load a dataset directory; tables the source did not export are left out."""
    manifest = read_manifest(path)
    ds = Dataset(manifest)
    for name in tables:
        found = table_path(path, name)
        if found is not None:
            ds.tables[name] = conform(name, read_table(found), manifest.extras(name))
    return ds


def time_ns(values: pd.Series | pd.api.extensions.ExtensionArray) -> np.ndarray:
    """UTC times as int64 nanoseconds with NaT as the minimum int64 (for vectorised maths)."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, pd.arrays.DatetimeArray) and array.dtype == _TIME:  # a copy of its own nanoseconds
        return array.asi8.copy()
    canonical = values if values.dtype == TIME_DTYPE else values.astype(TIME_DTYPE)
    return canonical.to_numpy(dtype="datetime64[ns]").view("int64")


def history_start(ds: Dataset) -> pd.Timestamp | None:
    """The first lead's or deal's creation (None: the export has neither): nothing is known before it."""
    starts = [ds.get(name)["created_at"].min() for name, _ in ENTITIES.values()]
    known = [to_utc_scalar(t) for t in starts if pd.notna(t)]
    return min(known) if known else None


def option_time(value: str, option: str) -> pd.Timestamp:
    """A command option's time in UTC; DataError naming the option for what is not a time."""
    try:
        at = to_utc_scalar(value)
    except ValueError:
        at = pd.NaT
    if pd.isna(at):
        raise DataError(f"{option} {value!r}: not a time (e.g. 2025-06-30 or 2025-06-30T18:00:00+08:00)")
    return at


def option_period(start: str, end: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``--from`` and ``--to`` in UTC; DataError when either is not a time or ``--to`` comes first."""
    first, last = option_time(start, "--from"), option_time(end, "--to")
    if last < first:
        raise DataError(f"--to {end} is before --from {start}")
    return first, last


def as_of_time(ds: Dataset, as_of: str | None, option: str = "--as-of") -> pd.Timestamp:
    """``--as-of`` (default: the export time), refused outside the export's history: before its first lead or
    deal nothing is known, after the export nothing yet. ``option`` names the option in the messages."""
    exported = to_utc_scalar(ds.manifest.exported_at)
    if as_of is None:
        return exported
    at = option_time(as_of, option)
    if at > exported:
        raise DataError(f"{option} {at:%Y-%m-%d %H:%M} is after the export ({exported:%Y-%m-%d %H:%M}): unknown yet")
    first = history_start(ds)
    if first is not None and at < first:
        raise DataError(
            f"{option} {at:%Y-%m-%d %H:%M} is before the export's first lead or deal ({first:%Y-%m-%d %H:%M}):"
            " nothing is known yet"
        )
    return at
