"""Raw CRM exports -> canonical datasets: pick an adapter, validate every row, write the dataset and quarantine.

Adapters only read and rename; all row checks live in ``features.crm.validate`` so every source is held to the
same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.crm.dataset import Manifest, write_dataset
from features.crm.importers import csv_mapping, maven, xeducation
from features.crm.importers.source import ImportOptions, RawImport, parse_exported_at
from features.crm.schema import OUTCOME_COLUMNS, TABLE_ORDER
from features.crm.validate import RULE, ValidationResult, summarize, validate_tables
from features.errors import DataError

QUARANTINE = "quarantine"
QUARANTINE_ENCODING = "utf-8-sig"  # with a BOM so that Excel shows Chinese text correctly
#: A table with more than this share of its rows quarantined is not fit for use.
UNFIT_SHARE = 0.5

Adapter = Callable[[Path, ImportOptions], RawImport]
ADAPTERS: dict[str, Adapter] = {
    "x-education": xeducation.load,
    "maven-crm": maven.load,
    "csv": csv_mapping.load,
}


class UnfitImport(DataError):
    """The dataset was written, but so much of it was quarantined that it is not fit for use (exit code 1)."""

    exit_code = 1


@dataclass
class ImportResult:
    """Where a dataset was written, its manifest, and what was imported or quarantined per table."""

    out: Path
    manifest: Manifest
    validation: ValidationResult
    notes: list[str] = field(default_factory=list)  # manifest notes the command prints
    unfit_tables: list[str] = field(default_factory=list)  # why tables are not fit for use (empty: all are)

    @property
    def unfit(self) -> str | None:
        """One line: why the dataset is not fit for use, rows quarantined / total per table, the top reason."""
        if not self.unfit_tables:
            return None
        quarantined = self.manifest.quarantined
        counts = ", ".join(
            f"{name} {quarantined[name]:,} / {quarantined[name] + n:,}" for name, n in self.validation.counts.items()
        )
        reasons = [(n, name, rule) for name, rules in self.validation.rules.items() for rule, n in rules.items()]
        line = f"imported, but not fit for use: {'; '.join(self.unfit_tables)}. Rows quarantined: {counts}"
        if not reasons:  # only tables the source left empty
            return f"{line}."
        rows, table, rule = max(reasons, key=lambda top: top[0])
        return f"{line}; most frequent reason: {rule} ({rows:,} {table} rows). See {self.out / QUARANTINE}/"


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


def _unfit_tables(raw: RawImport, quarantine: dict[str, pd.DataFrame]) -> list[str]:
    """Why tables are unfit: a table the source has (the mapping names it) left without rows (its file empty, or
    every row quarantined), every row with an outcome quarantined (training would see no outcomes, e.g. when a
    time format does not match them), or more than ``UNFIT_SHARE`` of a table's rows quarantined."""
    why = []
    for name, table in raw.tables.items():
        bad = table.index.isin(quarantine[name].index if name in quarantine else [])
        outcomes = [c for c in OUTCOME_COLUMNS.get(name, ()) if c in table.columns]
        has_outcome = table[outcomes].notna().any(axis=1).to_numpy()
        if bad.all():
            why.append(f"no {name} row was imported")
        elif has_outcome.any() and bad[has_outcome].all():
            why.append(f"every {name} row with an outcome ({' or '.join(outcomes)}) was quarantined")
        elif bad.sum() > UNFIT_SHARE * len(table):
            why.append(f"over {UNFIT_SHARE:.0%} of {name} rows were quarantined")
    return why


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
    validation = summarize(f"Imported {src} ({adapter}) into {out}", ds, quarantine)
    return ImportResult(out, ds.manifest, validation, raw.printed_notes, _unfit_tables(raw, quarantine))
