"""README's example commands exist: every ``salesml ...`` it shows names a command of the Typer app, and every
``--option`` beside it is one of that command's options; every ``curl`` with a body sends its route's example file.
A renamed command or option breaks the README's examples here, not on a reader's machine after ``make demo``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer

from features.crm.dataset import read_dataset
from salesml_cli import app
from tests.helpers import ROOT, salesml
from tests.serving.test_examples import ENDPOINTS

README = (ROOT / "README.md").read_text(encoding="utf-8")
#: A command as README shows it: ``salesml`` and words, up to the end of its code span or line.
COMMAND = re.compile(r"salesml((?: [a-z][a-z-]*)+)([^`\n]*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
CURL = re.compile(r"curl -s http://127\.0\.0\.1:3000(/[^\s\"']+)((?:[^\n]*\\\n)*[^\n]*)")  # lines ending in \ go on
BODY = re.compile(r"-d @(\S+)")
MAX_README_LINES = 300


def commands() -> list[tuple[str, list[str], list[str]]]:
    """Each command README shows: its text, its words after ``salesml`` and the options written beside it."""
    found = []
    for match in COMMAND.finditer(README):
        words = match[1].split()
        found.append((match[0].strip(), words, OPTION.findall(match[2])))
    return found


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    """The command the words name (subcommands followed while they are groups) and the words it left."""
    command = typer.main.get_command(app)
    for i, word in enumerate(words):
        if not is_group(command) or word not in command.commands:
            return command, words[i:]
        command = command.commands[word]
    return command, []


def is_group(command: Any) -> bool:
    """Whether a command of the app (Typer's own click) has subcommands."""
    return hasattr(command, "commands")


def options(command: Any) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)} | {"--help"}


def test_readme_shows_commands_and_stays_short() -> None:
    assert len(commands()) > 30
    assert len(README.splitlines()) <= MAX_README_LINES


@pytest.mark.parametrize(("text", "words", "flags"), commands(), ids=[c[0][:60] for c in commands()])
def test_each_readme_command_and_option_exists(text: str, words: list[str], flags: list[str]) -> None:
    command, _ = resolve(words)
    assert not is_group(command) or not flags, f"{text!r}: {' '.join(words)} is not a command"
    if is_group(command):
        return  # a group named in prose (`salesml data`, `salesml models compare` is resolved above)
    unknown = [flag for flag in flags if flag not in options(command)]
    assert not unknown, f"{text!r}: {command.name} has no option {', '.join(unknown)}"


def test_each_readme_curl_sends_its_routes_example() -> None:
    """``ENDPOINTS`` is checked against the service's OpenAPI document (``tests/serving/test_examples.py``)."""
    sent = [(path, body[1]) for path, rest in CURL.findall(README) if (body := BODY.search(rest))]
    assert sent
    for path, body in sent:
        assert path in ENDPOINTS, path
        assert body == f"examples/{ENDPOINTS[path][0]}.json", (path, body)
        assert (ROOT / body).is_file(), body


@pytest.mark.slow  # a salesml process simulating the 20,000-lead demo
def test_the_demo_examples_name_open_items_of_the_demo(tmp_path: Path) -> None:
    """The ids README's demo examples use are a deal and a lead open at the export of the data ``make demo``
    simulates (its own ``data synth`` line, run here)."""
    synth = re.search(r"\$\(SALESML\) data synth --out \$\(DEMO\) (.+)", (ROOT / "Makefile").read_text())
    assert synth, "make demo no longer runs salesml data synth"
    made = salesml("data", "synth", "--out", tmp_path / "demo", *synth[1].split())
    assert made.returncode == 0, made.stderr
    ds = read_dataset(tmp_path / "demo")
    demo = README[README.index("data/demo --opportunity") - 200 :]
    deal = re.search(r"--opportunity (\S+)", demo)[1]  # type: ignore[index]
    lead = re.search(r"--lead (\S+)", demo)[1]  # type: ignore[index]
    assert f"/v1/opportunities/{deal}/trend" in demo
    deals = ds.get("opportunities").set_index("opportunity_id")
    leads = ds.get("leads").set_index("lead_id")
    assert deal in deals.index and pd.isna(deals.loc[deal, "closed_at"])
    assert lead in leads.index and leads.loc[lead, ["converted_at", "disqualified_at"]].isna().all()
