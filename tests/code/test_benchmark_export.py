"""The benchmarks' random export written a part at a time is the one-shot dataset, and the one-shot dataset is the
one the published figures were measured on; writing it holds a part of the large tables, not all of them."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pandas as pd

from benchmarks.export import Size, dataset, write_export
from features.crm.dataset import read_dataset, read_manifest, read_table, table_parts

SMALL = Size(50_000, 5_000, 1_250, 300, 30, 500)  # benchmarks.scale's quick size
#: ``hash_pandas_object`` sums of each table of ``dataset(SMALL, 0)`` as the one-shot generator made it before the
#: export could be written in parts.
FINGERPRINTS = {
    "reps": 2525253894612461086,
    "accounts": 18894970859279707,
    "leads": 6774666739076994759,
    "opportunities": 1877474517143834242,
    "activities": 6055499186000286344,
    "frame": 8645066162999740866,
}


def fingerprint(table: pd.DataFrame) -> int:
    return int(pd.util.hash_pandas_object(table, index=False).sum() % 2**63)


def test_the_one_shot_dataset_keeps_its_rows() -> None:
    ds, frame = dataset(SMALL, 0)
    assert {name: fingerprint(table) for name, table in {**ds.tables, "frame": frame}.items()} == FINGERPRINTS


def test_the_parts_together_are_the_one_shot_dataset(tmp_path: Path) -> None:
    ds, frame = dataset(SMALL, 0)
    write_export(SMALL, 0, tmp_path / "data", tmp_path / "frame", 7_000)
    back = read_dataset(tmp_path / "data")
    assert set(back.tables) == set(ds.tables)
    for name, table in ds.tables.items():
        assert back.tables[name].equals(table), name
    assert read_table(tmp_path / "frame").equals(frame)
    parts = table_parts(tmp_path / "data" / "activities")
    assert len(parts) == 8 and max(len(pd.read_parquet(part)) for part in parts) == 7_000
    assert len(table_parts(tmp_path / "frame")) == 1
    assert read_manifest(tmp_path / "data").counts["activities"] == SMALL.activities


def test_writing_in_parts_holds_a_part(tmp_path: Path) -> None:
    size = Size(200_000, 20_000, 2_000, 500, 30, 500)
    tracemalloc.start()
    try:
        dataset(size, 0)
        _, whole = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        write_export(size, 0, tmp_path / "data", tmp_path / "frame", 10_000)
        _, in_parts = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert in_parts < whole / 5, (in_parts, whole)
