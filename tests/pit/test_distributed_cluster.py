"""A real multi-process Dask cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, started
here, and ``salesml features build --engine dask --scheduler`` against it gives the local features; a worker that
runs out of memory, or dies holding data sent to it, is one line."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import LocalCluster
from distributed.comm.core import CommClosedError

from features.crm.dataset import read_table
from features.errors import DataError
from features.pit.cluster import LOOPBACK, dask_client
from tests.helpers import ROOT, salesml

DASK = [sys.executable, "-m", "dask"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"no Dask scheduler on port {port}")


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    """The address of a scheduler with two single-thread worker processes."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = (tmp_path / "cluster.log").open("w")
    started = [
        subprocess.Popen(
            [*DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=ROOT, stdout=logs, stderr=logs,
        )
    ]  # fmt: skip
    try:
        _wait_for(port)
        for _ in range(2):
            worker = [*DASK, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"]
            started.append(subprocess.Popen(worker, cwd=ROOT, stdout=logs, stderr=logs))
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
        for process in started:
            process.wait(timeout=30)
        logs.close()


@pytest.mark.slow  # a scheduler, two workers and two salesml processes
def test_a_running_cluster_builds_the_local_features(small_data: Path, tmp_path: Path, scheduler: str) -> None:
    args = ("features", "build", "--data", small_data, "--entity", "lead")
    local = salesml(*args, "--out", tmp_path / "local.parquet")
    assert local.returncode == 0, local.stderr
    remote = salesml(*args, "--out", tmp_path / "parts", "--engine", "dask", "--scheduler", scheduler)
    assert remote.returncode == 0, remote.stderr
    assert f"Dask scheduler {scheduler}" in remote.stderr
    expected = pd.read_parquet(tmp_path / "local.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "parts"), expected, check_exact=True)


def test_a_worker_out_of_memory_is_one_line() -> None:
    """A worker its nanny kills for going over its memory limit ends the run with one line saying so, not Dask's
    traceback."""
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=1, threads_per_worker=1, memory_limit="400MiB", host=LOOPBACK, dashboard_address=None
        ) as cluster,
        pytest.raises(DataError, match=r"^a Dask worker died running .*\(out of memory\?\); give workers more memory$"),
        dask_client(1, cluster.scheduler_address, say=lambda _: None) as client,
    ):
        client.submit(np.ones, 2**30 // 8 * 2, pure=False).result()  # 2 GiB held by a worker of 400 MiB


def test_a_worker_lost_with_data_sent_to_it_is_one_line() -> None:
    """A worker that dies holding what this process scattered to it (a piece of the frame) takes it along: Dask
    cancels the work that needed it, and the run ends with one line saying so, not Dask's traceback."""
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, host=LOOPBACK, dashboard_address=None) as cluster,
        pytest.raises(  # Dask's reason depends on timing: "lost dependencies" or "already forgotten"
            DataError, match=r"^Dask cancelled the build \(.+\): a worker died holding data sent to it \(out of memory"
        ),
        dask_client(2, cluster.scheduler_address, say=lambda _: None) as client,
    ):
        holder = next(iter(client.scheduler_info()["workers"]))
        piece = client.scatter(np.arange(10), workers=[holder], hash=False)
        with contextlib.suppress(CommClosedError):  # the worker is gone before it answers
            client.run(os._exit, 1, workers=[holder])
        client.submit(np.sum, piece, pure=False).result(timeout=60)
