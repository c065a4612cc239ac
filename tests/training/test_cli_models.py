"""``salesml models`` on a copy of the small tier with a second lead_score version: list, promote, rollback, the
alias history, and the export each move is followed by."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from features.scoring.pyfunc import CHAMPION
from tests.helpers import Stores, assert_one_line_error, salesml
from training.lifecycle import champion_line
from training.registry import PROMOTE, ROLLBACK, TRAIN, AliasMove

MODEL = "lead_score"


@pytest.fixture(scope="module")
def stores(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """A copy of the small tier where lead_score has version 2 (a copy of version 1, the champion)."""
    copy = small_crm.copy(tmp_path_factory.mktemp("models") / "stores")
    assert copy.register_copy(MODEL) == "2"
    return copy


def run(stores: Stores, *args: object):
    return salesml("models", *args, env=stores.env)


def exported_version(stores: Stores) -> str:
    """The registry version of the latest lead_score in the BentoML store (what the service loads)."""
    models = stores.root / "bentoml" / "models" / MODEL
    latest = (models / "latest").read_text().strip()
    return json.loads((models / latest / "info.json").read_text(encoding="utf-8"))["version"]


def table_cells(line: str) -> list[str]:
    """The cells of a table row as rich draws it (none for any other line)."""
    return [cell.strip() for cell in line.split("│")[1:-1]]


def move(alias: str, new: str, command: str) -> AliasMove:
    return AliasMove(alias, None, new, "someone", "2026-01-01T00:00:00+00:00", "why", command)


@pytest.mark.slow  # a whole flow of promote, export and compare processes: make test runs it
def test_promote_rollback_and_the_history(stores: Stores) -> None:
    listed = run(stores, "list", "--model", MODEL)
    assert listed.returncode == 0, listed.stderr
    rows = {cells[0]: cells for cells in map(table_cells, listed.stdout.splitlines()) if cells}
    assert rows["1"][1] == "challenger, champion" and rows["2"][1] == ""
    assert float(rows["1"][2]) > 0.5  # test AUC
    assert rows["1"][4].startswith("20") and " to " in rows["1"][4]  # the data window, in days
    assert exported_version(stores) == "1"

    promoted = run(stores, "promote", "--model", MODEL, "--version", "2", "--reason", "try the copy")
    assert promoted.returncode == 0, promoted.stderr
    assert "lead_score champion: v1 -> v2 (promote by " in promoted.stdout
    assert "exported: lead_score:" in promoted.stdout
    assert exported_version(stores) == "2"

    rolled = run(stores, "rollback", "--model", MODEL, "--reason", "the copy misbehaves")
    assert rolled.returncode == 0, rolled.stderr
    assert "lead_score champion: v2 -> v1 (rollback by " in rolled.stdout
    assert exported_version(stores) == "1"

    history = run(stores, "list", "--model", MODEL, "--history")
    assert history.returncode == 0, history.stderr
    moves = [cells for cells in map(table_cells, history.stdout.splitlines()) if cells[1:2] == [CHAMPION]]
    assert [(m[2], m[3], m[4], m[6]) for m in moves] == [
        ("-", "1", TRAIN, "trained; passed the gate"),
        ("1", "2", PROMOTE, "try the copy"),
        ("2", "1", ROLLBACK, "the copy misbehaves"),
    ]

    # version 1 was the first champion: nothing before it to roll back to, and nothing moves
    assert_one_line_error(run(stores, "rollback", "--model", MODEL), "no champion before lead_score version 1")
    assert exported_version(stores) == "1"


@pytest.mark.slow  # a promote and a rollback, each a process
def test_no_export_moves_the_alias_only(stores: Stores) -> None:
    promoted = run(stores, "promote", "--model", MODEL, "--version", "2", "--no-export")
    assert promoted.returncode == 0, promoted.stderr
    assert "not exported" in promoted.stdout
    assert exported_version(stores) == "1"
    rolled = run(stores, "rollback", "--model", MODEL, "--no-export")
    assert rolled.returncode == 0, rolled.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("promote", "--model", MODEL, "--version", "9"), ("no version '9' of lead_score", "1, 2")),
        (("promote", "--model", MODEL, "--version", "1"), ("version 1 is champion already",)),
        pytest.param(  # slow: the same registry lookup as the next, each a process
            ("promote", "--model", "lead", "--version", "1"),
            ("no registered model 'lead'", "lead_score"),
            marks=pytest.mark.slow,
        ),
        pytest.param(("rollback", "--model", "nothing"), ("no registered model 'nothing'",), marks=pytest.mark.slow),
        (("list", "--model", "nothing"), ("no registered model 'nothing'",)),
    ],
)
def test_bad_input_is_one_line(stores: Stores, args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_one_line_error(run(stores, *args), *fragments)


@pytest.mark.slow  # a copy of the stores and a salesml process that reads the registry
def test_rollback_without_an_export_names_the_missing_history(small_crm: Stores, tmp_path: Path) -> None:
    """The alias moves; the export has no history to reuse, and the error says where the champion now is."""
    copy = small_crm.copy(tmp_path / "stores")
    copy.register_copy(MODEL)
    env = copy.env | {"BENTOML_HOME": str(tmp_path / "empty-bentoml")}
    proc = salesml("models", "promote", "--model", MODEL, "--version", "2", env=env)
    assert_one_line_error(proc, "champion is v2 in the registry, but the export failed", "nothing exported")


def test_the_champion_line_undoes_rollbacks_in_turn() -> None:
    made = [move(CHAMPION, "1", TRAIN), move("challenger", "2", TRAIN), move(CHAMPION, "2", TRAIN)]
    assert champion_line(made + [move(CHAMPION, "3", PROMOTE)], "3") == ["1", "2", "3"]
    assert champion_line(made + [move(CHAMPION, "3", PROMOTE), move(CHAMPION, "2", ROLLBACK)], "2") == ["1", "2"]
    assert champion_line(made + [move(CHAMPION, "1", ROLLBACK)], "1") == ["1"]
    assert champion_line(made, "4") == ["1", "2", "4"]  # moved outside salesml: the history did not see it
    assert champion_line([], "1") == ["1"]


def test_a_registered_copy_leaves_the_process_settings_alone(
    small_crm: Stores, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The copy is registered through a client of its own: no MLflow URI is left in this process's environment,
    where later tests and the processes they start would find this store instead of theirs."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    copy = small_crm.copy(tmp_path / "stores")
    assert copy.register_copy(MODEL) == "2"
    assert not {"MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"} & set(os.environ)
