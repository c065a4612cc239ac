"""``salesml models compare`` and promotion's refusal on a planted prediction log: champion and challenger records
of the same calls on leads whose outcomes the small tier shows, the challenger ranking them at random."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import read_dataset, to_utc
from features.crm.privacy import Redactor
from features.insights.monitoring.outcomes import SHADOW, with_outcomes
from features.pit.frames import LEAD_HORIZON_DAYS
from serving.predlog import PredictionLog
from tests.helpers import Stores, assert_one_line_error, salesml

MODEL = "lead_score"


@pytest.fixture(scope="module")
def stores(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    copy = small_crm.copy(tmp_path_factory.mktemp("compare") / "stores")
    assert copy.with_challenger(MODEL) == "2"
    return copy


def labelled_calls(data: Path) -> pd.DataFrame:
    """Leads open at three times, as the champion's label rule judges them by the export (known ones only)."""
    ds = read_dataset(data)
    leads = ds.get("leads")
    parts = []
    for call, quantile in enumerate((0.3, 0.5, 0.7)):
        as_of = leads["created_at"].quantile(quantile) + pd.Timedelta(days=1)
        resolved = (leads["converted_at"] <= as_of) | (leads["disqualified_at"] <= as_of)
        ids = leads[(leads["created_at"] <= as_of) & ~resolved]["lead_id"]
        parts.append(pd.DataFrame({"request_id": f"call-{call}", "entity_id": ids, "cutoff_time": as_of}))
    calls = pd.concat(parts, ignore_index=True)
    calls["entity_id"] = calls["entity_id"].astype("string")
    calls["cutoff_time"] = to_utc(calls["cutoff_time"])
    labelled = with_outcomes(ds, "lead", calls, "label", LEAD_HORIZON_DAYS).dropna(subset=["label"])
    assert min(labelled["label"].sum(), (1 - labelled["label"]).sum()) >= 20
    return labelled


def record(row: Any, version: str, p: float, shadow: bool) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "model": MODEL,
        "model_version": version,
        "entity_id": row.entity_id,
        "as_of": row.cutoff_time.isoformat(),
        "inputs": {},
        "probability": p,
        "score": round(100 * p),
        "grade": "A" if p >= 0.5 else "C",
        **({SHADOW: True} if shadow else {}),
    }


def plant(log: Path, calls: pd.DataFrame) -> None:
    """The champion ranks the outcomes right, the challenger at random."""
    rng = np.random.default_rng(3)
    records = []
    for row in calls.itertuples():
        records.append(record(row, "1", 0.3 + 0.4 * row.label + 0.05 * rng.random(), shadow=False))
        records.append(record(row, "2", float(rng.random()), shadow=True))
    PredictionLog(log, Redactor(b"0123456789abcdef0123")).append(records)


@pytest.mark.slow  # a whole flow of promote, export and compare processes: make test runs it
def test_compare_and_promotion_refuse_a_losing_challenger(stores: Stores, tmp_path: Path) -> None:
    calls = labelled_calls(stores.data)
    plant(tmp_path / "log", calls)
    log = ("--log", tmp_path / "log")

    compared = salesml("models", "compare", "--model", MODEL, *log, "--json", env=stores.env)
    assert compared.returncode == 0, compared.stderr
    figures = json.loads(compared.stdout)
    assert figures["pairs"] == figures["labelled"] == len(calls)
    assert figures["realised"]["champion"] == 1.0 and figures["realised"]["challenger"] < 0.7
    assert figures["loses"] and figures["difference_95"][1] < 0, figures
    assert figures["verdict"].startswith("lead_score challenger v2 against champion v1: loses, beyond noise")
    shown = salesml("models", "compare", "--model", MODEL, *log, "--data", stores.data, env=stores.env)
    assert shown.returncode == 0 and "loses, beyond noise" in shown.stdout, shown.stderr

    promote = ("models", "promote", "--model", MODEL, "--version", "2", *log, "--no-export")
    assert_one_line_error(salesml(*promote, env=stores.env), "not promoted:", "loses, beyond noise", "--force")
    forced = salesml(*promote, "--force", env=stores.env)
    assert forced.returncode == 0, forced.stderr
    assert "lead_score champion: v1 -> v2" in forced.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param((), "lead_score has no challenger besides its champion v1", marks=pytest.mark.slow),  # loads it
        (("--since", "someday"), "--since"),
        (("--log", "missing"), "--log: no prediction log folder at"),
    ],
)
def test_compare_refuses_in_one_line(small_crm: Stores, tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    where = ("--log", tmp_path / args[1]) if args[:1] == ("--log",) else ("--log", tmp_path, *args)
    proc = salesml("models", "compare", "--model", MODEL, *where, env=small_crm.env)
    assert_one_line_error(proc, fragment)
