"""Forecast drivers on the small simulated CRM with its trained close-probability model: the parts add up to the P50
change, every deal is in one part, the earlier forecast knows only its past, and planted closes land where they
belong."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset
from features.errors import DataError
from features.insights.drivers import DEAL_PARTS, PARTS, Drivers, forecast_drivers, since_time
from features.insights.forecast import model_forecast
from features.pit.frames import dataset_as_of, scoring_frame
from features.scoring.scorer import Scorer
from tests.helpers import Stores

AS_OF = pd.Timestamp("2025-11-20", tz="UTC")
WEEK = pd.Timedelta(days=7)
SIMS = 1000


@pytest.fixture(scope="module")
def ds(small_crm: Stores) -> Dataset:
    return read_dataset(small_crm.data)


@pytest.fixture(scope="module")
def scorer(small_crm: Stores) -> Scorer:
    return small_crm.trained["close_probability"].scorer


def drivers(ds: Dataset, scorer: Scorer, since: pd.Timestamp, at: pd.Timestamp = AS_OF, by: str = "team") -> Drivers:
    return forecast_drivers(ds, scorer, at, since, "month", by, sims=SIMS)


def total_p50(ds: Dataset, scorer: Scorer, at: pd.Timestamp, by: str, periods: int) -> tuple[float, float]:
    """The first period's total P50 and expected value, as ``salesml forecast`` prints them."""
    fc = model_forecast(ds, scorer, at, "month", by, periods, sims=SIMS)
    first = fc.table[fc.table["period"] == fc.windows[0].label]
    return float(np.quantile(fc.samples[:, 0, :].sum(axis=1), 0.5)), float(first["expected"].sum())


@pytest.mark.parametrize(
    ("since", "at", "by"),
    [
        (AS_OF - WEEK, AS_OF, "team"),
        (pd.Timestamp("2025-10-20", tz="UTC"), AS_OF, "all"),  # the earlier forecast in the month before
        (pd.Timestamp("2025-12-01", tz="UTC"), pd.Timestamp("2025-12-24", tz="UTC"), "rep"),
    ],
)
def test_the_parts_add_up_to_the_p50_change_and_every_deal_is_in_one(
    ds: Dataset, scorer: Scorer, since: pd.Timestamp, at: pd.Timestamp, by: str
) -> None:
    d = drivers(ds, scorer, since, at, by)
    assert list(d.parts["part"]) == list(PARTS)
    assert abs(d.parts["change"].sum() - d.change) < 1e-6
    named = d.parts[d.parts["part"].isin(DEAL_PARTS + ("not_yet_created",))]["change"].sum()
    assert abs(named - (d.expected[1] - d.expected[0])) < 1e-6  # the deals explain the expected value exactly
    assert d.deals["opportunity_id"].is_unique and set(d.deals["part"]) <= set(DEAL_PARTS)
    counts = d.deals["part"].value_counts()
    assert [int(counts.get(p, 0)) for p in DEAL_PARTS] == list(d.parts["deals"].iloc[: len(DEAL_PARTS)])
    assert (d.deals.loc[d.deals["part"] == "slipped", "change"] < 0).all()
    assert (d.deals.loc[d.deals["part"] == "pulled_in", "change"] > 0).all()
    assert (d.deals.loc[d.deals["part"] == "lost", "change"] <= 0).all()
    created = d.deals.set_index("opportunity_id").loc[d.deals["opportunity_id"][d.deals["part"] == "created"]]
    assert (created["before"] == 0).all()
    was_open = set(scoring_frame(ds, "opportunity", since)["entity_id"])
    assert set(d.deals.loc[d.deals["part"] != "created", "opportunity_id"]) == was_open
    assert d.p50[1] == pytest.approx(total_p50(ds, scorer, at, by, 3)[0])  # the P50 the forecast table prints


def test_the_earlier_forecast_knows_only_what_was_known_then(ds: Dataset, scorer: Scorer) -> None:
    since = AS_OF - WEEK
    d = drivers(ds, scorer, since)
    p50, expected = total_p50(dataset_as_of(ds, since), scorer, since, "team", 1)
    assert d.p50[0] == pytest.approx(p50) and d.expected[0] == pytest.approx(expected)
    assert d.window.label == "2025-11" and d.p50[0] != d.p50[1]


def test_planted_closes_land_in_won_and_lost_with_their_signs(ds: Dataset, scorer: Scorer) -> None:
    """The two largest deals open all week closed in mid-week, one won and one lost: the earlier forecast is
    unchanged, the won deal now counts its amount, the lost one nothing."""
    since = AS_OF - WEEK
    still_open = set(scoring_frame(ds, "opportunity", since)["entity_id"]) & set(
        scoring_frame(ds, "opportunity", AS_OF)["entity_id"]
    )
    deals = ds.get("opportunities").copy()
    largest = deals[deals["opportunity_id"].isin(still_open)].nlargest(2, "amount")["opportunity_id"].tolist()
    closed = deals["opportunity_id"].isin(largest)
    deals.loc[closed, "closed_at"] = since + pd.Timedelta(days=3)
    deals.loc[closed, "outcome"] = np.where(deals.loc[closed, "opportunity_id"] == largest[0], "won", "lost")
    planted = Dataset(ds.manifest, {**ds.tables, "opportunities": deals})

    original = drivers(ds, scorer, since).deals.set_index("opportunity_id")
    d = drivers(planted, scorer, since)
    rows = d.deals.set_index("opportunity_id")
    won, lost = rows.loc[largest[0]], rows.loc[largest[1]]
    assert won["part"] == "won" and won["after"] == won["amount"] and won["change"] > 0
    assert lost["part"] == "lost" and lost["after"] == 0 and lost["change"] < 0
    assert won["before"] == original.loc[largest[0], "before"] and lost["before"] == original.loc[largest[1], "before"]
    parts = d.parts.set_index("part")
    assert largest[0] in [deal for deal, _ in parts.loc["won", "top"]]
    assert parts.loc["won", "change"] > drivers_part(original, "won")
    assert abs(d.parts["change"].sum() - d.change) < 1e-6


def drivers_part(deals: pd.DataFrame, part: str) -> float:
    return float(deals.loc[deals["part"] == part, "change"].sum())


def test_since_defaults_to_a_week_before_and_must_come_first_within_the_history(ds: Dataset) -> None:
    assert since_time(ds, None, AS_OF) == AS_OF - WEEK
    assert since_time(ds, "2025-11-01", AS_OF) == pd.Timestamp("2025-11-01", tz="UTC")
    with pytest.raises(DataError, match="--since 2025-11-20 00:00 is not before --as-of 2025-11-20 00:00"):
        since_time(ds, "2025-11-20", AS_OF)
    with pytest.raises(DataError, match="--since 2020-01-01 00:00 is before the export's first lead or deal"):
        since_time(ds, "2020-01-01", AS_OF)
    with pytest.raises(DataError, match="--since 'last week': not a time"):
        since_time(ds, "last week", AS_OF)
