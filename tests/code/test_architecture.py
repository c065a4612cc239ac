"""Data flows one way, through ordered layers: a module imports only its own layer and the ones below, training and
serving never import each other, and no modules import each other in a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("features", "training", "serving", "salesml_cli")

#: Lowest first. A module belongs to the first layer with a prefix of its name (the longest prefix wins).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("features", "features.config", "features.errors", "features.outputs", "features.store")),
    ("crm", ("features.crm",)),
    ("pit", ("features.pit",)),
    ("scoring", ("features.scoring", "features.pyfunc")),
    ("insights", ("features.insights",)),
    ("synth", ("features.synth",)),
    ("training", ("training",)),
    ("serving", ("serving",)),
    (
        "presentation",
        (
            "features.cli",
            "features.crm.cli",
            "features.pit.cli",
            "training.cli",
            "training.compare_cli",
            "training.evaluate_cli",
            "training.forecasting_cli",
            "training.insights_cli",
            "training.models_cli",
            "training.monitor_cli",
            "training.routing_cli",
            "training.whatif_cli",
            "training.workflow_cli",
            "training.report",
            "serving.cli",
            "serving.show",
            "salesml_cli",
        ),
    ),
)
#: Packages that never import each other, whatever their layers.
APART = (("training", "serving"),)


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index of the module's layer (the longest matching prefix decides)."""
    best, depth = -1, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > depth:
                best, depth = index, len(prefix)
    if best < 0:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Our modules a file imports (absolute imports; ``from package import module`` counts as the module)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            names.update(modules or {node.module})
    return {name for name in names if name in known}


def module_files(root: Path = ROOT) -> list[Path]:
    files = [p for package in PACKAGES for p in (sorted((root / package).rglob("*.py")) or [root / f"{package}.py"])]
    return [p for p in files if p.exists()]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = module_files(root)
    names = {p: module_name(p, root) for p in files}
    known = set(names.values())
    return {name: imported_modules(p, known) - {name} for p, name in names.items()}


def back_edges(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a higher layer, or across packages kept apart."""
    found = []
    for module, targets in graph.items():
        for target in targets:
            here, there = layer_of(module), layer_of(target)
            if there > here:
                found.append(f"{module} ({LAYERS[here][0]}) imports {target} ({LAYERS[there][0]})")
            top = (module.split(".")[0], target.split(".")[0])
            if top in APART or top[::-1] in APART:
                found.append(f"{module} imports {target}: {top[0]} and {top[1]} are kept apart")
    return sorted(found)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _plant(root: Path, files: Iterable[tuple[str, str]]) -> None:
    for name, source in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")


def test_every_module_is_in_a_layer() -> None:
    for module in import_graph():
        layer_of(module)


def test_imports_follow_the_layers() -> None:
    assert back_edges(import_graph()) == []


#: The longest a module may be; the simulator (one generative story told in order) is left out.
MAX_MODULE_LINES = 400
LONG_ALLOWED = ("features/synth/",)


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in module_files()
        if not str(path.relative_to(ROOT)).startswith(LONG_ALLOWED)
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        ("from features.pit.build import build_features\n", "features.crm.bad (crm) imports features.pit.build (pit)"),
        ("import serving.service\n", "features.crm.bad (crm) imports serving.service (serving)"),
    ],
)
def test_checker_finds_a_planted_back_edge(tmp_path: Path, planted: str, expected: str) -> None:
    _plant(
        tmp_path,
        [
            ("features/__init__.py", ""),
            ("features/crm/__init__.py", ""),
            ("features/crm/bad.py", planted),
            ("features/pit/__init__.py", ""),
            ("features/pit/build.py", "def build_features(): ...\n"),
            ("serving/__init__.py", ""),
            ("serving/service.py", ""),
            ("training/__init__.py", "import serving.service\n"),
        ],
    )
    graph = import_graph(tmp_path)
    assert expected in back_edges(graph)
    assert "training imports serving.service: training and serving are kept apart" in back_edges(graph)


def test_checker_finds_a_planted_cycle(tmp_path: Path) -> None:
    _plant(
        tmp_path,
        [
            ("training/__init__.py", ""),
            ("training/cli.py", "from training.report.manager import render\n"),
            ("training/report/__init__.py", ""),
            ("training/report/manager.py", "from training import cli\n"),
        ],
    )
    assert cycles(import_graph(tmp_path)) == [["training.cli", "training.report.manager"]]


#: What the ``salesml`` command must not load before a command runs: each costs a fraction of a second at every
#: start, and together they made ``salesml --help`` take 3 s.
HEAVY = ("mlflow", "shap", "matplotlib", "lightgbm", "scipy", "sklearn", "bentoml", "optuna", "dask", "distributed")


def test_the_command_loads_no_heavy_library_before_a_command_runs() -> None:
    """Command modules import their stage's code inside the command, so that help, a bad option or a quick command
    does not pay for the libraries the others need."""
    probe = f"import sys, salesml_cli; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert loaded.stdout.split() == []
