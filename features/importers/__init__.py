"""Raw CRM exports -> canonical datasets: pick an adapter, validate every row, write the dataset and quarantine.

Adapters only read and rename; all row checks live in ``features.validate`` so every source is held to the
same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.table import Table as RichTable

from features.dataset import Manifest, write_dataset
from features.errors import DataError
from features.importers import csv_mapping, maven, xeducation
from features.importers.source import ImportOptions, RawImport, parse_exported_at
from features.schema import TABLE_ORDER
from features.validate import RULE, ValidationResult, summarize, validate_tables

QUARANTINE = "quarantine"
QUARANTINE_ENCODING = "utf-8-sig"  # with a BOM so that Excel shows Chinese text correctly

Adapter = Callable[[Path, ImportOptions], RawImport]
ADAPTERS: dict[str, Adapter] = {
    "x-education": xeducation.load,
    "maven-crm": maven.load,
    "csv": csv_mapping.load,
}


@dataclass
class ImportResult:
    """Where a dataset was written, its manifest, and what was imported or quarantined per table."""

    out: Path
    manifest: Manifest
    validation: ValidationResult

    def summary_table(self) -> RichTable:
        return self.validation.summary_table(kept="rows imported", bad="rows quarantined")


def write_quarantine(quarantine: dict[str, pd.DataFrame], out: Path) -> None:
    """OUT/quarantine/<table>.csv: the source rows plus ``reason``; stale files from an earlier import go."""
    folder = out / QUARANTINE
    for name in TABLE_ORDER:
        path = folder / f"{name}.csv"
        if name in quarantine:
            folder.mkdir(parents=True, exist_ok=True)
            quarantine[name].drop(columns=RULE).to_csv(path, index=False, encoding=QUARANTINE_ENCODING)
        elif path.exists():
            path.unlink()


def import_dataset(
    adapter: str,
    src: Path,
    out: Path,
    *,
    mapping: Path | None = None,
    keep_post_outcome: bool = False,
    exported_at: str | None = None,
) -> ImportResult:
    """Read ``src`` with ``adapter``, validate every row, write the canonical dataset and its quarantine."""
    if adapter not in ADAPTERS:
        raise DataError(f"unknown adapter '{adapter}' (use one of: {', '.join(ADAPTERS)})")
    if mapping is not None and adapter != "csv":
        raise DataError(f"--mapping is only used with --adapter csv, not {adapter}")
    if not src.exists():
        raise DataError(f"{src}: not found (--src)")
    options = ImportOptions(
        mapping=mapping,
        keep_post_outcome=keep_post_outcome,
        exported_at=parse_exported_at(exported_at) if exported_at is not None else None,
    )
    raw = ADAPTERS[adapter](src, options)
    ds, quarantine = validate_tables(raw.tables, raw.manifest, time_formats=raw.time_formats, originals=raw.originals)
    write_dataset(ds, out)
    write_quarantine(quarantine, out)
    return ImportResult(out, ds.manifest, summarize(f"Imported {src} ({adapter}) into {out}", ds, quarantine))
