"""The csv adapter: the Chinese example mapping end to end, and one-line errors for every mapping mistake."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from features.crm.cli import import_table
from features.crm.dataset import Dataset, read_dataset
from features.crm.importers import ImportResult, import_dataset
from features.errors import DataError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mappings" / "chinese_crm.yaml"
SAMPLE = ROOT / "examples" / "mappings" / "chinese_crm_sample"
LEADS_CSV = "线索编号,创建时间,线索来源\nL1,2024年03月05日 14:30,官网表单\nL2,2024年03月06日 09:00,展会\n"
MAPPING = """
timezone: Asia/Shanghai
time_format: "%Y年%m月%d日 %H:%M"
tables:
  leads:
    file: leads.csv
    columns: {lead_id: 线索编号, created_at: 创建时间, source: 线索来源}
    values:
      source: {官网表单: web_form, 展会: trade_show}
"""


def import_csv(mapping: Path, src: Path, out: Path, **kwargs: object) -> ImportResult:
    return import_dataset("csv", src, out, mapping=mapping, **kwargs)


def write_source(tmp_path: Path, mapping: str = MAPPING, leads: str = LEADS_CSV) -> Path:
    """A mapping file and leads.csv in tmp_path; returns the mapping path."""
    (tmp_path / "leads.csv").write_text(leads, encoding="utf-8")
    path = tmp_path / "mapping.yaml"
    path.write_text(mapping, encoding="utf-8")
    return path


def rendered(result: ImportResult) -> str:
    console = Console(file=io.StringIO(), width=200)
    console.print(import_table(result))
    return console.file.getvalue()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[ImportResult, Dataset, Path]:
    out = tmp_path_factory.mktemp("chinese_crm")
    result = import_csv(EXAMPLE, SAMPLE, out)
    return result, read_dataset(out), out


def quarantined(out: Path, table: str) -> pd.DataFrame:
    return pd.read_csv(out / "quarantine" / f"{table}.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)


def test_chinese_example_counts(example: tuple[ImportResult, Dataset, Path]) -> None:
    result, ds, out = example
    assert ds.manifest.counts == {
        "reps": 4,
        "accounts": 5,
        "leads": 11,
        "opportunities": 5,
        "stage_changes": 15,
        "activities": 15,
    }
    assert {t: n for t, n in ds.manifest.quarantined.items() if n} == {"leads": 1, "activities": 3}
    assert sorted(p.name for p in (out / "quarantine").iterdir()) == ["activities.csv", "leads.csv"]
    assert result.validation.problem_count == 4


def test_chinese_example_quarantine_keeps_source_rows_and_reasons(example: tuple[ImportResult, Dataset, Path]) -> None:
    _, _, out = example
    leads = quarantined(out, "leads")
    assert leads.columns[0] == "线索编号" and leads.columns[-1] == "reason"
    assert leads[["线索编号", "reason"]].values.tolist() == [
        ["L0007", "unparseable time in created_at: '2024年02月30日 10:00'"]
    ]
    activities = quarantined(out, "activities").set_index("记录编号")["reason"].to_dict()
    assert activities == {
        "A0011": "entity_id refers to a quarantined leads row: 'L0007'",
        "A0013": "unparseable time in occurred_at: '待定'",
        "A0015": "entity_id not found in leads: 'L9999'",
    }


def test_chinese_example_values_times_and_constants(example: tuple[ImportResult, Dataset, Path]) -> None:
    _, ds, _ = example
    leads = ds.tables["leads"].set_index("lead_id")
    assert leads.loc["L0001", "created_at"] == pd.Timestamp("2024-03-05 06:30", tz="UTC")
    assert set(leads["source"]) == {"web_form", "trade_show", "inbound_call", "referral", "paid_search"}
    assert leads.loc["L0002", "returning_customer"] and leads.loc["L0001", "budget_wan_cny"] == 50
    reps = ds.tables["reps"].set_index("rep_id")
    assert reps.loc["张伟", "hired_at"] == pd.Timestamp("2021-02-28 16:00", tz="UTC")
    opps = ds.tables["opportunities"].set_index("opportunity_id")
    assert opps["outcome"].tolist()[:2] == ["won", "lost"] and (opps["currency"] == "CNY").all()
    assert opps.loc["O003", "expected_close_at"] == pd.Timestamp("2024-08-14 16:00", tz="UTC")
    changes = ds.tables["stage_changes"]
    assert changes.loc[changes["opportunity_id"] == "O001", "stage"].tolist() == ds.manifest.stage_names()
    acts = ds.tables["activities"].set_index("activity_id")
    assert (acts["entity_type"] == "lead").all()
    assert acts.loc["A0001", ["type", "direction", "contact_role"]].tolist() == ["call", "outbound", "cto"]
    assert acts.loc["A0001", "note"] == "介绍数控系统，客户有升级需求"  # read from GBK
    assert ds.manifest.exported_at == pd.Timestamp("2024-06-30 10:00", tz="UTC")
    assert ds.manifest.timezone == "Asia/Shanghai"


def test_chinese_example_post_outcome_columns(example: tuple[ImportResult, Dataset, Path], tmp_path: Path) -> None:
    _, ds, _ = example
    assert ds.manifest.excluded_columns == {"leads": ["rep_rating"], "opportunities": ["lost_reason"]}
    assert "rep_rating" not in ds.tables["leads"].columns
    import_csv(EXAMPLE, SAMPLE, tmp_path, keep_post_outcome=True)
    kept = read_dataset(tmp_path)
    assert kept.manifest.excluded_columns == ds.manifest.excluded_columns
    ratings = kept.tables["leads"].set_index("lead_id")["rep_rating"]
    assert ratings["L0001"] == "A" and pd.isna(ratings["L0010"])  # '-' is a declared missing value
    assert kept.tables["opportunities"]["lost_reason"].dropna().tolist() == ["价格高于竞品"]


def test_bad_timestamps_are_quarantined_and_counted(tmp_path: Path) -> None:
    leads = LEADS_CSV + "L3,2024-03-07,展会\nL4,,展会\nL5,2024年03月08日 10:00,展会\n"
    result = import_csv(write_source(tmp_path, leads=leads), tmp_path, tmp_path / "out")
    assert result.manifest.counts == {"leads": 3}
    assert result.manifest.quarantined == {"leads": 2}
    assert quarantined(tmp_path / "out", "leads")["reason"].tolist() == [
        "unparseable time in created_at: '2024-03-07'",
        "required created_at is empty",
    ]
    summary = rendered(result)
    assert "rows quarantined" in summary
    assert "│ leads │             3 │                2 │" in summary
    assert "unparseable time in created_at (1)" in summary


def test_export_time_defaults_to_the_latest_time_seen(tmp_path: Path) -> None:
    result = import_csv(write_source(tmp_path), tmp_path, tmp_path / "out")
    assert result.manifest.exported_at == pd.Timestamp("2024-03-06 01:00", tz="UTC")
    assert any("latest event time" in note for note in result.manifest.notes)


def test_command_line_export_time_wins_and_late_rows_are_quarantined(tmp_path: Path) -> None:
    mapping = MAPPING + 'exported_at: "2030-01-01 00:00"\n'
    result = import_csv(write_source(tmp_path, mapping), tmp_path, tmp_path / "out", exported_at="2024-03-06T00:00Z")
    assert result.manifest.exported_at == pd.Timestamp("2024-03-06", tz="UTC")
    assert result.manifest.quarantined == {"leads": 1}


def test_naive_mapping_export_time_is_in_the_source_timezone(tmp_path: Path) -> None:
    result = import_csv(write_source(tmp_path, MAPPING + 'exported_at: "2024-06-30 18:00"\n'), tmp_path, tmp_path / "o")
    assert result.manifest.exported_at == pd.Timestamp("2024-06-30 10:00", tz="UTC")


def test_missing_mapped_column_names_file_and_source_header(tmp_path: Path) -> None:
    mapping = write_source(tmp_path, leads="线索编号,线索来源\nL1,展会\n")
    with pytest.raises(DataError) as err:
        import_csv(mapping, tmp_path, tmp_path / "out")
    assert str(err.value) == "leads.csv: required column 'created_at' (mapped from '创建时间') is missing"


def test_wrong_encoding_is_one_line(tmp_path: Path) -> None:
    mapping = write_source(tmp_path)
    (tmp_path / "leads.csv").write_bytes(LEADS_CSV.encode("gbk"))
    with pytest.raises(DataError, match=r"leads.csv: cannot decode as utf-8 .*set the file's encoding"):
        import_csv(mapping, tmp_path, tmp_path / "out")


def test_gbk_encoding_reads_the_same_file(tmp_path: Path) -> None:
    mapping = write_source(tmp_path, MAPPING.replace("    file: leads.csv", "    file: leads.csv\n    encoding: gbk"))
    (tmp_path / "leads.csv").write_bytes(LEADS_CSV.encode("gbk"))
    assert import_csv(mapping, tmp_path, tmp_path / "out").manifest.counts == {"leads": 2}


def _written(rows: list[list[str]], delimiter: str) -> str:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return text.getvalue()


@pytest.mark.parametrize(("delimiter", "written"), [(";", '";"'), ("\t", '"\\t"'), ("|", "'|'")])
def test_an_export_with_another_separator_reads_the_same(tmp_path: Path, delimiter: str, written: str) -> None:
    """Spreadsheets where the comma is the decimal mark write ';'; some CRMs write tabs or '|'. A field may then hold
    a comma unquoted."""
    rows = [row.split(",") for row in LEADS_CSV.splitlines()]
    rows[1][2] += ", 首页"
    (tmp_path / "comma").mkdir()
    (tmp_path / "other").mkdir()
    comma = write_source(tmp_path / "comma", leads=_written(rows, ","))
    other = write_source(tmp_path / "other", MAPPING + f"delimiter: {written}\n", _written(rows, delimiter))
    assert "," not in (tmp_path / "other" / "leads.csv").read_text(encoding="utf-8").splitlines()[0]
    assert import_csv(other, tmp_path / "other", tmp_path / "out-other").manifest.counts == {"leads": 2}
    import_csv(comma, tmp_path / "comma", tmp_path / "out-comma")
    leads = read_dataset(tmp_path / "out-other").get("leads")
    pd.testing.assert_frame_equal(leads, read_dataset(tmp_path / "out-comma").get("leads"))
    assert leads["source"].tolist() == ["官网表单, 首页", "trade_show"]


def test_a_table_sets_its_own_separator(tmp_path: Path) -> None:
    mapping = MAPPING.replace("    file: leads.csv", "    file: leads.csv\n    delimiter: ';'") + "delimiter: '|'\n"
    path = write_source(tmp_path, mapping, LEADS_CSV.replace(",", ";"))
    assert import_csv(path, tmp_path, tmp_path / "out").manifest.counts == {"leads": 2}


def test_a_file_with_another_separator_says_which_to_set(tmp_path: Path) -> None:
    path = write_source(tmp_path, leads=LEADS_CSV.replace(",", ";"))
    with pytest.raises(DataError) as err:
        import_csv(path, tmp_path, tmp_path / "out")
    assert str(err.value) == (
        "leads.csv: its header has no ',' between fields but ';': set delimiter: ';' in the mapping (for every file,"
        " or under tables.leads)"
    )


NUMBERS = MAPPING + "    extras: {visits: {column: 访问, kind: numeric}}\n"


@pytest.mark.parametrize(
    ("formats", "written"),
    [
        ("", ["1234.5", "7"]),
        ("thousands: ','\n", ["1,234.5", "7"]),
        ("decimal: ','\nthousands: '.'\n", ["1.234,5", "7"]),
    ],
)
def test_numbers_are_read_as_the_export_writes_them(tmp_path: Path, formats: str, written: list[str]) -> None:
    rows = [row.split(",") for row in LEADS_CSV.splitlines()]
    rows = [[*row, value] for row, value in zip(rows, ["访问", *written], strict=True)]
    path = write_source(tmp_path, NUMBERS + formats, _written(rows, ","))
    assert import_csv(path, tmp_path, tmp_path / "out").manifest.counts == {"leads": 2}
    assert read_dataset(tmp_path / "out").get("leads")["visits"].tolist() == [1234.5, 7.0]


def test_grouped_numbers_without_their_format_are_quarantined_saying_so(tmp_path: Path) -> None:
    rows = [
        [*row.split(","), value] for row, value in zip(LEADS_CSV.splitlines(), ["访问", "1,234.5", "7"], strict=True)
    ]
    result = import_csv(write_source(tmp_path, NUMBERS, _written(rows, ",")), tmp_path, tmp_path / "out")
    assert result.manifest.counts == {"leads": 1}
    assert quarantined(tmp_path / "out", "leads")["reason"].tolist() == ["unparseable number in visits: '1,234.5'"]


def test_missing_file_and_src_that_is_not_a_directory(tmp_path: Path) -> None:
    mapping = write_source(tmp_path, MAPPING.replace("file: leads.csv", "file: 线索.csv"))
    with pytest.raises(DataError, match="线索.csv: file not found"):
        import_csv(mapping, tmp_path, tmp_path / "out")
    with pytest.raises(DataError, match="--src must be the directory"):
        import_csv(mapping, tmp_path / "leads.csv", tmp_path / "out")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ("tables: [", "not a valid UTF-8 YAML file"),
        ("- just a list", "expected a mapping"),
        ("timezone: UTC\n", "'tables' must map at least one canonical table"),
        (MAPPING + "colour: red\n", "unknown key 'colour'"),
        (MAPPING.replace("  leads:", "  lead:"), "tables: unknown key 'lead' (expected one of: reps,"),
        (MAPPING.replace("source: 线索来源", "origin: 线索来源"), "'origin' is not a column of leads"),
        (
            MAPPING.replace("created_at: 创建时间, ", ""),
            "tables.leads: no column or constant for required 'created_at'",
        ),
        (MAPPING.replace("Asia/Shanghai", "Asia/Shangai"), "timezone: 'Asia/Shangai' is not an IANA timezone"),
        (MAPPING + "encoding: big-five\n", "encoding: unknown encoding 'big-five'"),
        (MAPPING + "delimiter: ';;'\n", "delimiter: ';;' is not one field separator character"),
        (MAPPING + "decimal: ';'\n", "decimal: ';' is not a decimal mark"),
        (MAPPING + "thousands: '.'\n", "thousands: '.' is not one character grouping thousands"),
        (MAPPING + "    thousands: ','\ndecimal: ','\n", "tables.leads.thousands: ',' is not one character"),
        (MAPPING + "delimiter: '\"'\n", "is not one field separator character"),
        (MAPPING.replace("官网表单: web_form", "yes: web_form"), "got True (quote it"),
        (MAPPING + "    time_formats: {source: '%Y'}\n", "time_formats: 'source' is not a mapped time column"),
        (MAPPING.replace("      source: {", "      region: {"), "values: 'region' is not a mapped column"),
        (MAPPING + "    extras: {visits: {column: 访问, kind: number}}\n", "kind must be one of"),
        (MAPPING + "    extras: {source: {column: 访问, kind: numeric}}\n", "'source' must be a new lower_snake_case"),
        (MAPPING + "    constants: {lead_id: x}\n", "'lead_id' is both a column and a constant"),
        (MAPPING + "stages: [{name: lead}, {name: lead}]\n", "give each stage once"),
        (MAPPING + "exported_at: soon\n", "exported_at: 'soon' is not a time"),
        (
            MAPPING
            + "  reps:\n    file: r.csv\n    columns: {rep_id: 姓名}\n    extras: {x: {column: y, kind: text}}\n",
            "reps cannot have extra columns",
        ),
    ],
)
def test_bad_mapping_is_one_line_saying_what_is_wrong(tmp_path: Path, mapping: str, message: str) -> None:
    path = write_source(tmp_path, mapping)
    with pytest.raises(DataError) as err:
        import_csv(path, tmp_path, tmp_path / "out")
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)
