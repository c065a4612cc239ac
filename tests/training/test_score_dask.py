"""``salesml score --engine dask``: the local scores, grades and factors, written as Parquet parts by the workers of
a cluster (the test's LocalCluster, named by its address); a user's mistake with the engine's options is one line
and exit 2."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from features.crm.dataset import read_table
from tests.helpers import UNREACHABLE_SCHEDULER, Stores, assert_one_line_error, salesml

TEXT_COLUMNS = ["entity_id", "grade", "trend", "top_positive", "top_negative", "model", "model_version", "segment"]
NUMBER_COLUMNS = ["probability", "score", "base_probability", "p_7d_ago", "other_effect"]


@pytest.mark.slow  # two salesml processes each, one scoring on a LocalCluster
@pytest.mark.parametrize(
    ("model", "embedded", "partitions"), [("lead_score", True, 8), ("close_probability", False, 4)]
)
def test_dask_scores_are_the_local_scores(
    small_crm: Stores, dask_client: Client, tmp_path: Path, model: str, embedded: bool, partitions: int
) -> None:
    """On the command's own LocalCluster, or on the test's named by its address. In 8 parts of the open leads, the
    last holds only leads younger than a week: no trend in it, its parts still of one schema."""
    args = ("score", "--model", model, "--data", small_crm.data, "--locale", "en")
    local = salesml(*args, "--out", tmp_path / "local.csv", env=small_crm.env)
    assert local.returncode == 0, local.stderr
    out = tmp_path / "scores"
    cluster = ("--workers", 2) if embedded else ("--scheduler", dask_client.scheduler.address)
    dask = salesml(*args, "--out", out, "--engine", "dask", *cluster, "--partitions", partitions, env=small_crm.env)
    assert dask.returncode == 0, dask.stderr
    assert "Dask scheduler tcp://127.0.0.1:" in dask.stderr
    assert embedded or f"Dask scheduler {dask_client.scheduler.address}" in dask.stderr
    assert f"({partitions} parts)" in dask.stdout
    assert len(list(out.glob("part-*.parquet"))) == partitions
    expected = pd.read_csv(tmp_path / "local.csv", dtype={"model_version": str})
    got = read_table(out)
    assert list(got.columns) == list(expected.columns)
    assert len(got) == len(expected) > 0
    for column in TEXT_COLUMNS:
        assert _texts(got[column]) == _texts(expected[column]), column
    for column in NUMBER_COLUMNS + [c for c in expected.columns if c.startswith("p_") and c.endswith("d")]:
        assert got[column].to_numpy(float) == pytest.approx(expected[column].to_numpy(float), abs=1e-9, nan_ok=True)
    assert (pd.to_datetime(got["as_of"], utc=True) == pd.to_datetime(expected["as_of"], utc=True)).all()


def _texts(column: pd.Series) -> list[str]:
    """A column as text, missing as "" (the CSV reads an empty string back as NaN)."""
    return ["" if pd.isna(value) else str(value) for value in column]


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (("--engine", "spark"), "--engine 'spark'"),
        (("--engine", "dask", "--partitions", "0"), "--partitions 0"),
        (("--workers", "2"), "--workers applies only with --engine dask"),
        (("--engine", "dask", "--show", "5"), "--show applies only with --engine local"),
    ],
)
def test_score_engine_mistakes_are_one_line(
    small_crm: Stores, tmp_path: Path, options: tuple[str, ...], fragment: str
) -> None:
    out = tmp_path / "scores"
    args = ("score", "--model", "lead_score", "--data", small_crm.data, "--out", out)
    proc = salesml(*args, *options, env=small_crm.env)
    assert_one_line_error(proc, fragment)
    assert not out.exists()


@pytest.mark.slow  # a salesml process that loads the model first; features build's test covers the fast loop
def test_score_with_an_unreachable_scheduler_is_one_line(small_crm: Stores, tmp_path: Path) -> None:
    proc = salesml(
        "score", "--model", "lead_score", "--data", small_crm.data, "--out", tmp_path / "s", "--engine", "dask",
        env=small_crm.env | UNREACHABLE_SCHEDULER,
    )  # fmt: skip
    assert_one_line_error(proc, "Dask scheduler tcp://127.0.0.1:9 unreachable")
