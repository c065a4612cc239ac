"""Shared fixtures: the simulated CRMs of the test run by size tier, and where ../shared/data is.

Two tiers, each built once per session (``pytest --durations`` shows the build as the setup of the first test that
asks for it):

- ``small_data`` / ``small_crm``: 3,000 leads (seed 11) with both models trained (2 trials) and exported, a key file
  and a report folder: what the service, CLI, training, explanation and notebook tests run on;
- ``medium_data`` / ``medium_crm``: 9,000 leads (seed 5), for the tests that need more signal: the data alone for the
  baselines, keyword effects and the data checks' planted anomalies; with lead_score trained (2 trials, not
  exported) for routing quality, the one test that needs a model on more than the small tier (slow).

``*_data`` is the simulated export alone (a second or two: no training), ``*_crm`` the trained ``Stores``. Under
pytest-xdist (``make test`` runs two workers) the first worker that asks builds a tier and the others read it.
Both are shared read-only: a test that trains, promotes, exports or damages files works on
``stores.copy(tmp_path / ...)``, and a test that changes the data writes a changed copy of its own. The data folders
are checked unchanged at the end of the session.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from benchmarks.stores import QUICK_STORE
from tests.helpers import MODELS, Stores

# LightGBM's OpenMP threads spin while they wait by default; when the CPUs are shared (the test's own servers and CLI
# processes, other jobs on a CI runner) two spinning threads on two busy cores slow training 5-20x (measured: 150
# rounds on 60,000 rows took 32-161 s spinning, 7 s passive, at a load of 4-6 on 2 cores). Set before LightGBM loads;
# subprocesses inherit it; a value set outside is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SALESML_SHARED_DATA", ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Tier:
    name: str
    leads: int
    seed: int
    trials: int  # Optuna trials of each model
    models: tuple[str, ...]  # trained in ``*_crm``


SMALL = Tier("small", QUICK_STORE.leads, QUICK_STORE.seed, QUICK_STORE.trials, MODELS)  # what --quick benchmarks use
MEDIUM = Tier("medium", leads=9_000, seed=5, trials=2, models=("lead_score",))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared/data is only beside the project in CI and dev checkouts")
    return path


@pytest.fixture
def xeducation_csv() -> Path:
    return shared_path("x-education-leads", "Leads.csv")


@pytest.fixture
def maven_dir() -> Path:
    return shared_path("maven-crm-sales-opportunities")


def _files(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> T:
    """``build(folder)`` run once for the whole test run: each xdist worker is a session of its own, so the first to
    ask builds under the workers' common temporary folder while the others wait on a lock, then read the result."""
    base = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        base = base.parent
    folder, done = base / name, base / f"{name}.pickle"
    with (base / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return pickle.loads(done.read_bytes())
        shutil.rmtree(folder, ignore_errors=True)  # left half-built by a worker that failed
        folder.mkdir()
        value = build(folder)
        done.write_bytes(pickle.dumps(value))
        return value


def _simulated(tmp_path_factory: pytest.TempPathFactory, tier: Tier) -> Iterator[Path]:
    from features.synth import synthesize

    def build(folder: Path) -> Path:
        synthesize(folder / "data", leads=tier.leads, seed=tier.seed)
        return folder / "data"

    out = _once(tmp_path_factory, f"{tier.name}-crm", build)
    before = _files(out)
    yield out
    after = _files(out)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    assert not changed, f"a test changed the shared {tier.name} CRM in {out} ({', '.join(changed[:5])}): copy it first"


@pytest.fixture(scope="session")
def small_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The small simulated export (read-only)."""
    yield from _simulated(tmp_path_factory, SMALL)


@pytest.fixture(scope="session")
def small_crm(small_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """The small export with both models trained and exported, a key file (``KEY`` live, ``REVOKED`` revoked)."""
    return _once(
        tmp_path_factory,
        "small-stores",
        lambda root: Stores.trained_on(root, small_data, SMALL.trials, True, SMALL.models),
    )


@pytest.fixture(scope="session")
def medium_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The medium simulated export (read-only)."""
    yield from _simulated(tmp_path_factory, MEDIUM)


@pytest.fixture(scope="session")
def medium_crm(medium_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """The medium export with lead_score trained (not exported)."""
    return _once(
        tmp_path_factory,
        "medium-stores",
        lambda root: Stores.trained_on(root, medium_data, MEDIUM.trials, False, MEDIUM.models),
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files with slow tests first: under xdist (a file to a worker) the long ones start at once rather than end
    the run alone on one worker."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    """A Dask LocalCluster of two worker processes (one thread each) on 127.0.0.1 and a client of it, started once
    per test module that asks for it and closed after it."""
    import logging

    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )
    with cluster, Client(cluster) as client:
        yield client
