"""Hostile-user paths through the real CLI that need no trained model: times outside the export's history,
outputs that cannot be written, a damaged or an empty MLflow store. Each ends in one line and exit 2."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from features.synth import synthesize
from tests.helpers import ROOT, assert_one_line_error, salesml

MAPPING = ROOT / "examples" / "mappings" / "chinese_crm.yaml"
SAMPLE = ROOT / "examples" / "mappings" / "chinese_crm_sample"


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crm") / "data"
    synthesize(out, leads=300, seed=2)
    return out


def store_env(store: Path) -> dict[str, str]:
    return {
        "SALESML_STORE": str(store),
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "BENTOML_HOME": str(store / "bentoml"),
        "SALESML_REPORT_DIR": str(store / "reports"),
    }


@pytest.fixture(scope="module")
def damaged_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database cut to half its size, as a full disk or a copy stopped half-way leaves mlflow.db."""
    store = tmp_path_factory.mktemp("damaged")
    db = store / "mlflow.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE runs (run_uuid TEXT PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO runs VALUES (?, ?)", ((f"r{i:06d}", "x" * 200) for i in range(2000)))
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    return store


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("forecast", "--as-of", "1990-01-01"), "is before the export's first lead or deal"),
        (("report", "--as-of", "1990-01-01"), "is before the export's first lead or deal"),
        (("score", "--model", "close_probability", "--as-of", "1990-01-01"), "is before the export's first lead"),
        (("score", "--model", "lead_score", "--as-of", "2031-01-01"), "is after the export (2025-12-31 00:00)"),
    ],
)
def test_as_of_outside_the_history_is_refused_alike_before_any_model_is_needed(
    crm: Path, tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    out = ("--out", tmp_path / "out.csv") if args[0] == "score" else ("--out", tmp_path / "out")
    proc = salesml(*args, "--data", crm, *out, env=store_env(tmp_path / "store"))
    assert_one_line_error(proc, f"--as-of {args[-1]} 00:00", fragment)


@pytest.mark.parametrize(("where", "fragment"), [("file", "is a file, not a directory"), ("file/sub", "(Not a")])
def test_import_into_a_path_that_cannot_be_a_directory_is_one_line(tmp_path: Path, where: str, fragment: str) -> None:
    (tmp_path / "file").write_text("in the way\n")
    out = tmp_path / where
    proc = salesml("data", "import", "--adapter", "csv", "--mapping", MAPPING, "--src", SAMPLE, "--out", out)
    assert_one_line_error(proc, "--out", fragment)


def test_score_out_below_a_file_is_refused_before_scoring(crm: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way\n")
    out = tmp_path / "file" / "scores.csv"
    proc = salesml("score", "--model", "lead_score", "--data", crm, "--out", out, env=store_env(tmp_path / "store"))
    assert_one_line_error(proc, f"--out: {tmp_path / 'file'} is a file, not a directory")


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--model", "lead_score", "--trials", "1"),
        ("score", "--model", "lead_score", "--out", "{tmp}/s.csv"),
        ("forecast", "--out", "{tmp}/forecast"),
        ("report", "--out", "{tmp}/report.html"),
        ("export",),
    ],
)
def test_a_damaged_mlflow_store_names_itself_and_the_rebuild(
    crm: Path, damaged_store: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    argv = [arg.format(tmp=tmp_path) for arg in args]
    proc = salesml(*argv, "--data", crm, env=store_env(damaged_store))
    db = damaged_store / "mlflow.db"
    assert_one_line_error(proc, f"the MLflow store at {db} is unreadable (", "move it aside and run salesml train")


def test_score_on_an_empty_store_creates_nothing(crm: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc = salesml("score", "--model", "lead_score", "--data", crm, "--out", tmp_path / "s.csv", env=store_env(store))
    assert_one_line_error(proc, "no lead_score@champion", "train it first (salesml train)")
    assert not store.exists()


#: What a command needs for its work, not to read its options and its --data: seconds to load.
HEAVY = ("lightgbm", "sklearn", "mlflow", "bentoml", "shap", "matplotlib", "dask", "optuna")
#: Run the command in this process, then print the exit code and the heavy libraries that loaded.
LOADED = """
import json, sys
from salesml_cli import app
try:
    app(sys.argv[1:])
except SystemExit as done:
    print(json.dumps([done.code, [m for m in {heavy!r} if m in sys.modules]]), file=sys.__stdout__)
"""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("train", "--model", "no_such_model"), "no such model spec"),
        (("forecast",), "no manifest.yaml here"),
        (("targets",), "no manifest.yaml here"),
        (("report",), "no manifest.yaml here"),
        (("export",), "no manifest.yaml here"),
        (("monitor", "--log", "."), "no manifest.yaml here"),
        (("route",), "give --lead LEAD_ID"),
        (("whatif",), "give one of --opportunity ID or --lead ID"),
        (("whatif", "--lead", "L-1"), "no manifest.yaml here"),
        (("compare-baselines", "--model", "lead_score"), "no manifest.yaml here"),
        (("compare-baselines", "--model", "no_such_model"), "no such model spec"),
        (("compare-baselines", "--model", "lead_score", "--test-share", "0.9"), "use a share between 0.05 and 0.5"),
    ],
)
def test_a_wrong_input_is_refused_before_the_libraries_load(
    tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    """A mistyped model or dataset is answered at once: before LightGBM, MLflow, BentoML and the rest load."""
    command = [sys.executable, "-c", LOADED.format(heavy=HEAVY), *args, "--data", str(tmp_path / "nowhere")]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=os.environ | {"COLUMNS": "200"})
    code, loaded = json.loads(proc.stdout)
    assert code == 2 and fragment in proc.stderr, proc.stderr
    assert loaded == [], f"loaded before refusing: {loaded}"
