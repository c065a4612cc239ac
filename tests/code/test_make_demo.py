"""``make demo``, one of the two set-up commands, runs end to end: the simulated CRM, both models trained and made
champion, scores, forecast, targets, the report, the export and the background service answering the example
lead. Its stores, data and service are kept out of the checkout (the Makefile's variables and salesml's settings)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.serving.server import free_port

#: The demo on 2 cores: about a minute to train and serve, several on a slow machine.
DEMO_TIMEOUT_S = 900


@pytest.mark.slow
def test_make_demo_runs_end_to_end_and_serves_the_example(tmp_path: Path) -> None:
    port = free_port()
    places = {
        "DEMO": tmp_path / "demo",
        "KEYS": tmp_path / "secrets" / "api-keys",
        "SERVICE_PID": tmp_path / "logs" / "service.pid",
        "SERVICE_LOG": tmp_path / "logs" / "service.log",
    }
    make = ["make", "--no-print-directory", f"PORT={port}", *(f"{name}={path}" for name, path in places.items())]
    env = os.environ | {
        "SALESML_STORE": str(tmp_path / "store"),
        "BENTOML_HOME": str(tmp_path / "bentoml"),
        "SALESML_PREDICTION_LOG": str(tmp_path / "predictions"),
        "SALESML_REPORT_DIR": str(tmp_path / "reports"),
        "COLUMNS": "200",
    }
    try:
        proc = subprocess.run(
            [*make, "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S, check=False
        )
    finally:
        subprocess.run([*make, "stop"], cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    for name in ("lead_score", "close_probability"):
        assert f"registered {name} version 1 as champion" in proc.stdout.replace("\n", " ")
    assert re.search(r"L-2026-0001: grade [ABC], score \d+, probability", proc.stdout)  # the example, over HTTP
    assert (places["DEMO"] / "scores" / "leads.csv").is_file() and (places["DEMO"] / "report.html").is_file()
    assert "Traceback" not in proc.stderr
