"""The service in the background, as an operator starts and stops it: ``salesml serve --background`` (``make serve``)
and ``salesml service stop`` / ``status`` (``make stop``).

The server runs under a supervisor started in a session of its own: the pid file (``logs/service.pid``) names it,
and its pid is the process group's id. The supervisor appends everything the server prints to the log
(``logs/service.log``), rotated by size (``SALESML_LOG_MAX_MB``, default 10, and 3 older files: ``.1`` to ``.3``),
passes SIGTERM on, and should it be killed (``kill -9``) the server gets SIGTERM. BentoML starts its workers in
sessions of their own, out of the group's reach, so every process of the service also carries ``SALESML_SERVICE``
(the pid file's path) in its environment: stopping finds them all by it, orphans of a killed server included, sends
SIGTERM to those whose parent is not one of them, and SIGKILL to whatever is left after the grace period.

A start stops the service the pid file names first, refuses a port another process holds (naming its pid and
command), and reports success only once the new server answers ``/readyz``, listens on the port, and answers on
``/v1/models`` the model versions the BentoML store holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

import httpx
import psutil

from features import settings
from features.config import run_dir
from features.errors import DataError

LOG_BACKUPS, TAIL_LINES = 3, 20
READY_S, STOP_GRACE_S, KILL_WAIT_S, POLL_S = 120.0, 30.0, 10.0, 0.25
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def start(
    command: list[str],
    env: Mapping[str, str],
    host: str,
    port: int,
    expected: Mapping[str, str],
    key: str | None,
    pid_file: Path,
    log: Path,
) -> int:
    """Runs ``command`` (the server) under a supervisor in the background; its process group once the server
    serves ``expected`` (``served_versions``). DataError, the log's last lines printed first, when it does not."""
    stop(pid_file)
    refuse_taken(host, port)
    for path in (pid_file, log):
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as own_errors:  # the supervisor's, should it fail before its log is open
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "serving.process", str(log), *command],
            env={**env, settings.SERVICE.name: _mark(pid_file)},
            cwd=run_dir(),
            stdin=subprocess.DEVNULL,
            stdout=own_errors,
            stderr=own_errors,
            start_new_session=True,
        )
    pid_file.write_text(f"{supervisor.pid}\n", encoding="utf-8")
    problem = _not_serving(supervisor, local_url(host, port), port, expected, key)
    if problem is not None:
        stop(pid_file)
        supervisor.wait()
        sys.stderr.write("".join(f"  {line}\n" for line in _tail(log)))
        raise DataError(f"{problem} (the log's last lines are above; all of it: {log})")
    return supervisor.pid


def stop(pid_file: Path) -> int:
    """Stops every process of the service ``pid_file`` names: SIGTERM to those whose parent is not one of them (the
    supervisor; what a killed one left), SIGKILL to any left after the grace period. How many there were."""
    found = members(pid_file)
    pids = {process.pid for process in found}
    for process in found:
        with contextlib.suppress(psutil.Error):
            if process.ppid() not in pids:
                process.terminate()
    for process in _outliving(pid_file, STOP_GRACE_S):
        with contextlib.suppress(psutil.Error):
            process.kill()
    if left := _outliving(pid_file, KILL_WAIT_S):
        raise DataError(f"could not stop {_described(p.pid for p in left)}")
    pid_file.unlink(missing_ok=True)
    return len(found)


def members(pid_file: Path) -> list[psutil.Process]:
    """The live processes of the service ``pid_file`` names, wherever BentoML or a kill left them."""
    mark, found = _mark(pid_file), []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):  # gone, a zombie, or another user's
            if process.environ().get(settings.SERVICE.name) == mark:
                found.append(process)
    return found


def described(pid_file: Path) -> list[str]:
    """One line per process of the service: what ``salesml service status`` prints."""
    return [_described([p.pid]) for p in sorted(members(pid_file), key=lambda p: p.pid)]


def refuse_taken(host: str, port: int) -> None:
    """DataError naming the process that holds ``port``: the server would die on it, and the answers a caller got
    would come from that one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                held_by = _described(_listeners(port)) or "a process this user cannot see"
                raise DataError(
                    f"port {port} is in use by {held_by}; stop it, or serve on another port (--port, make serve"
                    " PORT=...)"
                ) from error


def served_versions(models: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Model name -> version and export time, as ``/v1/models`` answers them and the BentoML store holds them."""
    return {m["name"]: f"version {m['version']} exported {m['exported_at']}" for m in models}


def versions_text(versions: Mapping[str, str]) -> str:
    """``served_versions`` as an operator reads it."""
    return ", ".join(f"{name} {what}" for name, what in versions.items()) or "no models"


def local_url(host: str, port: int) -> str:
    """Where this machine reaches a server listening on ``host``."""
    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"


def supervise(log: Path, command: list[str]) -> int:
    """Runs the server, appends its output to ``log`` rotated by size, and passes SIGTERM on; the server gets SIGTERM
    should the supervisor die, however it dies. The server's exit code."""
    out = _rotating(log)
    server = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_with_parent
    )
    signal.signal(signal.SIGTERM, lambda signum, _: server.send_signal(signum))
    out.info(f"salesml supervisor {os.getpid()}: started {shlex.join(command)}")
    assert server.stdout is not None
    for line in server.stdout:
        out.info(line.decode("utf-8", "replace").rstrip("\n"))
    code = server.wait()
    out.info(f"salesml supervisor {os.getpid()}: the server exited with code {code}")
    return code


def _with_parent() -> None:
    """In the server, before it runs: SIGTERM when its parent (the supervisor) dies (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _rotating(log: Path) -> logging.Logger:
    """A writer of lines as they are, appended to ``log`` and rotated by size."""
    max_bytes = int(settings.LOG_MAX_MB.get() * 2**20)
    handler = RotatingFileHandler(log, maxBytes=max_bytes, backupCount=LOG_BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    out = logging.Logger("salesml.service.output")
    out.addHandler(handler)
    return out


def _not_serving(
    supervisor: subprocess.Popen, url: str, port: int, expected: Mapping[str, str], key: str | None
) -> str | None:
    """Why the new server does not serve ``expected`` on ``port``; None once it does."""
    deadline = time.monotonic() + READY_S
    while (ready := _answers(f"{url}/readyz")) is None and supervisor.poll() is None and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if supervisor.poll() is not None:
        return f"the server exited (code {supervisor.returncode}) before it was ready"
    if ready is None:
        return f"the server was not ready within {READY_S:.0f} s"
    if not _tree(supervisor.pid) & _listeners(port):
        return f"port {port} answers, but from {_described(_listeners(port))}, not from the new server"
    served = _served(url, key)
    if served != expected:
        return f"the server answers {versions_text(served)}; the BentoML store holds {versions_text(expected)}"
    return None


def _answers(url: str, key: str | None = None) -> httpx.Response | None:
    """The answer of a GET that succeeded; None for no answer or an error status."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with contextlib.suppress(httpx.HTTPError):
        answer = httpx.get(url, headers=headers, timeout=10)
        if answer.is_success:
            return answer
    return None


def _served(url: str, key: str | None) -> dict[str, str]:
    answer = _answers(f"{url}/v1/models", key)
    return served_versions(answer.json()["models"]) if answer is not None else {}


def _outliving(pid_file: Path, seconds: float) -> list[psutil.Process]:
    """The service's processes still there after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := members(pid_file)) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return left


def _tree(pid: int) -> set[int]:
    """A process and all its descendants."""
    with contextlib.suppress(psutil.Error):
        return {pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))}
    return {pid}


def _listeners(port: int) -> set[int]:
    """The processes listening on ``port`` that this user can see."""
    with contextlib.suppress(psutil.AccessDenied):
        return {
            c.pid
            for c in psutil.net_connections("inet")
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid is not None
        }
    return set()


def _described(pids: Iterable[int]) -> str:
    """Processes as 'pid N (command)', for a message an operator acts on."""
    parts = []
    for pid in sorted(pids):
        with contextlib.suppress(psutil.Error):
            parts.append(f"pid {pid} ({shlex.join(psutil.Process(pid).cmdline())[:120]})")
    return ", ".join(parts)


def _tail(log: Path) -> list[str]:
    with contextlib.suppress(OSError):
        return log.read_text(encoding="utf-8", errors="replace").splitlines()[-TAIL_LINES:]
    return []


def _mark(pid_file: Path) -> str:
    return str(pid_file.resolve())


if __name__ == "__main__":
    sys.exit(supervise(Path(sys.argv[1]), sys.argv[2:]))
