"""Data flows one way: features <- training, features <- serving; serving never imports training."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {"features", "training", "serving", "salesml_cli"}
FORBIDDEN = {
    "features": {"training", "serving", "salesml_cli"},
    "training": {"serving", "salesml_cli"},
    "serving": {"training", "salesml_cli"},
}


def imported_top_levels(path: Path) -> set[str]:
    """Top-level package names a module imports (absolute imports only; we use no relative ones)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & OURS


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_follow_the_data_flow(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_top_levels(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "leaky.py"
    module.write_text("import os\nfrom training.train import fit\nimport serving.service as s\n")
    assert imported_top_levels(module) == {"training", "serving"}
