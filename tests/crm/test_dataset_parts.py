"""A canonical table is one Parquet file or a directory of parts: both read the same, and so does validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.crm.dataset import MANIFEST, Dataset, read_dataset, read_table, write_dataset
from features.errors import DataError
from features.synth import synthesize
from features.synth.output import TRUTH_DIR
from tests.helpers import assert_one_line_error, salesml


@pytest.fixture(scope="module")
def small(small_data: Path) -> Dataset:
    return read_dataset(small_data)


def _parts_copy(ds: Dataset, out: Path, partitions: int) -> Path:
    write_dataset(Dataset(ds.manifest, dict(ds.tables)), out, partitions=partitions)
    return out


def test_a_partitioned_dataset_reads_as_the_single_file_one(small: Dataset, tmp_path: Path) -> None:
    out = _parts_copy(small, tmp_path / "crm", 3)
    assert sorted(p.name for p in (out / "activities").iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
    assert not (out / "activities.parquet").exists()
    again = read_dataset(out)
    assert again.tables.keys() == small.tables.keys()
    for name, table in small.tables.items():
        pd.testing.assert_frame_equal(again.tables[name], table, check_exact=True)


def _manifest_file(ds: Dataset, tmp_path: Path) -> Path:
    """Just the manifest of ``ds``, written."""
    write_dataset(Dataset(ds.manifest), tmp_path / "manifest-only")
    return tmp_path / "manifest-only" / MANIFEST


def test_hive_style_folders_read_as_a_column(small: Dataset, tmp_path: Path) -> None:
    leads = small.get("leads")
    out = tmp_path / "crm"
    out.mkdir()
    shutil.copy(_manifest_file(small, tmp_path), out / MANIFEST)
    for region, rows in leads.groupby("region", observed=True):
        folder = out / "leads" / f"region={region}"
        folder.mkdir(parents=True)
        rows.drop(columns="region").to_parquet(folder / "part-0.parquet", index=False)
    read = read_dataset(out, ("leads",)).get("leads")
    expected = leads.dropna(subset=["region"]).sort_values("lead_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(read.sort_values("lead_id").reset_index(drop=True), expected, check_exact=True)


def test_data_validate_checks_a_partitioned_dataset(small: Dataset, tmp_path: Path) -> None:
    out = _parts_copy(small, tmp_path / "crm", 4)
    proc = salesml("data", "validate", out)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(small.get('activities')):,}" in proc.stdout


def test_parts_with_different_columns_are_refused_in_one_line(small: Dataset, tmp_path: Path) -> None:
    out = _parts_copy(small, tmp_path / "crm", 2)
    part = out / "leads" / "part-00001.parquet"
    pd.read_parquet(part).assign(region=1.5).to_parquet(part, index=False)  # a number where the others have text
    with pytest.raises(DataError, match="parts with different columns or types"):
        read_table(out / "leads")
    assert_one_line_error(salesml("data", "validate", out), "parts with different columns or types", "part-00001")


def test_synth_partitions_writes_the_same_rows_as_parts(tmp_path: Path) -> None:
    synthesize(tmp_path / "one", leads=400, seed=4)
    synthesize(tmp_path / "parts", leads=400, seed=4, partitions=3)
    for name in ("leads", "opportunities", "stage_changes", "activities"):
        assert len(list((tmp_path / "parts" / name).glob("part-*.parquet"))) == 3
    one, parts = read_dataset(tmp_path / "one"), read_dataset(tmp_path / "parts")
    for name, table in one.tables.items():
        pd.testing.assert_frame_equal(parts.tables[name], table, check_exact=True)
    for name in ("leads", "opportunities"):
        truth = read_table(tmp_path / "parts" / TRUTH_DIR / name)
        pd.testing.assert_frame_equal(truth, pd.read_parquet(tmp_path / "one" / TRUTH_DIR / f"{name}.parquet"))


def test_synth_refuses_zero_partitions_in_one_line(tmp_path: Path) -> None:
    proc = salesml("data", "synth", "--out", tmp_path / "crm", "--leads", 100, "--partitions", 0)
    assert_one_line_error(proc, "--partitions")
