"""The mapping file of the csv adapter, read and checked: every mistake is one line saying where and what.

The format is documented in docs/data-import.md; examples/mappings/chinese_crm.yaml is a full example.
"""

from __future__ import annotations

import codecs
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import yaml

from features.crm.dataset import column_kinds
from features.crm.schema import DEFAULT_STAGES, TABLES, ExtraColumn, Stage
from features.errors import DataError, one_line

TOP_KEYS = (
    "source",
    "timezone",
    "encoding",
    "delimiter",
    "thousands",
    "decimal",
    "time_format",
    "na_values",
    "exported_at",
    "stages",
    "notes",
    "tables",
)
TABLE_KEYS = (
    "file",
    "encoding",
    "delimiter",
    "thousands",
    "decimal",
    "columns",
    "constants",
    "values",
    "time_formats",
    "na_values",
    "extras",
    "post_outcome",
)
EXTRA_KEYS = ("column", "kind")
STAGE_KEYS = ("name", "zh", "en")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
#: Field separators CRM and spreadsheet exports use besides the comma (Excel writes ";" where "," is the decimal mark).
OTHER_DELIMITERS = (";", "\t", "|")
#: Decimal marks a number may be written with; grouping separators are any one character but that mark.
DECIMAL_MARKS = (".", ",")
NUMBER_KINDS = ("float", "numeric")


@dataclass(frozen=True)
class NumberFormat:
    """How a file writes numbers: its decimal mark, and the character grouping thousands (None: none)."""

    decimal: str = "."
    thousands: str | None = None

    def canonical(self, text: pd.Series) -> pd.Series:
        """Numbers as written -> as parsed (``1.234,5`` -> ``1234.5``); other text is left for the parse to flag."""
        if self.thousands is not None:
            text = text.str.replace(self.thousands, "", regex=False)
        return text.str.replace(self.decimal, ".", regex=False) if self.decimal != "." else text


@dataclass(frozen=True)
class TableMapping:
    """How one canonical table is read from one source file."""

    name: str
    file: str
    encoding: str = "utf-8"
    delimiter: str = ","
    numbers: NumberFormat = NumberFormat()
    columns: dict[str, str] = field(default_factory=dict)  # canonical -> source header
    constants: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # column -> source value -> canonical value
    time_formats: dict[str, str] = field(default_factory=dict)
    na_values: tuple[str, ...] = ()
    extras: tuple[ExtraColumn, ...] = ()  # display = the source header
    post_outcome: tuple[ExtraColumn, ...] = ()

    def imported_extras(self, keep_post_outcome: bool) -> tuple[ExtraColumn, ...]:
        return self.extras + (self.post_outcome if keep_post_outcome else ())


@dataclass(frozen=True)
class _Defaults:
    """Top-level settings every table inherits unless it sets its own."""

    encoding: str
    delimiter: str
    numbers: NumberFormat
    time_format: str | None
    na_values: tuple[str, ...]


@dataclass(frozen=True)
class Mapping:
    """A whole mapping file."""

    source: str
    timezone: str
    exported_at: pd.Timestamp | None
    stages: tuple[Stage, ...]
    notes: tuple[str, ...]
    tables: dict[str, TableMapping]


@dataclass(frozen=True)
class _Node:
    """A value in the mapping file and where it is, so every mistake is reported as one line."""

    path: Path
    where: str
    value: Any

    def fail(self, message: str) -> NoReturn:
        raise DataError(f"{self.path}: {self.where}: {message}" if self.where else f"{self.path}: {message}")

    def child(self, key: str) -> _Node:
        value = self.value.get(key) if isinstance(self.value, dict) else None
        return _Node(self.path, f"{self.where}.{key}" if self.where else key, value)

    def entries(self, allowed: tuple[str, ...] | None = None) -> dict[str, _Node]:
        """A YAML mapping (absent: empty) as child nodes; keys outside ``allowed`` are a mistake."""
        if self.value is None:
            return {}
        if not isinstance(self.value, dict):
            self.fail(f"expected a mapping (key: value lines), got {self.value!r}")
        nodes = {}
        for key, value in self.value.items():
            name = _Node(self.path, self.where, key).text()
            if allowed is not None and name not in allowed:
                self.fail(f"unknown key '{name}' (expected one of: {', '.join(allowed)})")
            nodes[name] = _Node(self.path, f"{self.where}.{name}" if self.where else name, value)
        return nodes

    def items(self) -> list[_Node]:
        if self.value is None:
            return []
        if not isinstance(self.value, list):
            self.fail(f"expected a list, got {self.value!r}")
        return [_Node(self.path, f"{self.where}[{i}]", v) for i, v in enumerate(self.value)]

    def text(self, default: str | None = None) -> str:
        """Text (numbers are read as text); YAML's bare yes/no/true/false would silently become booleans."""
        if self.value is None and default is not None:
            return default
        if self.value is None:
            self.fail("a value is required")
        if isinstance(self.value, bool) or not isinstance(self.value, str | int | float):
            self.fail(f"expected text, got {self.value!r} (quote it: '...')")
        return str(self.value)

    def texts(self) -> dict[str, str]:
        return {key: node.text() for key, node in self.entries().items()}


def _timezone(node: _Node) -> str:
    name = node.text("UTC")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        node.fail(f"'{name}' is not an IANA timezone (e.g. Asia/Shanghai, UTC)")
    return name


def _encoding(node: _Node, default: str) -> str:
    name = node.text(default)
    try:
        codecs.lookup(name)
    except LookupError:
        node.fail(f"unknown encoding '{name}' (e.g. utf-8, utf-8-sig, gbk, gb18030)")
    return name


def _delimiter(node: _Node, default: str) -> str:
    """The character between a file's fields: one character, not a quote or a line break."""
    text = node.text(default)
    if len(text) != 1 or text in '"\r\n':
        node.fail(f"{text!r} is not one field separator character (e.g. ',', ';', '|', or \"\\t\" for a tab)")
    return text


def _numbers(node: _Node, default: NumberFormat) -> NumberFormat:
    """A number format from ``decimal`` and ``thousands`` (each as set above it when not set here)."""
    decimal = node.child("decimal").text(default.decimal)
    if decimal not in DECIMAL_MARKS:
        node.child("decimal").fail(f"{decimal!r} is not a decimal mark (one of {', '.join(map(repr, DECIMAL_MARKS))})")
    thousands = node.child("thousands").text(default.thousands or "") or None
    if thousands is not None and (len(thousands) != 1 or thousands == decimal or thousands.isdigit()):
        node.child("thousands").fail(
            f"{thousands!r} is not one character grouping thousands other than a digit and the decimal mark {decimal!r}"
            " (e.g. ',' in 1,234.5, '.' with decimal: ',' in 1.234,5)"
        )
    return NumberFormat(decimal, thousands)


def _exported_at(node: _Node, timezone: str) -> pd.Timestamp | None:
    """An export time; without an offset it is read in the source timezone."""
    if node.value is None:
        return None
    if not isinstance(node.value, str | datetime | date):
        node.fail(f"expected a time like 2024-06-30T18:00:00+08:00, got {node.value!r}")
    try:
        ts = pd.Timestamp(node.value)
    except ValueError:
        ts = pd.NaT
    if pd.isna(ts):
        node.fail(f"'{node.value}' is not a time (e.g. 2024-06-30T18:00:00+08:00)")
    return (ts.tz_localize(timezone) if ts.tzinfo is None else ts).tz_convert("UTC")


def _stages(node: _Node) -> tuple[Stage, ...]:
    if node.value is None:
        return DEFAULT_STAGES
    stages = []
    for item in node.items():
        item.entries(STAGE_KEYS)
        name = item.child("name").text()
        if not NAME_PATTERN.match(name):
            item.fail(f"stage name '{name}' must be lower_snake_case")
        stages.append(Stage(name, item.child("zh").text(name), item.child("en").text(name)))
    names = [s.name for s in stages]
    if not names or len(set(names)) != len(names):
        node.fail(f"give each stage once, in funnel order (got {names})")
    return tuple(stages)


def _extras(node: _Node, table: str, taken: set[str]) -> tuple[ExtraColumn, ...]:
    """Declared attribute columns: ``name: {column: source header, kind: numeric|categorical|boolean|text}``."""
    entries = node.entries()
    if entries and not TABLES[table].extras_allowed:
        allowed = [t.name for t in TABLES.values() if t.extras_allowed]
        node.fail(f"{table} cannot have extra columns (only {', '.join(allowed)})")
    extras = []
    for name, spec in entries.items():
        spec.entries(EXTRA_KEYS)
        if not NAME_PATTERN.match(name) or name in taken:
            spec.fail(f"'{name}' must be a new lower_snake_case name (not a canonical or another extra column)")
        try:
            extras.append(ExtraColumn(name, spec.child("kind").text(), display=spec.child("column").text()))
        except ValueError as exc:
            spec.fail(one_line(exc))
        taken.add(name)
    return tuple(extras)


def _columns(node: _Node, table: str) -> dict[str, str]:
    columns = node.texts()
    names = TABLES[table].names
    for name in columns:
        if name not in names:
            node.fail(f"'{name}' is not a column of {table} (columns: {', '.join(names)})")
    return columns


def _table(name: str, node: _Node, top: _Defaults) -> TableMapping:
    node.entries(TABLE_KEYS)
    columns = _columns(node.child("columns"), name)
    constants = _columns(node.child("constants"), name)
    for col in TABLES[name].required:
        if col not in columns and col not in constants:
            node.fail(f"no column or constant for required '{col}'")
    if both := set(columns) & set(constants):
        node.fail(f"'{sorted(both)[0]}' is both a column and a constant")
    taken = set(TABLES[name].names)
    extras = _extras(node.child("extras"), name, taken)
    post_outcome = _extras(node.child("post_outcome"), name, taken)
    readable = set(columns) | {e.name for e in (*extras, *post_outcome)}
    values = {col: spec.texts() for col, spec in node.child("values").entries().items()}
    for col in values:
        if col not in readable:
            node.child("values").fail(f"'{col}' is not a mapped column")
    kinds = column_kinds(name)
    time_formats = node.child("time_formats").texts()
    for col in time_formats:
        if col not in columns or kinds[col] != "time":
            node.child("time_formats").fail(f"'{col}' is not a mapped time column")
    if top.time_format:
        time_formats = {c: top.time_format for c in columns if kinds[c] == "time"} | time_formats
    return TableMapping(
        name=name,
        file=node.child("file").text(),
        encoding=_encoding(node.child("encoding"), top.encoding),
        delimiter=_delimiter(node.child("delimiter"), top.delimiter),
        numbers=_numbers(node, top.numbers),
        columns=columns,
        constants=constants,
        values=values,
        time_formats=time_formats,
        na_values=top.na_values + tuple(n.text() for n in node.child("na_values").items()),
        extras=extras,
        post_outcome=post_outcome,
    )


def read_mapping(path: Path) -> Mapping:
    """Parse and check a mapping file; any mistake is a DataError saying where and what."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path}: mapping file not found") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a valid UTF-8 YAML file ({one_line(exc)})") from exc
    root = _Node(path, "", doc)
    root.entries(TOP_KEYS)
    timezone = _timezone(root.child("timezone"))
    top = _Defaults(
        encoding=_encoding(root.child("encoding"), "utf-8"),
        delimiter=_delimiter(root.child("delimiter"), ","),
        numbers=_numbers(root, NumberFormat()),
        time_format=root.child("time_format").text("") or None,
        na_values=tuple(n.text() for n in root.child("na_values").items()),
    )
    tables = {name: _table(name, node, top) for name, node in root.child("tables").entries(tuple(TABLES)).items()}
    if not tables:
        root.fail("'tables' must map at least one canonical table to a file")
    return Mapping(
        source=root.child("source").text("csv"),
        timezone=timezone,
        exported_at=_exported_at(root.child("exported_at"), timezone),
        stages=_stages(root.child("stages")),
        notes=tuple(n.text() for n in root.child("notes").items()),
        tables=tables,
    )
