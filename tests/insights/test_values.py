"""Per-value insights: rates by value or band with counts and intervals, small values pooled; the command on a
trained CRM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.insights.values import MIN_CASES, MISSING, POOLED, latest_labelled, value_rates
from tests.helpers import Stores, assert_one_line_error, salesml


def test_small_categories_are_pooled_and_every_case_is_counted_once() -> None:
    rng = np.random.default_rng(0)
    source = pd.Series(rng.choice(["web", "fair", "referral", "rare1", "rare2"], 600, p=[0.5, 0.3, 0.16, 0.02, 0.02]))
    y = (rng.random(600) < np.where(source == "referral", 0.4, 0.1)).astype(int)
    rows = {r.value: r for r in value_rates(source, y, numeric=False)}
    pooled = POOLED.format(n=MIN_CASES)
    assert set(rows) == {"web", "fair", "referral", pooled}
    assert rows[pooled].cases == int(source.isin(["rare1", "rare2"]).sum())
    assert sum(r.cases for r in rows.values()) == 600 and sum(r.positives for r in rows.values()) == y.sum()
    assert rows["referral"].rate > rows["web"].rate  # the planted effect, beyond the intervals
    assert rows["referral"].low > rows["web"].high
    for r in rows.values():
        assert r.low <= r.rate <= r.high and r.rate == r.positives / r.cases


def test_numbers_in_quantile_bands_low_to_high_with_missing_apart() -> None:
    rng = np.random.default_rng(1)
    x = pd.Series(np.where(rng.random(800) < 0.1, np.nan, rng.exponential(3, 800)))
    y = (rng.random(800) < 0.2).astype(int)
    rows = value_rates(x, y, numeric=True)
    assert rows[-1].value == MISSING and rows[-1].cases == int(x.isna().sum())
    lows = [float(r.value.split(" .. ")[0]) for r in rows[:-1]]
    assert len(lows) == 4 and lows == sorted(lows)
    assert rows[0].value.startswith(f"{x.min():.3g} .. ")  # the bands start where the data do


def test_a_flag_or_a_small_count_is_shown_per_value_in_numeric_order() -> None:
    flag = pd.Series([0.0, 1.0] * 100)
    assert [r.value for r in value_rates(flag, np.arange(200) % 3 == 0, numeric=True)] == ["0", "1"]
    meetings = pd.Series([14.0, 1.0, 7.0, 3.0] * 50)
    assert [r.value for r in value_rates(meetings, np.arange(200) % 2, numeric=True)] == ["1", "3", "7", "14"]


def test_each_entity_counts_once_as_last_seen_with_its_label() -> None:
    t = pd.Timestamp("2025-01-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "entity_id": ["a", "a", "a", "b"],
            "cutoff_time": [t, t + pd.Timedelta(days=7), t + pd.Timedelta(days=14), t],
            "label": [0.0, 1.0, np.nan, 0.0],
        }
    )
    latest = latest_labelled(frame, "label")
    assert sorted(latest["entity_id"]) == ["a", "b"]
    assert latest.set_index("entity_id").loc["a", "cutoff_time"] == t + pd.Timedelta(days=7)


@pytest.mark.slow  # a salesml process scoring the small CRM's history
def test_the_command_prints_each_factor_by_value(small_crm: Stores) -> None:
    done = salesml("insights", "--data", small_crm.data, "--model", "lead_score", "--top", "2", "--locale", "en",
                   env=small_crm.env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "lead_score v1: " in done.stdout and "cases with a known outcome" in done.stdout
    assert done.stdout.count("90% interval") == 2
    assert_one_line_error(
        salesml("insights", "--data", small_crm.data, "--model", "leads", env=small_crm.env), "unknown model 'leads'"
    )
