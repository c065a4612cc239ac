"""Any CRM's CSV export, mapped to the canonical tables by a YAML file: a new CRM needs a mapping, not code.

The mapping file is read by ``mapping_file``; here each table is read from its file as the mapping says. The format
is documented in docs/data-import.md; examples/mappings/chinese_crm.yaml is a full example.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.crm.dataset import Manifest, column_kinds
from features.crm.importers.mapping_file import NUMBER_KINDS, OTHER_DELIMITERS, Mapping, TableMapping, read_mapping
from features.crm.importers.source import (
    CUT_OFF,
    ImportOptions,
    RawImport,
    clean,
    cut_off_rows,
    pick,
    read_csv,
)
from features.crm.schema import TABLES, Stage
from features.crm.validate import PROBLEM
from features.errors import DataError


def _values(spec: TableMapping, stages: tuple[Stage, ...]) -> dict[str, dict[str, str]]:
    """Stage values may be given by their zh or en display names as well as their names."""
    if spec.name != "stage_changes":
        return spec.values
    aliases = {alias: s.name for s in stages for alias in (s.zh, s.en)}
    return spec.values | {"stage": aliases | spec.values.get("stage", {})}


def _absent_optional(frame: pd.DataFrame, spec: TableMapping) -> dict[str, str]:
    """Mapped optional columns whose source header is not in the file: an export of open leads to score has no
    outcome columns, and the training mapping should read it too. A header that feeds a required column is
    left out, so that ``pick`` stops on it."""
    table = TABLES[spec.name]
    feeds_required = {spec.columns[c] for c in table.required if c in spec.columns}
    return {
        name: header
        for name, header in spec.columns.items()
        if header not in frame.columns and header not in feeds_required
    }


def _source_file(src: Path, spec: TableMapping, mapping_file: Path) -> Path:
    """The file a table is read from, which must lie under ``--src`` (links followed): the export directory is all
    an import may read, whoever wrote the mapping."""
    path = src / spec.file
    if not path.resolve().is_relative_to(src.resolve()):
        raise DataError(
            f"{mapping_file}: tables.{spec.name}.file: '{spec.file}' is outside --src {src} (name a file under it)"
        )
    return path


def _read_table(path: Path, spec: TableMapping, mapping: Mapping, raw: RawImport, keep_post_outcome: bool) -> None:
    """Read the source file into ``raw``: as read (for quarantine) and as canonical-named, cleaned columns.

    Absent optional columns are imported as all missing (with a note); rows cut off mid-row are a problem."""
    _check_delimiter(path, spec)
    frame = read_csv(path, spec.encoding, spec.delimiter)
    absent = _absent_optional(frame, spec)
    for name, header in absent.items():
        raw.note(
            f"{spec.file}: optional column '{name}' of {spec.name} (mapped from '{header}') is not in the file;"
            " imported as all missing"
        )
    filled = frame.assign(**dict.fromkeys(absent.values(), ""))
    extras = spec.imported_extras(keep_post_outcome)
    columns = spec.columns | {e.name: e.display for e in extras}
    table = clean(pick(filled, columns, spec.name, spec.file), spec.na_values, _values(spec, mapping.stages))
    kinds = column_kinds(spec.name, extras)
    for name in (c for c in table.columns if kinds.get(c) in NUMBER_KINDS):
        table[name] = spec.numbers.canonical(table[name])
    cut_off = pd.Series(CUT_OFF, index=frame.index).where(cut_off_rows(path, spec.encoding, frame, spec.delimiter))
    raw.originals[spec.name] = frame
    raw.tables[spec.name] = table.assign(**spec.constants, **{PROBLEM: cut_off})
    raw.time_formats[spec.name] = spec.time_formats


def _check_delimiter(path: Path, spec: TableMapping) -> None:
    """A header without the mapping's separator but with another usual one was written with that one: say so,
    rather than that the CSV is unreadable or every mapped column missing."""
    try:
        with path.open(encoding=spec.encoding, newline="") as file:
            header = file.readline()
    except (OSError, UnicodeDecodeError):
        return  # reading the file says what is wrong with it
    found = next((d for d in OTHER_DELIMITERS if d != spec.delimiter and d in header), None)
    if spec.delimiter not in header and found is not None:
        raise DataError(
            f"{spec.file}: its header has no {spec.delimiter!r} between fields but {found!r}: set"
            f" delimiter: {found!r} in the mapping (for every file, or under tables.{spec.name})"
        )


def _manifest(mapping: Mapping, options: ImportOptions) -> Manifest:
    extras = {name: list(spec.imported_extras(options.keep_post_outcome)) for name, spec in mapping.tables.items()}
    excluded = {name: [e.name for e in spec.post_outcome] for name, spec in mapping.tables.items()}
    exported_at = options.exported_at if options.exported_at is not None else mapping.exported_at
    return Manifest(
        source=mapping.source,
        exported_at=pd.NaT if exported_at is None else exported_at,
        timezone=mapping.timezone,
        stages=list(mapping.stages),
        extra_columns={name: cols for name, cols in extras.items() if cols},
        excluded_columns={name: cols for name, cols in excluded.items() if cols},
        notes=list(mapping.notes),
    )


def load(src: Path, options: ImportOptions) -> RawImport:
    """Every table the mapping names, read from its file under ``src``."""
    if options.mapping is None:
        raise DataError("--adapter csv needs --mapping FILE.yaml (see docs/data-import.md)")
    mapping = read_mapping(options.mapping)
    if not src.is_dir():
        raise DataError(f"{src}: --src must be the directory holding the files named in {options.mapping.name}")
    raw = RawImport(_manifest(mapping, options))
    for spec in mapping.tables.values():
        _read_table(_source_file(src, spec, options.mapping), spec, mapping, raw, options.keep_post_outcome)
    return raw
