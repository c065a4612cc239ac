"""`salesml data import --adapter csv` on real exports: an open-leads export without outcome columns, a time
format that misses every outcome, a file cut off mid-row, an empty table, a mapping naming files outside --src
(run as a user runs them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from features.crm.dataset import read_dataset
from tests.helpers import ROOT, assert_one_line_error, salesml

MAPPING = """
timezone: Asia/Shanghai
time_format: "%Y年%m月%d日 %H:%M"
tables:
  leads:
    file: leads.csv
    columns: {lead_id: 编号, created_at: 创建时间, source: 来源, converted_at: 转化时间, disqualified_at: 无效时间}
"""
HEADER = "编号,创建时间,来源,转化时间,无效时间\n"
OUTCOMES = "L1,2024年03月05日 14:30,展会,{converted},\nL2,2024年03月06日 09:00,展会,,2024年03月20日 10:00\n"
OPEN = "L3,2024年03月07日 09:00,展会,,\nL4,2024年03月08日 09:00,展会,,\n"


def run_import(tmp_path: Path, leads: str, mapping: str = MAPPING) -> subprocess.CompletedProcess[str]:
    (tmp_path / "leads.csv").write_text(leads, encoding="utf-8")
    (tmp_path / "m.yaml").write_text(mapping, encoding="utf-8")
    args = ("--adapter", "csv", "--mapping", tmp_path / "m.yaml", "--src", tmp_path, "--out", tmp_path / "out")
    return salesml("data", "import", *args)


def assert_unfit(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 1 (written, not fit for use): the summary on stdout, one error line on stderr."""
    assert proc.returncode == 1, proc.stderr
    assert "rows quarantined" in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: imported, but not fit for use: ")
    for fragment in fragments:
        assert fragment in lines[0]


def quarantine_reasons(out: Path) -> dict[str, str]:
    frame = pd.read_csv(out / "quarantine" / "leads.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    return frame.set_index("编号")["reason"].to_dict()


def test_open_leads_export_without_outcome_columns_imports_with_a_note(tmp_path: Path) -> None:
    """The training mapping reads an export of open leads to score: absent optional columns are all missing."""
    proc = run_import(tmp_path, "编号,创建时间,来源\n" + OPEN.replace(",,\n", "\n"))
    assert proc.returncode == 0, proc.stderr
    notes = [
        f"leads.csv: optional column '{name}' of leads (mapped from '{header}') is not in the file;"
        " imported as all missing"
        for name, header in (("converted_at", "转化时间"), ("disqualified_at", "无效时间"))
    ]
    assert proc.stderr.strip().splitlines() == [f"note: {note}" for note in notes]
    ds = read_dataset(tmp_path / "out")
    assert ds.tables["leads"]["lead_id"].tolist() == ["L3", "L4"]
    assert ds.tables["leads"][["converted_at", "disqualified_at"]].isna().all().all()
    manifest = yaml.safe_load((tmp_path / "out" / "manifest.yaml").read_text(encoding="utf-8"))
    assert set(notes) <= set(manifest["notes"])


def test_missing_required_column_still_stops_when_optional_ones_are_absent_too(tmp_path: Path) -> None:
    proc = run_import(tmp_path, "编号,来源\nL3,展会\n")
    assert_one_line_error(proc, "leads.csv: required column 'created_at' (mapped from '创建时间') is missing")
    assert not (tmp_path / "out").exists()


def test_time_format_that_misses_every_outcome_exits_1(tmp_path: Path) -> None:
    """ISO conversion times under a Chinese time_format: every converted lead is quarantined, training would see
    no positives; the dataset is written but the import says it is unfit."""
    leads = HEADER + OUTCOMES.format(converted="2024-03-10 10:00") + OPEN + "L5,2024年03月09日 09:00,展会,2024-03-12,\n"
    leads = leads.replace("2024年03月20日 10:00", "2024-03-20 10:00")
    proc = run_import(tmp_path, leads)
    assert_unfit(
        proc,
        "every leads row with an outcome (converted_at or disqualified_at) was quarantined",
        "Rows quarantined: leads 3 / 5;",
        "most frequent reason: unparseable time in converted_at (2 leads rows)",
        f"See {tmp_path / 'out' / 'quarantine'}/",
    )
    assert read_dataset(tmp_path / "out").tables["leads"]["lead_id"].tolist() == ["L3", "L4"]
    assert quarantine_reasons(tmp_path / "out") == {
        "L1": "unparseable time in converted_at: '2024-03-10 10:00'",
        "L2": "unparseable time in disqualified_at: '2024-03-20 10:00'",
        "L5": "unparseable time in converted_at: '2024-03-12'",
    }


def test_matching_time_format_imports_the_same_export_with_exit_0(tmp_path: Path) -> None:
    proc = run_import(tmp_path, HEADER + OUTCOMES.format(converted="2024年03月10日 10:00") + OPEN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert read_dataset(tmp_path / "out").manifest.quarantined == {"leads": 0}


def test_one_outcome_kept_is_enough_and_half_the_rows_quarantined_is_not_too_many(tmp_path: Path) -> None:
    leads = HEADER + OUTCOMES.format(converted="2024-03-10 10:00") + OPEN.replace("2024年03月07日", "2024-03-07")
    proc = run_import(tmp_path, leads)
    assert proc.returncode == 0, proc.stderr
    assert read_dataset(tmp_path / "out").manifest.quarantined == {"leads": 2}


def test_more_than_half_of_a_table_quarantined_exits_1(tmp_path: Path) -> None:
    leads = HEADER + OPEN + "L5,2024-03-09,展会,,\nL6,2024-03-10,展会,,\nL7,,展会,,\n"
    assert_unfit(
        run_import(tmp_path, leads),
        "over 50% of leads rows were quarantined",
        "Rows quarantined: leads 3 / 5;",
        "most frequent reason: unparseable time in created_at (2 leads rows)",
    )


def test_row_cut_off_mid_row_is_quarantined(tmp_path: Path) -> None:
    """The last row of a truncated file has fewer fields than the header: quarantined, not padded with blanks;
    a row whose last fields are present but empty is imported."""
    leads = HEADER + OPEN + "L5,2024年03月09日 09:00,展\n"
    proc = run_import(tmp_path, leads)
    assert proc.returncode == 0, proc.stderr
    assert read_dataset(tmp_path / "out").tables["leads"]["lead_id"].tolist() == ["L3", "L4"]
    assert quarantine_reasons(tmp_path / "out") == {"L5": "row has fewer fields than the header (cut off)"}


@pytest.mark.parametrize(
    "leads",
    [HEADER + "L5,2024年03月09日 09:00\n" + OPEN, HEADER + OPEN + "L5,2024年03月09日 09:00,展"],
    ids=["a row in the middle", "the last row, without its line end"],
)
def test_a_row_with_fewer_fields_than_the_header_is_quarantined(tmp_path: Path, leads: str) -> None:
    proc = run_import(tmp_path, leads)
    assert proc.returncode == 0, proc.stderr
    assert read_dataset(tmp_path / "out").tables["leads"]["lead_id"].tolist() == ["L3", "L4"]
    assert quarantine_reasons(tmp_path / "out") == {"L5": "row has fewer fields than the header (cut off)"}


def test_a_time_format_that_fits_no_table_exits_1_with_every_count(tmp_path: Path) -> None:
    """The example's time_format replaced by another: every row of every table it applies to is quarantined."""
    text = (ROOT / "examples" / "mappings" / "chinese_crm.yaml").read_text(encoding="utf-8")
    (tmp_path / "m.yaml").write_text(text.replace("%Y年%m月%d日 %H:%M", "%d/%m/%Y %H:%M"), encoding="utf-8")
    sample = ROOT / "examples" / "mappings" / "chinese_crm_sample"
    proc = salesml("data", "import", "--adapter", "csv", "--mapping", tmp_path / "m.yaml", "--src", sample,
                   "--out", tmp_path / "out")  # fmt: skip
    tables = ("accounts", "leads", "opportunities", "stage_changes", "activities")
    assert_unfit(
        proc,
        "; ".join(f"no {name} row was imported" for name in tables),
        "Rows quarantined: reps 0 / 4, accounts 5 / 5, leads 12 / 12, opportunities 5 / 5, stage_changes 15 / 15,"
        " activities 18 / 18; most frequent reason: unparseable time in",
    )


def test_a_table_left_without_rows_exits_1(tmp_path: Path) -> None:
    """An export whose leads file holds only its header: written, but not fit for use."""
    proc = run_import(tmp_path, HEADER, MAPPING + 'exported_at: "2024-06-30T18:00:00+08:00"\n')
    assert_unfit(proc, "no leads row was imported. Rows quarantined: leads 0 / 0.")
    assert read_dataset(tmp_path / "out").tables["leads"].empty


@pytest.mark.parametrize("where", ["../outside.csv", "absolute", "link.csv"])
def test_a_mapping_may_only_name_files_under_src(tmp_path: Path, where: str) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside.csv"
    src.mkdir()
    outside.write_text(HEADER + OPEN, encoding="utf-8")
    (src / "link.csv").symlink_to(outside)
    name = str(outside) if where == "absolute" else where
    (tmp_path / "m.yaml").write_text(MAPPING.replace("file: leads.csv", f"file: {name}"), encoding="utf-8")
    proc = salesml("data", "import", "--adapter", "csv", "--mapping", tmp_path / "m.yaml", "--src", src,
                   "--out", tmp_path / "out")  # fmt: skip
    assert_one_line_error(proc, f"m.yaml: tables.leads.file: '{name}' is outside --src {src}")
    assert not (tmp_path / "out").exists()
