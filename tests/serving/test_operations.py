"""The service as an operator runs it in the background (``salesml serve --background`` and ``salesml service
stop``, what ``make serve`` and ``make stop`` call): killed as an operator would kill it, on a port another process
holds, and on a BentoML store where a model was never exported or its files are damaged."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from features.settings import LOG_MAX_MB
from serving.process import LOG_BACKUPS, STOP_GRACE_S, members
from serving.schemas.scoring import LEAD_EXAMPLE, OPPORTUNITY_EXAMPLE
from tests.helpers import ROOT, assert_one_line_error, cut_short, salesml
from tests.serving.server import KEY, Stores, free_port

#: Seconds ``salesml serve`` may take to refuse a store with nothing to serve (it loads the models; no server starts).
FAIL_FAST_S = 30


def store_copy(stores: Stores, root: Path, without: str = "", damaged: tuple[str, ...] = ()) -> dict[str, str]:
    """The environment serving a copy of the exported BentoML store, less the model ``without``, with the latest
    model files of ``damaged`` cut off halfway."""
    home = root / "bentoml"
    shutil.copytree(stores.root / "bentoml", home, ignore=shutil.ignore_patterns(without) if without else None)
    for name in damaged:
        cut_short(home, name)
    return stores.env | {"BENTOML_HOME": str(home), "SALESML_PREDICTION_LOG": str(root / "predictions")}


def serve(env: dict[str, str], port: int, pid_file: Path) -> subprocess.CompletedProcess[str]:
    return salesml(
        "serve", "--background", "--port", port, "--pid-file", pid_file, "--log", pid_file.parent / "service.log",
        env=env,
    )  # fmt: skip


def client(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}, timeout=60)


def listeners(port: int) -> set[int]:
    return {c.pid for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def gone(pid_file: Path, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while (members(pid_file) or listeners(port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not members(pid_file) and not listeners(port)


@pytest.mark.slow  # three services started and killed
def test_a_killed_service_restarts_and_stops_whole(stores: Stores, tmp_path: Path) -> None:
    port, pid_file, log = free_port(), tmp_path / "service.pid", tmp_path / "service.log"
    log.write_text("an earlier run\n", encoding="utf-8")
    first = serve(store_copy(stores, tmp_path / "a", without="close_probability"), port, pid_file)
    assert first.returncode == 0, first.stderr
    assert "lead_score version 1" in first.stdout
    group = int(pid_file.read_text(encoding="utf-8"))
    assert os.getpgid(group) == group  # the pid file names a process group, led by the supervisor
    assert listeners(port) and listeners(port) <= {p.pid for p in members(pid_file)}
    with client(port) as calls:  # a model held back at export: its endpoints say so
        deals = calls.post("/v1/opportunities/score", json=OPPORTUNITY_EXAMPLE)
    assert deals.status_code == 503
    assert deals.json()["message"].startswith("no close_probability in the BentoML store")

    os.kill(group, signal.SIGKILL)  # kill -9 of the pid in the pid file: the server it supervised stops too
    assert gone(pid_file, port, STOP_GRACE_S)

    second = serve(store_copy(stores, tmp_path / "b", damaged=("close_probability",)), port, pid_file)
    assert second.returncode == 0, second.stderr
    with client(port) as calls:  # a damaged model: the other one serves, its endpoints say why
        models = calls.get("/v1/models").json()
        leads = calls.post("/v1/leads/score", json=LEAD_EXAMPLE)
        deals = calls.post("/v1/opportunities/score", json=OPPORTUNITY_EXAMPLE)
    assert [m["name"] for m in models["models"]] == ["lead_score"]
    (unavailable,) = models["unavailable"]
    assert unavailable["name"] == "close_probability"
    assert "could not be loaded" in unavailable["reason"] and "salesml export" in unavailable["reason"]
    assert leads.status_code == 200, leads.text
    assert deals.status_code == 503
    assert deals.json()["message"] == unavailable["reason"]

    group = int(pid_file.read_text(encoding="utf-8"))
    before = members(pid_file)
    os.killpg(group, signal.SIGKILL)  # the supervisor and BentoML's arbiter; its workers have sessions of their own
    orphans = [p for p in before if alive(p) and p.pid != group]
    assert orphans and listeners(port) & {p.pid for p in orphans}  # still holding the port

    stopped = salesml("service", "stop", "--pid-file", pid_file)
    assert stopped.returncode == 0, stopped.stderr
    assert not any(alive(p) for p in before)
    assert gone(pid_file, port, 0)
    assert not pid_file.exists()
    assert salesml("service", "status", "--pid-file", pid_file).returncode == 3
    text = log.read_text(encoding="utf-8")
    assert text.startswith("an earlier run\n") and "\0" not in text
    assert text.count("salesml supervisor") >= 2


def test_serve_refuses_at_once_when_no_model_loads(stores: Stores, tmp_path: Path) -> None:
    env = store_copy(stores, tmp_path, damaged=("lead_score", "close_probability"))
    started = time.monotonic()
    refused = serve(env, free_port(), tmp_path / "service.pid")
    assert time.monotonic() - started < FAIL_FAST_S
    assert_one_line_error(refused, "lead_score could not be loaded", "close_probability could not be loaded")
    assert not (tmp_path / "service.pid").exists()


def test_a_port_held_by_another_process_is_named(stores: Stores, tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        refused = serve(stores.env, port, tmp_path / "service.pid")
    assert_one_line_error(refused, f"port {port} is in use by pid {os.getpid()} (")
    assert not (tmp_path / "service.pid").exists()


def test_the_log_is_appended_and_rotated_by_size(tmp_path: Path) -> None:
    log, line = tmp_path / "service.log", "x" * 99
    printing = [sys.executable, "-c", f"for _ in range(2000): print({line!r})"]
    done = subprocess.run(
        [sys.executable, "-m", "serving.process", str(log), *printing],
        cwd=ROOT,
        env=os.environ | {LOG_MAX_MB.name: "0.05"},
        timeout=60,
    )
    assert done.returncode == 0
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["service.log", *(f"service.log.{i}" for i in range(1, LOG_BACKUPS + 1))]
    assert all(f.stat().st_size <= 0.05 * 2**20 for f in files)
    assert log.read_text(encoding="utf-8").endswith("the server exited with code 0\n")
