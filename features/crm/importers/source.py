"""Reading raw CRM exports: every adapter reads, renames and cleans its source the same way."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.crm.dataset import Manifest, to_utc_scalar
from features.crm.schema import TABLES
from features.errors import DataError, one_line

#: The quarantine reason of a row with fewer fields than the header (pandas pads such a row with blanks).
CUT_OFF = "row has fewer fields than the header (cut off)"
#: Fields as long as pandas reads them (the csv module stops at 128 KiB by default).
FIELD_SIZE_LIMIT = 2**31 - 1


@dataclass(frozen=True)
class ImportOptions:
    """The command-line choices every adapter receives."""

    mapping: Path | None = None
    keep_post_outcome: bool = False
    exported_at: pd.Timestamp | None = None


@dataclass
class RawImport:
    """An adapter's output: canonical column names with raw values, and the source rows they came from."""

    manifest: Manifest
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    originals: dict[str, pd.DataFrame] = field(default_factory=dict)  # same index as tables, for quarantine
    time_formats: dict[str, dict[str, str]] = field(default_factory=dict)
    printed_notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        """A manifest note the import command also prints: the user should know now, not on reading the manifest."""
        self.manifest.notes.append(text)
        self.printed_notes.append(text)


def read_csv(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> pd.DataFrame:
    """All columns as text exactly as written (CRLF or LF); an unreadable file is a DataError."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return pd.read_csv(path, sep=delimiter, dtype=str, keep_default_na=False, na_filter=False, encoding=encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise DataError(f"{path}: cannot decode as {encoding} ({one_line(exc)}); set the file's encoding") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError) as exc:
        raise DataError(f"{path}: unreadable CSV ({one_line(exc)})") from exc


def _skipped_by_pandas(row: list[str]) -> bool:
    """An empty or whitespace-only line, which pandas skips as blank (a quoted ``""`` line is a row)."""
    return not row or (len(row) == 1 and row[0] != "" and not row[0].strip())


def cut_off_rows(path: Path, encoding: str, frame: pd.DataFrame, delimiter: str = ",") -> pd.Series:
    """Rows of ``frame`` (read by ``read_csv``) with fewer fields than the header, like the last row of a file cut
    off mid-row: pandas pads them with blanks, so the fields are counted again with the csv module."""
    limit = csv.field_size_limit(FIELD_SIZE_LIMIT)
    try:
        with path.open(encoding=encoding, newline="") as file:
            counts = [len(row) for row in csv.reader(file, delimiter=delimiter) if not _skipped_by_pandas(row)]
    except csv.Error as exc:
        raise DataError(f"{path}: unreadable CSV ({one_line(exc)})") from exc
    finally:
        csv.field_size_limit(limit)
    if len(counts) != len(frame) + 1:
        raise DataError(f"{path}: unreadable CSV (its rows could not be counted field by field)")
    return pd.Series(counts[1:], index=frame.index) < counts[0]


def pick(frame: pd.DataFrame, columns: dict[str, str], table: str, file: str) -> pd.DataFrame:
    """The mapped source columns under their canonical names; a mapped column missing from the file stops."""
    for name, header in columns.items():
        if header not in frame.columns:
            required = "required " if name in TABLES[table].required else ""
            raise DataError(f"{file}: {required}column '{name}' (mapped from '{header}') is missing")
    return pd.DataFrame({name: frame[header] for name, header in columns.items()}, index=frame.index)


def clean(
    frame: pd.DataFrame, na_values: tuple[str, ...] = (), values: dict[str, dict[str, str]] | None = None
) -> pd.DataFrame:
    """Strip text, turn blanks and ``na_values`` into missing, and apply per-column value maps."""
    out = {}
    for col in frame.columns:
        text = frame[col].astype("str").str.strip()
        text = text.mask((text == "") | text.isin(na_values))
        value_map = (values or {}).get(col)
        if value_map:
            text = text.map(value_map).where(text.isin(list(value_map)), text)
        out[col] = text
    return pd.DataFrame(out, index=frame.index)


def snake_case(header: str) -> str:
    """'TotalVisits' -> 'total_visits', 'Do Not Email' -> 'do_not_email'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", spaced).strip("_").lower()


def slug(values: pd.Series) -> pd.Series:
    """Stable ids from names: 'Acme Corporation' -> 'acme-corporation' (missing stays missing)."""
    return values.str.lower().str.replace(r"[^0-9a-z]+", "-", regex=True).str.strip("-")


def parse_exported_at(value: str) -> pd.Timestamp:
    """The --exported-at option: ISO 8601, naive values taken as UTC."""
    try:
        ts = to_utc_scalar(value)
    except (ValueError, TypeError):
        ts = pd.NaT
    if pd.isna(ts):
        raise DataError(f"--exported-at {value!r} is not an ISO 8601 time (e.g. 2024-06-30T18:00:00+08:00)")
    return ts
