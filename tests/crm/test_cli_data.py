"""`salesml data import` / `salesml data validate` as a user runs them: exit codes and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.crm.dataset import Dataset, Manifest, conform, write_dataset
from tests.helpers import ROOT, assert_one_line_error, salesml

EXAMPLE = ROOT / "examples" / "mappings" / "chinese_crm.yaml"
SAMPLE = ROOT / "examples" / "mappings" / "chinese_crm_sample"


def test_missing_required_column_exits_2_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "leads.csv").write_text("线索编号,线索来源\nL1,展会\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "tables:\n  leads:\n    file: leads.csv\n    columns: {lead_id: 线索编号, created_at: 创建时间}\n"
    )
    proc = salesml(
        "data", "import", "--adapter", "csv", "--mapping", mapping, "--src", tmp_path, "--out", tmp_path / "o"
    )
    assert_one_line_error(proc, "leads.csv: required column 'created_at' (mapped from '创建时间') is missing")
    assert not (tmp_path / "o").exists()


def test_import_of_the_example_prints_the_summary_and_writes_quarantine(tmp_path: Path) -> None:
    out = tmp_path / "zh"
    proc = salesml("data", "import", "--adapter", "csv", "--mapping", EXAMPLE, "--src", SAMPLE, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "rows quarantined" in proc.stdout
    assert "entity_id not found in leads (1)" in proc.stdout
    assert (out / "manifest.yaml").exists()
    assert sorted(p.name for p in (out / "quarantine").iterdir()) == ["activities.csv", "leads.csv"]
    assert salesml("data", "validate", out).returncode == 0


def test_validate_exits_1_when_rows_break_a_rule(tmp_path: Path) -> None:
    opps = pd.DataFrame(
        {"opportunity_id": ["O1", "O2"], "created_at": ["2024-03-01"] * 2, "closed_at": ["2024-04-01", "2024-01-01"]}
    )
    manifest = Manifest(source="test", exported_at=pd.Timestamp("2024-06-30", tz="UTC"))
    write_dataset(Dataset(manifest, {"opportunities": conform("opportunities", opps)}), tmp_path)
    proc = salesml("data", "validate", tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "closed_at before created_at (1)" in proc.stdout


def test_validate_of_a_non_dataset_exits_2(tmp_path: Path) -> None:
    assert_one_line_error(salesml("data", "validate", tmp_path), "no manifest.yaml")


def test_unknown_adapter_and_missing_mapping_exit_2(tmp_path: Path) -> None:
    args = ("--src", tmp_path, "--out", tmp_path / "o")
    assert_one_line_error(salesml("data", "import", "--adapter", "hubspot", *args), "unknown adapter 'hubspot'")
    assert_one_line_error(salesml("data", "import", "--adapter", "csv", *args), "--adapter csv needs --mapping")


def test_bad_mapping_exits_2(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("tables:\n  leads:\n    file: leads.csv\n    columns: {lead_id: 编号}\n    colour: red\n")
    proc = salesml("data", "import", "--adapter", "csv", "--mapping", mapping, "--src", tmp_path, "--out", tmp_path)
    assert_one_line_error(proc, "m.yaml: tables.leads: unknown key 'colour'")


def test_x_education_adapter_on_another_export_names_the_missing_column(tmp_path: Path) -> None:
    """Headers that look canonical (lead_id, created_at) must not stand in for the adapter's own columns."""
    src = tmp_path / "other_crm.csv"
    src.write_text("lead_id,created_at\n1,2024-01-01\n", encoding="utf-8")
    proc = salesml("data", "import", "--adapter", "x-education", "--src", src, "--out", tmp_path / "out")
    assert_one_line_error(proc, "other_crm.csv", "Prospect ID")
