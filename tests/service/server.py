"""A real salesml service for tests: the trained, exported stores of a tier (tests/conftest.py) served by
``salesml serve`` on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from features.crm.privacy import KEY_FILE, Redactor
from tests.helpers import KEY, REVOKED, ROOT, Stores

__all__ = ["KEY", "REVOKED", "Server", "Stores", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """``salesml serve`` in its own process group on a free loopback port."""

    stores: Stores
    log_dir: Path
    port: int = field(default_factory=free_port)
    target: str | None = None  # a built bento to serve with ``bentoml serve`` instead of ``salesml serve``
    env: dict[str, str] = field(default_factory=dict)  # extra environment (e.g. SALESML_MAX_CONCURRENCY)
    cores: list[int] | None = None  # pin the server to these CPU cores (benchmarks keep the load generator apart)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.log_dir.parent / f"server-{self.port}.log"

    def start(self, timeout_s: float = 120) -> Server:
        env = os.environ | self.stores.env | {"SALESML_PREDICTION_LOG": str(self.log_dir)} | self.env
        self.output = open(self.output_path(), "w")  # noqa: SIM115
        command = ["salesml_cli", "serve"] if self.target is None else ["bentoml", "serve", self.target]
        self.process = subprocess.Popen(
            [sys.executable, "-m", *command, "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, self.cores)) if self.cores else None,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"salesml serve exited: {Path(self.output.name).read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"salesml serve not ready in {timeout_s} s: {Path(self.output.name).read_text()[-3000:]}")

    def processes(self) -> list[psutil.Process]:
        """The server and every process it started (BentoML puts its workers in sessions of their own)."""
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def kill(self) -> None:
        """SIGKILL the server and every process it started (BentoML puts its workers in their own session): no
        shutdown hook runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            tree = self.processes()
            for process in tree:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
            self.process.wait(timeout=30)
            psutil.wait_procs(tree, timeout=30)

    def stop(self) -> None:
        """SIGTERM (BentoML stops its workers), then SIGKILL whatever is left of the tree."""
        if self.process is not None and self.process.poll() is None:
            workers = self.processes()[1:]
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            _, alive = psutil.wait_procs(workers, timeout=30)
            for process in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()
        self.output.close()

    def redactor(self) -> Redactor:
        """What the server redacts its log with: the key the test set, else the one it created in the store."""
        key = self.env.get("SALESML_LOG_HASH_KEY")
        return Redactor(key.encode() if key else (self.stores.store / KEY_FILE).read_bytes().strip())

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)
