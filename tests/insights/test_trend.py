"""Score trend (``features.insights.trend``) on the session's small CRM with its trained champions: each point is what
the feature code and the scorer give for a one-row frame at that cutoff, the grid stays between creation and as_of
(or the close), the label follows the stated threshold, and ``salesml score`` writes ``p_7d_ago`` and ``trend``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset
from features.errors import NotFound
from features.insights.trend import (
    TREND_DAYS,
    TREND_POINTS,
    entity_trend,
    history_frame,
    trend_labels,
    trend_rule,
    week_ago,
)
from features.pit.build import build_features
from features.pit.frames import dataset_as_of, scoring_frame
from features.scoring.scorer import Scorer
from tests.helpers import Stores, salesml

MODELS = {"lead": "lead_score", "opportunity": "close_probability"}
CLOSES = {"lead": ("converted_at", "disqualified_at"), "opportunity": ("closed_at",)}
WEEK = pd.Timedelta(days=TREND_DAYS)


@pytest.fixture(scope="module")
def ds(small_crm: Stores) -> Dataset:
    return read_dataset(small_crm.data)


def _scorer(small_crm: Stores, entity: str) -> Scorer:
    return small_crm.trained[MODELS[entity]].scorer


def _ids(ds: Dataset, entity: str) -> tuple[str, str, str]:
    """An entity open at the export, one closed, and one created in the export's last week."""
    at = ds.manifest.exported_at
    open_ids = scoring_frame(ds, entity, at)["entity_id"]
    table = ds.get("leads" if entity == "lead" else "opportunities")
    id_col = f"{entity}_id"
    closed = table[table[CLOSES[entity][0]].notna()][id_col].iloc[5]
    young = table[(table["created_at"] > at - WEEK) & (table["created_at"] <= at)][id_col].iloc[0]
    return str(open_ids.iloc[0]), str(closed), str(young)


@pytest.mark.parametrize("entity", list(MODELS))
def test_each_point_is_what_a_one_row_frame_scores(small_crm: Stores, ds: Dataset, entity: str) -> None:
    scorer, at = _scorer(small_crm, entity), ds.manifest.exported_at
    for entity_id in _ids(ds, entity):
        trend = entity_trend(ds, scorer, entity_id, at)
        assert len(trend.points) >= 1
        for point in trend.points.itertuples():
            alone = pd.DataFrame({"entity_id": [entity_id], "cutoff_time": [point.cutoff_time]})
            scored = scorer.predict(build_features(ds, entity, alone)).iloc[0]
            assert point.probability == pytest.approx(scored["probability"], abs=1e-12), (entity_id, point)
            assert (point.score, point.grade) == (scored["score"], scored["grade"])


@pytest.mark.parametrize("entity", list(MODELS))
def test_the_grid_runs_weekly_from_the_last_point_back_to_creation(small_crm: Stores, ds: Dataset, entity: str) -> None:
    scorer, at = _scorer(small_crm, entity), ds.manifest.exported_at
    open_id, closed_id, young_id = _ids(ds, entity)
    table = ds.get("leads" if entity == "lead" else "opportunities").set_index(f"{entity}_id")
    for entity_id in (open_id, closed_id, young_id):
        trend = entity_trend(ds, scorer, entity_id, at)
        cutoffs = trend.points["cutoff_time"]
        created = table.loc[entity_id, "created_at"]
        assert cutoffs.iloc[0] == created and cutoffs.is_monotonic_increasing and cutoffs.is_unique
        steps = cutoffs.diff().iloc[2:]
        assert (steps == WEEK).all(), steps  # the first step (from creation) may be shorter
        assert trend.created_at == created
    open_trend = entity_trend(ds, scorer, open_id, at)
    assert open_trend.points["cutoff_time"].iloc[-1] == at and open_trend.closed_at is None
    closed = entity_trend(ds, scorer, closed_id, at)
    close = min(table.loc[closed_id, c] for c in CLOSES[entity] if pd.notna(table.loc[closed_id, c]))
    assert closed.closed_at == close
    assert closed.points["cutoff_time"].iloc[-1] == close - pd.Timedelta(seconds=1)
    young = entity_trend(ds, scorer, young_id, at)
    assert np.isnan(young.p_7d_ago) and young.label is None
    assert young.points["cutoff_time"].tolist() == [table.loc[young_id, "created_at"], at]


@pytest.mark.parametrize("entity", list(MODELS))
def test_nothing_after_as_of_changes_the_history(small_crm: Stores, ds: Dataset, entity: str) -> None:
    scorer = _scorer(small_crm, entity)
    at = ds.manifest.exported_at - pd.Timedelta(days=60)
    entity_id = str(scoring_frame(ds, entity, at)["entity_id"].iloc[-1])
    whole = entity_trend(ds, scorer, entity_id, at)
    as_known = entity_trend(dataset_as_of(ds, at), scorer, entity_id, at)
    assert whole.points["cutoff_time"].max() == at and whole.closed_at is None
    pd.testing.assert_frame_equal(whole.points, as_known.points)


@pytest.mark.parametrize("entity", list(MODELS))
def test_the_week_ago_probability_of_batch_scoring_is_the_historys(small_crm: Stores, ds: Dataset, entity: str) -> None:
    scorer, at = _scorer(small_crm, entity), ds.manifest.exported_at
    frame = scoring_frame(ds, entity, at)
    before = week_ago(ds, scorer, frame)
    assert np.isnan(before).any() and not np.isnan(before).all()
    for i in (*np.flatnonzero(np.isnan(before))[:2], *np.flatnonzero(~np.isnan(before))[:3]):
        expected = entity_trend(ds, scorer, str(frame["entity_id"].iloc[i]), at).p_7d_ago
        assert before[i] == pytest.approx(expected, abs=1e-12, nan_ok=True)


def test_the_label_is_cut_at_the_stated_threshold() -> None:
    points = TREND_POINTS / 100
    now = np.array([0.30, 0.30, 0.30, 0.30, 0.30, 0.30])
    before = np.array([0.30 - points, 0.30 - points + 0.001, 0.30, 0.30 + points - 0.001, 0.30 + points, np.nan])
    assert trend_labels(now, before) == ["improving", "stable", "stable", "stable", "declining", None]
    assert f"{TREND_POINTS:g}" in trend_rule("en") and f"{TREND_POINTS:g}" in trend_rule("zh-CN")
    assert str(TREND_DAYS) in trend_rule("en") and str(TREND_DAYS) in trend_rule("zh-CN")


def test_an_id_not_in_the_history_by_as_of_is_not_found(ds: Dataset) -> None:
    with pytest.raises(NotFound, match="no lead 'nope'"):
        history_frame(ds, "lead", ["nope"], ds.manifest.exported_at)
    deals = ds.get("opportunities")
    late = deals.loc[deals["created_at"].idxmax()]
    with pytest.raises(NotFound, match=late["opportunity_id"]):
        history_frame(ds, "opportunity", [late["opportunity_id"]], late["created_at"] - pd.Timedelta(seconds=1))


@pytest.mark.slow  # a salesml process scoring every open lead and deal
def test_salesml_score_writes_the_week_ago_probability_and_the_trend(small_crm: Stores, tmp_path: Path) -> None:
    out = tmp_path / "scores.csv"
    done = salesml("score", "--model", "close_probability", "--data", small_crm.data, "--out", out, "--locale", "en",
                   env=small_crm.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"up {TREND_POINTS:g} probability points" in done.stdout
    scores = pd.read_csv(out, dtype={"entity_id": "string"})
    assert {"p_7d_ago", "trend"} <= set(scores.columns)
    ds = read_dataset(small_crm.data)
    created = ds.get("opportunities").set_index("opportunity_id")["created_at"].reindex(scores["entity_id"])
    young = (created > ds.manifest.exported_at - WEEK).to_numpy()
    assert young.any() and (~young).any()
    assert scores["p_7d_ago"][young].isna().all() and scores["trend"][young].isna().all()
    assert scores["p_7d_ago"][~young].notna().all()
    labels = trend_labels(scores["probability"].to_numpy(), scores["p_7d_ago"].to_numpy())
    assert [None if pd.isna(label) else label for label in scores["trend"]] == labels
