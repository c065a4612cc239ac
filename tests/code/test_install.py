"""salesml as a user installs it: a wheel in a fresh virtual environment, run from a directory of its own.

It must train and serve with its built-in specs, keep its stores in ``./.salesml`` and write nothing inside the
installed package. Offline: the wheel is built with this environment's setuptools, and the fresh environment sees
this one's dependencies through a ``.pth`` line (which adds the directory but runs none of the ``.pth`` files in
it, so the checkout's editable install stays out of sight).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from features.settings import SETTINGS
from tests.helpers import ROOT
from tests.serving.server import free_port

#: What the wheel is built from (pyproject.toml's packages, module and readme).
SOURCES = ("pyproject.toml", "README.md", "salesml_cli.py", "features", "training", "serving")
RUN_S = 900


def _run(*command: object, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_S, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stderr or done.stdout}"
    return done


def _wheel(tmp: Path) -> Path:
    """The wheel, built from a copy of the sources so that the build leaves nothing in the checkout."""
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check")
    _run(
        *pip,
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        tmp / "dist",
        source,
        cwd=tmp,
        env=dict(os.environ),
    )
    (wheel,) = (tmp / "dist").glob("salesml-*.whl")
    return wheel


def _install(wheel: Path, venv: Path) -> Path:
    """A fresh virtual environment with the wheel installed and this one's dependencies in sight; its bin/."""
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent, env=dict(os.environ))
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python)
    _run(*pip, "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=venv.parent, env=dict(os.environ))
    site = Path(
        _run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=venv, env={}).stdout.strip()
    )
    (site / "salesml-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return venv / "bin"


def _files(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` with its size and modification time."""
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in directory.rglob("*")
        if path.is_file()
    }


@pytest.mark.slow
def test_an_installed_salesml_trains_and_serves_outside_its_package(tmp_path: Path) -> None:
    bin_dir = _install(_wheel(tmp_path), tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {s.name for s in SETTINGS} | {"PYTHONPATH"}}
    env |= {"PYTHONDONTWRITEBYTECODE": "1", "BENTOML_DO_NOT_TRACK": "true", "COLUMNS": "200", "NO_COLOR": "1"}

    where = _run(bin_dir / "python", "-c", "import features, salesml_cli; print(features.__file__)", cwd=work, env=env)
    package = Path(where.stdout.strip()).parents[1]
    assert package.is_relative_to(tmp_path / "venv"), f"imported the checkout's salesml: {package}"
    installed = _files(package)

    salesml = bin_dir / "salesml"
    _run(salesml, "data", "synth", "--out", "data", "--leads", 1500, "--seed", 3, cwd=work, env=env)
    _run(salesml, "train", "--model", "lead_score", "--data", "data", "--trials", 1, cwd=work, env=env)
    _run(salesml, "export", "--data", "data", cwd=work, env=env)
    port = free_port()
    try:
        _run(salesml, "serve", "--background", "--no-auth", "--port", port, cwd=work, env=env)
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200
    finally:
        _run(salesml, "service", "stop", cwd=work, env=env)

    local = work / ".salesml"
    assert (local / ".mlflow" / "mlflow.db").is_file()
    assert (local / ".bentoml" / "models" / "lead_score").is_dir()
    assert (local / "logs" / "service.log").is_file()
    assert _files(package) == installed, "salesml wrote inside its installed package"
