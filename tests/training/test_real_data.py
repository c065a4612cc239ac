"""Training on the real public datasets (skipped when ../shared/data is absent).

x-education: leaky columns excluded, the model must beat what public notebooks report without them (ROC AUC
about 0.88); with ``Tags`` imported the leakage guard must catch it. maven-crm: outcomes are near-random
given its columns, so training must run end to end and the report must not claim skill.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, salesml, train_in_store

pytestmark = [pytest.mark.shared, pytest.mark.slow]
PUBLIC_NOTEBOOKS_AUC = 0.88


def _import(tmp_path: Path, adapter: str, src: Path, *extra: str) -> Path:
    out = tmp_path / adapter
    proc = salesml("data", "import", "--adapter", adapter, "--src", src, "--out", out, *extra)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_x_education_beats_the_public_notebooks(tmp_path: Path, xeducation_csv: Path) -> None:
    data = _import(tmp_path, "x-education", xeducation_csv.parent)
    result = train_in_store(tmp_path / "store", "lead_score", data, trials=10)
    auc = result.report["test"]["metrics"]["roc_auc"]
    print(f"x-education test ROC AUC {auc:.4f}; baselines", result.report["baselines"])
    assert result.report["split"]["kind"] == "stratified"
    assert auc >= PUBLIC_NOTEBOOKS_AUC + 0.01
    assert auc > max(b["roc_auc"] for b in result.report["baselines"].values())
    assert result.report["test"]["grades_ordered"]


def test_x_education_tags_are_caught_by_the_leakage_guard(tmp_path: Path, xeducation_csv: Path) -> None:
    data = _import(tmp_path, "x-education", xeducation_csv.parent, "--keep-post-outcome")
    result = train_in_store(tmp_path / "store", "lead_score", data, trials=2)
    flagged = {f["feature"]: f for f in result.report["leakage_flags"]}
    assert "x_tags" in flagged, sorted(flagged)
    assert not flagged["x_tags"]["allowed"]
    assert "x_tags" not in result.report["features_used"]


def test_maven_trains_end_to_end_and_claims_no_skill(tmp_path: Path, maven_dir: Path) -> None:
    data = _import(tmp_path, "maven-crm", maven_dir)
    result = train_in_store(tmp_path / "store", "close_probability", data, trials=3)
    skill = result.report["test"]["skill"]
    print("maven-crm:", skill["verdict"])
    assert skill["verdict"].startswith(("no demonstrable skill", "weak")), skill
    assert len(result.test_rows) > 100


def test_comparing_at_the_cut_needs_event_times(tmp_path: Path, xeducation_csv: Path) -> None:
    data = _import(tmp_path, "x-education", xeducation_csv.parent)
    proc = salesml("compare-baselines", "--data", data, "--model", "lead_score", "--at-cut")
    assert_one_line_error(proc, "no event times, so no cut to train as of")
