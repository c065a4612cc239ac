"""docs/ml-test-score.md, the self-grade against Google's ML Test Score, holds together: four sections of seven rows,
points of 0, 0.5 or 1, totals that are their sums, a final score that is the weakest section's, a cited test on every
row scored 1, and every cited test existing (read from its file, not imported) with an assertion that can fail.
Whether the evidence is enough is the page's claim, for review; this only keeps it from pointing at nothing."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ml-test-score.md"
SECTIONS = ("Data", "Model", "Infrastructure", "Monitoring")
ROWS = 7
POINTS = {"0": Fraction(0), "0.5": Fraction(1, 2), "1": Fraction(1)}

SECTION = re.compile(r"^## (.+?)\s*$")
ROW = re.compile(r"^\|\s*(\d+)\s*\|(.*)\|\s*$")
TOTAL = re.compile(r"Section total:\s*([0-9.]+)\s*/\s*(\d+)")
FINAL = re.compile(r"Final score[^:]*:\s*([0-9.]+)")
CITED = re.compile(r"`(tests/[^`\s:]+\.py)::([A-Za-z_]\w*(?:::[A-Za-z_]\w*)?)(\[[^`\]]*\])?`")
#: Calls that fail a test without an ``assert`` statement (besides any ``assert_*`` helper, numpy's included).
FAILING_CALL = re.compile(r"^pytest\.(raises|fail|warns)\b")


@dataclass
class Row:
    number: int
    points: str
    cited: list[tuple[str, str, str]]  # (path, name, parametrize id or "")


@dataclass
class Section:
    name: str
    rows: list[Row] = field(default_factory=list)
    total: str | None = None


@dataclass
class Grade:
    sections: list[Section]
    final: str | None


def parse(text: str) -> Grade:
    """The page's sections (level-2 headings over numbered table rows), their rows and totals, and the final score."""
    sections: list[Section] = []
    final = None
    for line in text.splitlines():
        if found := SECTION.match(line):
            sections.append(Section(found[1]))
        elif sections and (row := ROW.match(line)):
            cells = [c.strip() for c in row[2].split("|")]
            evidence = cells[2] if len(cells) > 2 else ""
            cited = [(m[1], m[2], (m[3] or "")[1:-1]) for m in CITED.finditer(evidence)]
            sections[-1].rows.append(Row(int(row[1]), cells[1] if len(cells) > 1 else "", cited))
        elif sections and (total := TOTAL.search(line)):
            sections[-1].total = total[1]
        if final is None and (score := FINAL.search(line)):
            final = score[1]
    return Grade([s for s in sections if s.rows or s.total is not None], final)


@cache
def _tests_in(path: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The file's test functions by name, ``Class::method`` for methods."""
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for method in node.body:
                if isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}::{method.name}"] = method
    return found


def _can_fail(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """An ``assert``, or a call that fails by itself (``assert_*`` helpers, ``pytest.raises``, ``np.testing``)."""
    for node in ast.walk(function):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            called = ast.unparse(node.func)
            if FAILING_CALL.match(called) or called.split(".")[-1].startswith("assert"):
                return True
    return False


@cache
def _constants(path: Path) -> frozenset[str]:
    """Every constant the file writes out (strings and numbers, as pytest spells them in ids)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(str(n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value is not None)


def _is_case(path: Path, case: str) -> bool:
    """A parametrized case's id: one constant of the file, or constants joined by ``-`` as pytest joins them."""
    constants = _constants(path)
    return case in constants or all(part in constants for part in case.split("-"))


PACKAGES = ("features", "training", "serving", "benchmarks", "tests", "salesml_cli")


@cache
def _defined(path: Path) -> frozenset[str] | None:
    """The names a module defines or imports anywhere in it; None when it may make names up (``*``, ``__getattr__``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any(a.name == "*" for a in node.names):
                return None
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    return None if "__getattr__" in names else frozenset(names)


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def _broken_imports(root: Path, file: Path) -> tuple[str, ...]:
    """The project names the file imports that do not exist (its module would fail to import, its tests with it)."""
    broken = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
            continue
        if node.module.split(".")[0] not in PACKAGES:
            continue
        source = _module_file(root, node.module)
        if source is None:
            broken.append(node.module)
            continue
        defined = _defined(source)
        for alias in node.names:
            submodule = _module_file(root, f"{node.module}.{alias.name}")
            if defined is not None and alias.name not in defined and submodule is None:
                broken.append(f"{node.module}.{alias.name}")
    return tuple(broken)


def cited_problem(root: Path, path: str, name: str, case: str) -> str | None:
    """Why ``path::name[case]`` is no test that can fail, or None."""
    file = root / path
    if not file.is_file():
        return f"{path}: no such file"
    function = _tests_in(file).get(name)
    if function is None or not function.name.startswith("test_"):
        return f"{path}::{name}: no such test"
    if case and not _is_case(file, case):
        return f"{path}::{name}[{case}]: no such case in the file"
    if broken := _broken_imports(root, file):
        return f"{path}: imports what does not exist: {', '.join(broken)}"
    if not _can_fail(function):
        return f"{path}::{name}: asserts nothing"
    return None


def problems(grade: Grade, root: Path = ROOT) -> list[str]:
    """Everything that keeps the page from being a complete, consistent grade whose cited tests exist."""
    found: list[str] = []
    names = [s.name for s in grade.sections]
    if names != list(SECTIONS):
        found.append(f"sections {names}, expected {list(SECTIONS)}")
    totals = []
    for section in grade.sections:
        numbers = [r.number for r in section.rows]
        if numbers != list(range(1, ROWS + 1)):
            found.append(f"{section.name}: rows {numbers}, expected 1 to {ROWS}")
        points = Fraction(0)
        for row in section.rows:
            where = f"{section.name} {row.number}"
            if row.points not in POINTS:
                found.append(f"{where}: points {row.points!r}, not one of {sorted(POINTS)}")
                continue
            points += POINTS[row.points]
            if POINTS[row.points] == 1 and not row.cited:
                found.append(f"{where}: scored 1 without a cited test")
            for path, name, case in row.cited:
                if problem := cited_problem(root, path, name, case):
                    found.append(f"{where}: {problem}")
        totals.append(points)
        if section.total is None:
            found.append(f"{section.name}: no section total")
        elif Fraction(section.total) != points:
            found.append(f"{section.name}: total {section.total}, the rows sum to {float(points):g}")
    if grade.final is None:
        found.append("no final score")
    elif totals and Fraction(grade.final) != min(totals):
        found.append(f"final score {grade.final}, the weakest section has {float(min(totals)):g}")
    return found


def test_the_self_grade_is_complete_and_its_tests_exist() -> None:
    grade = parse(DOC.read_text(encoding="utf-8"))
    assert problems(grade) == []
    assert sum(len(r.cited) for s in grade.sections for r in s.rows) >= 4 * ROWS


THIS = "tests/code/test_ml_test_score.py"


def _doc(rows: dict[tuple[str, int], tuple[str, str]] | None = None, final: str = "7") -> str:
    """A small page of four full sections, each row scored 1 citing this file's own test, ``rows`` replacing some."""
    lines = [f"Intro. **Final score (the weakest section): {final}**", ""]
    for section in SECTIONS:
        lines += [f"## {section}", "", "| # | test | points | evidence |", "|---|---|---|---|"]
        points = Fraction(0)
        for n in range(1, ROWS + 1):
            score, evidence = (rows or {}).get(
                (section, n), ("1", f"`{THIS}::test_the_self_grade_is_complete_and_its_tests_exist`: the page")
            )
            points += POINTS.get(score, Fraction(0))
            lines.append(f"| {n} | item {n} | {score} | {evidence} |")
        lines += ["", f"**Section total: {float(points):g} / {ROWS}**", ""]
    return "\n".join(lines)


def test_the_checker_passes_a_sound_page_and_names_what_is_wrong_in_a_broken_one() -> None:
    assert problems(parse(_doc())) == []
    half = _doc({("Model", 7): ("0.5", "checked by hand"), ("Model", 6): ("0", "nothing")}, final="5.5")
    assert problems(parse(half)) == []

    planted = _doc({("Data", 3): ("1", f"`{THIS}::test_that_was_never_written`: planted")})
    assert problems(parse(planted)) == [f"Data 3: {THIS}::test_that_was_never_written: no such test"]
    moved = _doc({("Monitoring", 2): ("1", "`tests/code/test_nowhere.py::test_x`: planted")})
    assert problems(parse(moved)) == ["Monitoring 2: tests/code/test_nowhere.py: no such file"]
    helper = _doc({("Infrastructure", 1): ("1", f"`{THIS}::_doc`: a helper, not a test")})
    assert problems(parse(helper)) == [f"Infrastructure 1: {THIS}::_doc: no such test"]
    unknown_case = f"{THIS}::test_the_self_grade_is_complete_and_its_tests_exist[nocase]"
    case = _doc({("Data", 1): ("1", f"`{unknown_case}`: planted")})
    assert problems(parse(case)) == [f"Data 1: {unknown_case}: no such case in the file"]

    uncited = _doc({("Model", 4): ("1", "trust me")})
    assert problems(parse(uncited)) == ["Model 4: scored 1 without a cited test"]
    odd = _doc({("Model", 4): ("0.75", "")})
    assert problems(parse(odd))[0] == "Model 4: points '0.75', not one of ['0', '0.5', '1']"
    short = _doc().replace("| 7 | item 7 | 1 |", "| 8 | item 7 | 1 |", 1)
    assert problems(parse(short)) == ["Data: rows [1, 2, 3, 4, 5, 6, 8], expected 1 to 7"]
    wrong_total = _doc().replace("Section total: 7 /", "Section total: 6.5 /", 1)
    assert problems(parse(wrong_total)) == ["Data: total 6.5, the rows sum to 7"]
    assert problems(parse(_doc(final="6"))) == ["final score 6, the weakest section has 7"]


def test_a_test_that_asserts_nothing_cannot_back_a_row(tmp_path: Path) -> None:
    folder = tmp_path / "tests"
    folder.mkdir()
    (folder / "test_x.py").write_text(
        "def test_empty():\n    run()\n\n"
        "def test_helper():\n    assert_one_line_error(run())\n\n"
        "class TestThing:\n    def test_raises(self):\n        with pytest.raises(ValueError):\n            run()\n",
        encoding="utf-8",
    )
    x = "tests/test_x.py"
    assert cited_problem(tmp_path, x, "test_empty", "") == f"{x}::test_empty: asserts nothing"
    assert cited_problem(tmp_path, x, "test_helper", "") is None
    assert cited_problem(tmp_path, x, "TestThing::test_raises", "") is None


def test_a_test_whose_file_imports_a_moved_name_cannot_back_a_row(tmp_path: Path) -> None:
    """As tests/serving/test_privacy.py did once: ``read_log`` moved out of serving.predlog, and the file no longer
    imported, so none of its tests ran."""
    (tmp_path / "serving").mkdir()
    (tmp_path / "serving" / "predlog.py").write_text("class PredictionLog:\n    pass\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    test = "def test_it():\n    assert PredictionLog\n"
    (tmp_path / "tests" / "test_ok.py").write_text(f"from serving.predlog import PredictionLog\n{test}")
    (tmp_path / "tests" / "test_moved.py").write_text(f"from serving.predlog import PredictionLog, read_log\n{test}")
    (tmp_path / "tests" / "test_gone.py").write_text(f"from serving.nowhere import PredictionLog\n{test}")
    assert cited_problem(tmp_path, "tests/test_ok.py", "test_it", "") is None
    moved = cited_problem(tmp_path, "tests/test_moved.py", "test_it", "")
    assert moved == "tests/test_moved.py: imports what does not exist: serving.predlog.read_log"
    gone = cited_problem(tmp_path, "tests/test_gone.py", "test_it", "")
    assert gone == "tests/test_gone.py: imports what does not exist: serving.nowhere"
