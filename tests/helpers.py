"""Running the real ``salesml`` command in a fresh process, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def salesml(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a fresh process (wide terminal so tables do not wrap)."""
    return subprocess.run(
        [sys.executable, "-m", "salesml_cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"COLUMNS": "200", "NO_COLOR": "1"} | (env or {}),
        timeout=600,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0]


def train_in_store(store: Path, spec: str, data: Path, trials: int):
    """Train in-process against a private MLflow store; the environment is restored afterwards."""
    import pytest

    from training.train import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESML_STORE", str(store))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
        return train(spec, data, trials=trials, progress=False)
