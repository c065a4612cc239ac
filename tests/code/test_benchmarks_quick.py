"""Every benchmark's ``--quick`` smoke run exits 0, so an interface change that breaks a benchmark fails the tests
instead of the next ``make bench``; figures are not asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from benchmarks.stores import QUICK_STORE, SETUP_FILE, Stores
from tests.helpers import ROOT
from tests.helpers import Stores as TestStores

BENCHMARKS = ROOT / "benchmarks"
MAIN_GUARD = 'if __name__ == "__main__":'
#: They take --workdir: their quick runs train and export one store together.
SHARE_STORES = ("scoring", "serve", "start", "trees")
QUICK_RUN_S = 600


def runnable(path: Path) -> bool:
    """A benchmark: a module with a main guard, or a package run by its ``__main__``."""
    if path.is_dir():
        return (path / "__main__.py").exists()
    return path.suffix == ".py" and MAIN_GUARD in path.read_text(encoding="utf-8")


def benchmark_names() -> list[str]:
    """The benchmarks in benchmarks/, found from the folder so a new one is run too."""
    return sorted(path.stem for path in BENCHMARKS.iterdir() if runnable(path))


@pytest.fixture(scope="module")
def quick_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Private stores of their own, so no quick run touches the repository's."""
    root = tmp_path_factory.mktemp("bench-env")
    return Stores(root, root / "data").env


@pytest.fixture(scope="module")
def shared_stores(small_crm: TestStores, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quick store ``SHARE_STORES`` run on: the session's small tier, which is the same build (``QUICK_STORE``),
    copied with its data and marked as built with that size (its build times unknown)."""
    root = tmp_path_factory.mktemp("bench-stores") / "stores"
    small_crm.copy(root, with_data=True)
    (root / SETUP_FILE).write_text(json.dumps(asdict(QUICK_STORE)), encoding="utf-8")
    return root


def test_the_benchmarks_are_found() -> None:
    assert {"features", "scoring", "serve", "train"} <= set(benchmark_names())
    assert not {"floor", "report", "server", "stores"} & set(benchmark_names())


@pytest.mark.slow
@pytest.mark.parametrize("name", benchmark_names())
def test_quick_run_exits_0(name: str, quick_env: dict[str, str], shared_stores: Path) -> None:
    results = (ROOT / "BENCHMARKS.md").read_bytes()
    command = [sys.executable, "-m", f"benchmarks.{name}", "--quick"]
    if name in SHARE_STORES:
        command += ["--workdir", str(shared_stores)]
    done = subprocess.run(
        command, cwd=ROOT, env=os.environ | quick_env, capture_output=True, text=True, timeout=QUICK_RUN_S
    )
    assert done.returncode == 0, f"{' '.join(command[1:])}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    assert (ROOT / "BENCHMARKS.md").read_bytes() == results, "a --quick run wrote BENCHMARKS.md"
