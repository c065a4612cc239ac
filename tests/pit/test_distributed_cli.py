"""``salesml features build --engine dask``: the same features as the local engine, written as parts; a user's
mistake with the engine's options is one line and exit 2."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import psutil
import pytest

from features.crm.dataset import read_table
from features.pit.cluster import interruptible
from tests.helpers import ROOT, UNREACHABLE_SCHEDULER, assert_one_line_error, salesml


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (("--engine", "spark"), "--engine 'spark'"),
        (("--engine", "dask", "--workers", "0"), "--workers 0"),
        (("--engine", "dask", "--partitions", "0"), "--partitions 0"),
        (("--workers", "2"), "--workers applies only with --engine dask"),
        (("--scheduler", "tcp://127.0.0.1:8786"), "--scheduler applies only with --engine dask"),
    ],
)
def test_engine_mistakes_are_one_line(
    small_data: Path, tmp_path: Path, options: tuple[str, ...], fragment: str
) -> None:
    proc = salesml("features", "build", "--data", small_data, "--entity", "lead", "--out", tmp_path / "f", *options)
    assert_one_line_error(proc, fragment)
    assert not (tmp_path / "f").exists()


def test_an_unreachable_scheduler_is_one_line(small_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "f"
    proc = salesml(
        "features", "build", "--data", small_data, "--entity", "lead", "--out", out, "--engine", "dask",
        env=UNREACHABLE_SCHEDULER,
    )  # fmt: skip
    assert_one_line_error(proc, "Dask scheduler tcp://127.0.0.1:9 unreachable")


@pytest.mark.slow  # two salesml processes, one with a LocalCluster of two workers
def test_the_dask_engine_writes_the_local_features_as_parts(small_data: Path, tmp_path: Path) -> None:
    args = ("features", "build", "--data", small_data, "--entity", "opportunity")
    local = salesml(*args, "--out", tmp_path / "local.parquet")
    assert local.returncode == 0, local.stderr
    dask = salesml(*args, "--out", tmp_path / "parts", "--engine", "dask", "--workers", 2, "--partitions", 8)
    assert dask.returncode == 0, dask.stderr
    assert "Dask scheduler tcp://127.0.0.1:" in dask.stderr
    assert "(8 parts)" in dask.stdout
    assert len(list((tmp_path / "parts").glob("part-*.parquet"))) == 8
    expected = pd.read_parquet(tmp_path / "local.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "parts"), expected, check_exact=True)


@pytest.mark.slow  # a salesml process with a LocalCluster of two workers, stopped half way
def test_ctrl_c_closes_the_embedded_cluster_quietly(small_data: Path, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "salesml_cli", "features", "build", "--data", str(small_data)]
    command += ["--entity", "lead", "--out", str(tmp_path / "f"), "--engine", "dask", "--workers", "2"]
    command += ["--partitions", "256"]  # about 50 s of shuffling, where 16 parts take 5 s: stopped before the end
    env = os.environ | {"COLUMNS": "200", "NO_COLOR": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if line.startswith("Dask scheduler"):
                break
        children = psutil.Process(process.pid).children(recursive=True)
        assert len([c for c in children if "spawn_main" in " ".join(c.cmdline())]) >= 2  # the worker processes
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130  # Typer's exit on Ctrl-C: stopped, not finished
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr[-2000:]
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []


def test_a_press_python_drops_still_stops_the_body() -> None:
    """Ctrl-C landing in a garbage collector callback (as in Dask's GC diagnosis) is printed and ignored by Python,
    so the build ran on to exit 0: the body raises it when it ends."""

    def pressed_during_collection(phase: str, info: dict) -> None:
        if phase == "start":
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, inside the callback

    reached_the_end = False
    with pytest.raises(KeyboardInterrupt), interruptible():
        gc.callbacks.append(pressed_during_collection)
        try:
            gc.collect()
        finally:
            gc.callbacks.remove(pressed_during_collection)
        reached_the_end = True
    assert reached_the_end  # the press was dropped where it landed, and raised when the body ended
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
