"""Which calls are shadow-scored, which of their items (not those a segment's champion answered), and a challenger
that fails: the calls go on, and it is logged once."""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.privacy import Redactor
from serving.batching import Call
from serving.predlog import PredictionLog
from serving.schemas.scoring import LEAD_EXAMPLE, LeadScoreRequest
from serving.shadow import Shadow, shadow_records, shadowed
from serving.store import Exported


class Broken:
    """A challenger whose scoring fails, as a damaged or incompatible model does."""

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("the challenger broke")


class Echo:
    """A challenger whose probability is the row's ``x``."""

    feature_names = ["x"]
    model_kind = "lightgbm"

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"probability": table["x"].to_numpy(), "score": 50, "grade": "B"})


def test_only_the_items_the_global_champion_answered_are_shadowed() -> None:
    """Two calls of two leads each, both shadowed; the second lead of each went to its segment's champion."""
    lead = LEAD_EXAMPLE["leads"][0]
    request = LeadScoreRequest.model_validate({**LEAD_EXAMPLE, "leads": [lead, {**lead, "lead_id": "L-other"}]})
    calls = [Call(request, {"request_id": f"call-{i}"}) for i in range(2)]
    table = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.4]})
    challenger = Exported(Echo(), {"name": "lead_score", "version": "2"})  # type: ignore[arg-type]
    answered = np.array([True, False, True, False])
    records = shadow_records(challenger, calls, table, [True, True], answered)
    assert [(r["request_id"], r["entity_id"], r["probability"]) for r in records] == [
        ("call-0", lead["lead_id"], 0.1),
        ("call-1", lead["lead_id"], 0.3),
    ]
    every = shadow_records(challenger, calls, table, [False, True])
    assert [r["probability"] for r in every] == [0.3, 0.4]


def test_the_share_is_exact_at_its_ends_and_close_between() -> None:
    ids = [str(uuid.UUID(int=i)) for i in range(20_000)]
    assert all(shadowed(i, 1.0) for i in ids) and not any(shadowed(i, 0.0) for i in ids)
    assert abs(sum(shadowed(i, 0.3) for i in ids) / len(ids) - 0.3) < 0.015
    assert [shadowed(i, 0.3) for i in ids[:50]] == [shadowed(i, 0.3) for i in ids[:50]]


def test_a_failing_challenger_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    log = PredictionLog(tmp_path / "log", Redactor(b"0123456789abcdef0123"))
    request = LeadScoreRequest.model_validate(LEAD_EXAMPLE)
    calls = [Call(request, {"request_id": f"call-{i}"}) for i in range(3)]
    table = pd.DataFrame(index=range(len(request.leads)))
    executor = ThreadPoolExecutor(max_workers=1)
    shadow = Shadow(executor, share=1.0)
    challenger = Exported(Broken(), {"name": "lead_score", "version": "2"})  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="serving.shadow"):
        for call in calls:
            shadow.after(challenger, [call], table, log)
        executor.shutdown(wait=True)
    failures = [r for r in caplog.records if "shadow scoring with lead_score v2 failed" in r.getMessage()]
    assert len(failures) == 1
    assert not list((tmp_path / "log").glob("*.jsonl"))
