"""Row-level validation of canonical tables: every import and ``salesml data validate`` run the same rules.

Each rule is a boolean mask over a whole table (no per-row Python), so a million-row export is checked in
seconds. A row that breaks any rule is quarantined with a human-readable reason; nothing is dropped silently.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.crm.dataset import (
    TIME_DTYPE,
    Dataset,
    Manifest,
    column_kinds,
    conform,
    read_manifest,
    read_table,
    table_path,
    to_utc,
)
from features.crm.schema import POLYMORPHIC_REFERENCES, TABLE_ORDER, TABLES, ExtraColumn
from features.errors import DataError

REASON = "reason"  # human-readable: every broken rule with the offending raw value
RULE = "rule"  # the first broken rule without values, for counting (not written to quarantine CSVs)
PROBLEM = "_problem"  # optional raw column: a problem the adapter found (e.g. an unknown source status)

#: Time columns that may lie after the export (plans, not events).
FUTURE_ALLOWED = frozenset({("opportunities", "expected_close_at")})
#: Free-text columns compared case-insensitively besides every closed-vocabulary (category) column.
LOWERCASED = frozenset({("activities", "type")})

TRUE_WORDS = ("true", "t", "yes", "y", "1", "是", "真")
FALSE_WORDS = ("false", "f", "no", "n", "0", "否", "假")
# The end of a time that carries its own UTC offset (then the source timezone does not apply).
OFFSET_PATTERN = r"(?:[Zz]|[+-]\d{2}:?\d{2})$"


class _Problems:
    """The rule violations of one table: a reason and a first rule per row, built one mask at a time."""

    def __init__(self, index: pd.Index) -> None:
        self.reason = pd.Series(None, index=index, dtype="str")
        self.rule = pd.Series(None, index=index, dtype="str")

    def add(self, rule: str, mask: pd.Series, values: pd.Series | pd.DataFrame | None = None) -> None:
        """Flag ``mask`` rows as breaking ``rule``; the offending ``values`` are quoted into the reason."""
        mask = mask.fillna(False).astype(bool)
        if not mask.any():
            return
        rows = mask.index[mask]
        text = pd.Series(rule, index=rows, dtype="str")
        if values is not None:
            text = text + ": " + _quote(values.loc[rows])
        old = self.reason[rows]
        self.reason[rows] = (old + "; " + text).where(old.notna(), text)
        self.rule[rows] = self.rule[rows].fillna(rule)

    @property
    def bad(self) -> pd.Series:
        return self.rule.notna()


@dataclass
class _Checked:
    """One table during validation: stripped raw text, parsed values and the problems found so far."""

    name: str
    text: pd.DataFrame
    typed: pd.DataFrame
    problems: _Problems


def _quote(values: pd.Series | pd.DataFrame) -> pd.Series:
    """'value' for a column, 'a' / 'b' for several (vectorised string concatenation)."""
    if isinstance(values, pd.Series):
        return "'" + values.astype("str") + "'"
    return functools.reduce(lambda a, b: a + " / " + b, (_quote(values[c]) for c in values.columns))


def _is_text(values: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(values.dtype) or pd.api.types.is_string_dtype(values.dtype)


def as_text(values: pd.Series, lower: bool = False) -> pd.Series:
    """Strip text values and make blanks missing; typed (already parsed) columns pass through."""
    if not _is_text(values):
        return values
    text = values.astype("str").str.strip()
    if lower:
        text = text.str.lower()
    return text.mask(text == "")


def parse_time(text: pd.Series, fmt: str | None = None, timezone: str = "UTC") -> pd.Series:
    """UTC times from text in ``fmt`` (default ISO 8601); times without an offset are in ``timezone``.

    Ambiguous local times (the hour repeated when clocks go back) are read as standard time.
    """
    if not _is_text(text):
        return to_utc(text)
    parsed = pd.to_datetime(text, format=fmt or "ISO8601", errors="coerce", utc=True)
    if timezone != "UTC":
        tail = text.str.slice(start=-6)  # matching only the tail keeps the regex fast on millions of rows
        local = parsed.notna() & ~tail.str.contains(OFFSET_PATTERN, regex=True, na=False)
        if local.any():
            wall = parsed[local].dt.tz_localize(None)
            ambiguous = np.zeros(len(wall), dtype=bool)
            localized = wall.dt.tz_localize(timezone, ambiguous=ambiguous, nonexistent="shift_forward")
            parsed = parsed.astype(TIME_DTYPE)
            parsed[local] = localized.dt.tz_convert("UTC").astype(TIME_DTYPE)
    return parsed.astype(TIME_DTYPE)


def parse_number(text: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(text.dtype) and not pd.api.types.is_bool_dtype(text.dtype):
        return text.astype("float64")
    return pd.to_numeric(text, errors="coerce").astype("float64")


def parse_bool(text: pd.Series) -> pd.Series:
    """Yes/No, true/false, 1/0 and 是/否 as booleans; anything else is missing (and flagged by the caller)."""
    if pd.api.types.is_bool_dtype(text.dtype):
        return text.astype("boolean")
    lower = text.astype("str").str.lower()
    out = pd.Series(pd.NA, index=text.index, dtype="boolean")
    out[lower.isin(TRUE_WORDS)] = True
    out[lower.isin(FALSE_WORDS)] = False
    return out


#: What an unparseable value of each parsed kind is called; other kinds are text and cannot fail to parse.
UNPARSEABLE = {
    "time": "time",
    "float": "number",
    "numeric": "number",
    "bool": "yes/no value",
    "boolean": "yes/no value",
}


def parse_column(values: pd.Series, kind: str, fmt: str | None = None, timezone: str = "UTC") -> pd.Series:
    """Values of a schema or extra ``kind``; what cannot be parsed becomes missing (flagged by the caller)."""
    if kind == "time":
        return parse_time(values, fmt, timezone)
    if kind in ("float", "numeric"):
        return parse_number(values)
    if kind in ("bool", "boolean"):
        return parse_bool(values)
    return values


def require_columns(name: str, columns: Iterable[str], where: str) -> None:
    """A table without a required column cannot be imported at all: stop with one line naming it."""
    missing = [c for c in TABLES[name].required if c not in set(columns)]
    if missing:
        raise DataError(f"{where}: required column '{missing[0]}' is missing")


def _kinds(name: str, frame: pd.DataFrame, extras: list[ExtraColumn]) -> dict[str, str]:
    kinds = column_kinds(name, extras)
    return {col: kind for col, kind in kinds.items() if col in frame.columns}


def _parse_table(
    name: str, frame: pd.DataFrame, extras: list[ExtraColumn], formats: dict[str, str], timezone: str
) -> _Checked:
    """Parse every column to its kind and flag empty required values and unparseable values."""
    table = TABLES[name]
    problems = _Problems(frame.index)
    text, typed = {}, {}
    for col, kind in _kinds(name, frame, extras).items():
        lower = (name, col) in LOWERCASED or kind == "category"
        text[col] = as_text(frame[col], lower=lower)
        if col in table.required:
            problems.add(f"required {col} is empty", text[col].isna())
        typed[col] = parse_column(text[col], kind, formats.get(col), timezone)
        if kind in UNPARSEABLE:
            failed = text[col].notna() & typed[col].isna()
            problems.add(f"unparseable {UNPARSEABLE[kind]} in {col}", failed, text[col])
    if PROBLEM in frame.columns:
        found = as_text(frame[PROBLEM])
        for rule in found.dropna().unique():
            problems.add(str(rule), found == rule)
    return _Checked(name, pd.DataFrame(text, index=frame.index), pd.DataFrame(typed, index=frame.index), problems)


def _event_time_columns(checked: _Checked) -> list[str]:
    kinds = column_kinds(checked.name)
    return [c for c in checked.typed.columns if kinds.get(c) == "time" and (checked.name, c) not in FUTURE_ALLOWED]


def _latest_time(tables: dict[str, _Checked]) -> pd.Timestamp:
    latest = [t.typed[c].max() for t in tables.values() for c in _event_time_columns(t)]
    latest = [ts for ts in latest if pd.notna(ts)]
    if not latest:
        raise DataError("no export time given and no readable times in the data: set exported_at (or --exported-at)")
    return max(latest)


def _check_vocabularies(checked: _Checked) -> None:
    for col in TABLES[checked.name].columns:
        if col.allowed and col.name in checked.typed:
            values = checked.typed[col.name]
            bad = values.notna() & ~values.isin(col.allowed)
            checked.problems.add(f"{col.name} not one of {', '.join(col.allowed)}", bad, values)


def _check_duplicates(checked: _Checked) -> None:
    key = list(TABLES[checked.name].key)
    if not key or not set(key) <= set(checked.typed.columns):
        return
    keys = checked.typed[key]
    complete = keys.notna().all(axis=1)
    duplicate = pd.Series(False, index=keys.index)
    duplicate[complete] = keys[complete].duplicated(keep="first")
    checked.problems.add(f"duplicate {' / '.join(key)} (the first row is kept)", duplicate, checked.text[key])


def _check_times(checked: _Checked, manifest: Manifest) -> None:
    """No event after the export time, and each row's times in order (e.g. closed_at not before created_at)."""
    exported = manifest.exported_at
    for col in _event_time_columns(checked):
        late = checked.typed[col] > exported
        checked.problems.add(f"{col} after the export time {exported:%Y-%m-%d %H:%M} UTC", late, checked.text[col])
    for later, earlier in TABLES[checked.name].time_columns_not_before:
        if later in checked.typed and earlier in checked.typed:
            bad = checked.typed[later] < checked.typed[earlier]
            checked.problems.add(f"{later} before {earlier}", bad, checked.text[[later, earlier]])


def _check_stages(checked: _Checked, manifest: Manifest) -> None:
    if checked.name != "stage_changes" or "stage" not in checked.typed:
        return
    names = manifest.stage_names()
    stage = checked.typed["stage"]
    bad = stage.notna() & ~stage.isin(names)
    checked.problems.add(f"stage not in the stage order ({' > '.join(names)})", bad, stage)


def _is_in(values: pd.Series, universe: pd.Series) -> pd.Series:
    """``values.isin(universe)`` through Arrow: pandas' isin on Arrow strings loops over ``universe`` in Python."""
    found = pc.is_in(pa.array(values.astype("str")), value_set=pc.drop_null(pa.array(universe.astype("str"))))
    return pd.Series(found.to_numpy(zero_copy_only=False), index=values.index).fillna(False).astype(bool)


def _check_reference(checked: _Checked, col: str, rows: pd.Series, target: _Checked, target_col: str) -> None:
    """Values in ``rows`` must exist among the kept rows of ``target``; a quarantined target cascades."""
    values = checked.typed[col]
    kept = target.typed.loc[~target.problems.bad, target_col]
    unknown = rows & values.notna() & ~_is_in(values, kept)
    quarantined = unknown & _is_in(values, target.typed[target_col])
    checked.problems.add(f"{col} refers to a quarantined {target.name} row", quarantined, values)
    checked.problems.add(f"{col} not found in {target.name}", unknown & ~quarantined, values)


def _check_references(checked: _Checked, done: dict[str, _Checked]) -> None:
    """Only references to tables present in this dataset are checked (a source may lack a table)."""
    every_row = pd.Series(True, index=checked.typed.index)
    for col in TABLES[checked.name].columns:
        if col.references and col.name in checked.typed:
            table, target_col = col.references.split(".")
            if table in done:
                _check_reference(checked, col.name, every_row, done[table], target_col)
    if not {"entity_type", "entity_id"} <= set(checked.typed.columns):
        return
    for entity_type, table in POLYMORPHIC_REFERENCES.get(checked.name, {}).items():
        if table in done:
            rows = checked.typed["entity_type"] == entity_type
            _check_reference(checked, "entity_id", rows, done[table], TABLES[table].key[0])


def _quarantine_frame(original: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    """The source rows as they came, plus ``reason`` and ``rule`` (a source column of that name is renamed)."""
    bad = problems.bad
    clash = {c: f"{c} (source)" for c in (REASON, RULE) if c in original.columns}
    frame = original.loc[bad[bad].index].rename(columns=clash)
    return frame.assign(**{REASON: problems.reason[bad], RULE: problems.rule[bad]})


def validate_tables(
    raw: dict[str, pd.DataFrame],
    manifest: Manifest,
    *,
    time_formats: dict[str, dict[str, str]] | None = None,
    originals: dict[str, pd.DataFrame] | None = None,
) -> tuple[Dataset, dict[str, pd.DataFrame]]:
    """Split raw canonical-named tables into a conformed Dataset and quarantined rows.

    ``raw`` holds text (or already typed) values; ``time_formats`` gives a strptime format per table and
    column (default ISO 8601), times without an offset are in ``manifest.timezone``. ``originals`` are the
    source rows (same index as ``raw``) to show in quarantine; by default the raw rows. Fills
    ``manifest.quarantined`` and, when ``manifest.exported_at`` is missing, sets it to the latest time seen.
    Quarantine frames carry ``reason`` (every broken rule with its value) and ``rule`` (the first one).
    """
    formats = time_formats or {}
    checked: dict[str, _Checked] = {}
    for name in TABLE_ORDER:
        if name in raw:
            require_columns(name, raw[name].columns, f"{name} table")
            extras = manifest.extras(name)
            checked[name] = _parse_table(name, raw[name], extras, formats.get(name, {}), manifest.timezone)
    if pd.isna(manifest.exported_at):
        manifest.exported_at = _latest_time(checked)
        manifest.notes.append("exported_at not given: taken as the latest event time in the export.")
    done: dict[str, _Checked] = {}
    for name, table in checked.items():
        _check_vocabularies(table)
        _check_duplicates(table)
        _check_times(table, manifest)
        _check_stages(table, manifest)
        _check_references(table, done)
        done[name] = table
    tables, quarantine = {}, {}
    for name, table in done.items():
        bad = table.problems.bad
        tables[name] = conform(name, table.typed[~bad], manifest.extras(name))
        manifest.quarantined[name] = int(bad.sum())
        if bad.any():
            quarantine[name] = _quarantine_frame((originals or raw).get(name, raw[name]), table.problems)
    return Dataset(manifest, tables), quarantine


@dataclass
class ValidationResult:
    """Rows kept and rows that broke a rule, per table, with the most frequent rules."""

    title: str
    counts: dict[str, int] = field(default_factory=dict)
    rules: dict[str, pd.Series] = field(default_factory=dict)  # table -> rows per first broken rule

    @property
    def problem_count(self) -> int:
        return int(sum(r.sum() for r in self.rules.values()))


def summarize(title: str, ds: Dataset, quarantine: dict[str, pd.DataFrame]) -> ValidationResult:
    """Counts per table from a validation's output (for the import and validate summaries)."""
    return ValidationResult(
        title,
        counts={name: len(df) for name, df in ds.tables.items()},
        rules={name: q[RULE].value_counts() for name, q in quarantine.items()},
    )


def validate_directory(path: Path) -> ValidationResult:
    """Re-check a written dataset with the import rules; nothing is written."""
    manifest = read_manifest(path)
    found = {name: table_path(path, name) for name in TABLE_ORDER}
    raw = {name: read_table(file) for name, file in found.items() if file is not None}
    ds, quarantine = validate_tables(raw, manifest)
    return summarize(f"Validation of {path}", ds, quarantine)
