"""A large frame's feature families run on threads at once and give the features they give one at a time.

What the families share (the frame's rows, the history, the activity log) is indexed on first use: the builds here
start from a freshly read dataset each, so threads meet those first uses together.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import read_dataset
from features.crm.schema import ENTITIES
from features.pit import build, rows
from features.pit.build import build_features
from tests.pit.test_per_row import _random_rows


@pytest.mark.parametrize("entity", list(ENTITIES))
def test_families_on_threads_give_the_features_of_one_thread(entity: str, small_data: Path) -> None:
    frame = _random_rows(read_dataset(small_data), entity, 3_000, np.random.default_rng(5))
    alone = build_features(read_dataset(small_data), entity, frame, threads=1)
    for threads in (2, 4, 4):
        together = build_features(read_dataset(small_data), entity, frame, threads=threads)
        pd.testing.assert_frame_equal(together, alone, check_exact=True)
    assert alone["rep_win_rate"].notna().any() and (alone["act_all_n_total"] > 0).any()


def test_a_large_frame_runs_its_families_on_the_feature_threads(
    small_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames of ``THREADED_ROWS`` or more on ``SALESML_FEATURE_THREADS`` threads; smaller ones on the caller's."""
    ds = read_dataset(small_data)
    frame = _random_rows(ds, "lead", 50, np.random.default_rng(1))
    ran_on: set[str] = set()

    def watched(r: build.FrameRows) -> build.Columns:
        ran_on.add(threading.current_thread().name)
        return build.lifecycle(r)

    monkeypatch.setitem(
        build.FAMILIES, "lead", tuple(watched if f is build.lifecycle else f for f in build.FAMILIES["lead"])
    )
    monkeypatch.setattr(build, "THREADED_ROWS", 40)
    monkeypatch.setenv("SALESML_FEATURE_THREADS", "3")
    build_features(ds, "lead", frame)
    assert len(ran_on) == 1 and next(iter(ran_on)).startswith("salesml-features")
    ran_on.clear()
    build_features(ds, "lead", frame.head(39))
    assert ran_on == {threading.current_thread().name}


def test_the_activity_log_is_built_once_whatever_the_threads(small_data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every activity family reads it, and it indexes every activity: threads asking at once wait for one build."""
    built: list[int] = []

    class Counted(rows.ActivityLog):
        def __init__(self, *args: object) -> None:
            built.append(threading.get_ident())
            time.sleep(0.2)  # long enough for the other threads' families to ask for it meanwhile
            super().__init__(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rows, "ActivityLog", Counted)
    ds = read_dataset(small_data)
    build_features(ds, "lead", _random_rows(ds, "lead", 500, np.random.default_rng(3)), threads=4)
    assert len(built) == 1


def test_threads_below_one_are_refused(small_data: Path) -> None:
    ds = read_dataset(small_data)
    frame = _random_rows(ds, "lead", 5, np.random.default_rng(2))
    with pytest.raises(ValueError, match="threads must be 1 or more"):
        build_features(ds, "lead", frame, threads=0)
