"""The forecasting core: point-in-time safety, the close-probability curve, the Monte Carlo and the target board.

A small simulated CRM (one year, a few hundred deals) gives realistic pipelines and targets; hand-made tiny
datasets give known answers (already won, deals not yet created, the early-warning rule). Deal probabilities
for ``forecast`` are drawn from a seeded generator and made consistent by the scorer's own ``consistent_windows``;
``model_forecast`` runs with a tiny real LightGBM scorer trained in a fixture (seconds, no MLflow).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from features.crm.dataset import Dataset, Manifest, conform, read_dataset
from features.crm.schema import TABLES
from features.errors import DataError
from features.insights.forecast import (
    GROUP_BYS,
    NO_GROUP,
    Forecast,
    deal_groups,
    forecast,
    model_forecast,
    period_probabilities,
    periods_from,
    simulate_pipeline,
    won_within,
)
from features.insights.rate_swings import close_rate_swings
from features.insights.targets import attainment, color
from features.pit.build import build_features
from features.pit.catalog import feature_catalog
from features.pit.frames import dataset_as_of, entity_frame, label_known_at, scoring_frame
from features.scoring.inputs import InputFeature, encode_matrix
from features.scoring.scorer import Calibrator, Head, Scorer, consistent_windows, reference_quantiles
from features.synth import synthesize
from tests import strategies as s
from tests.strategies import dataset

AS_OF = pd.Timestamp("2024-09-16", tz="UTC")  # mid-month, with three months of the export after it
HEADS = (30, 60, 90)
#: Not events: a plan entered at creation, and the reference tables kept whole (a deal may belong to a later hire).
PLANNED = {("opportunities", "expected_close_at"), ("reps", "hired_at"), ("accounts", "created_at")}
PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("forecast") / "crm"
    synthesize(out, leads=3000, seed=23, start="2024-01-01", end="2024-12-31")
    return read_dataset(out)


@pytest.fixture(scope="module")
def scorer(crm: Dataset) -> Scorer:
    """A real close-probability scorer, small and quick: a dozen numeric features, 30 trees per head, trained on
    the default weekly deal snapshots (the heads are what the forecast reads)."""
    table = build_features(crm, "opportunity", entity_frame(crm, "opportunity"))
    numeric = [f for f in feature_catalog(crm.manifest, "opportunity") if f.kind == "numeric"]
    inputs = [InputFeature.of(f) for f in numeric[:12]]
    x, _ = encode_matrix(inputs, table)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "deterministic": True, "seed": 0}

    def fit(label: str) -> lgb.Booster:
        y = table[label].to_numpy(dtype=float)
        known = ~np.isnan(y)
        return lgb.train(params, lgb.Dataset(x[known], y[known]), num_boost_round=30)

    calibrator = Calibrator("sigmoid")  # a = 1, b = 0: the booster's own probability
    heads = [Head(d, fit(f"label_{d}d"), calibrator) for d in HEADS]
    main = fit("label")
    reference = reference_quantiles(calibrator(main.predict(x, raw_score=True)))
    return Scorer(
        "close_probability", "opportunity", inputs, main, calibrator, reference, {"A": 85, "B": 60}, heads=heads
    )


def scores(n: int, seed: int = 0) -> pd.DataFrame:
    """Scores shaped like ``Scorer.predict``'s for a deal model: ``probability`` and consistent ``p_{N}d``."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 0.9, n)
    windows = consistent_windows(p, {d: rng.uniform(0.0, 1.0, n) for d in HEADS})
    return pd.DataFrame({"probability": p, **{f"p_{d}d": w for d, w in windows.items()}})


def heads_of(table: pd.DataFrame) -> dict[int, np.ndarray]:
    return {d: table[f"p_{d}d"].to_numpy() for d in HEADS}


def open_forecast(
    ds: Dataset,
    at: pd.Timestamp,
    deal_ids: pd.Series,
    by: str = "team",
    period: str = "month",
    count: int = 3,
    sims: int = 1000,
    seed: int = 0,
) -> Forecast:
    """The forecast of ``deal_ids`` (open at ``at``) with seeded scores, cut into the periods."""
    windows = periods_from(at, period, count)
    q = period_probabilities(scores(len(deal_ids)), at, windows)
    return forecast(ds, at, windows, by, deal_ids, q, period=period, sims=sims, seed=seed)


def open_ids(ds: Dataset, at: pd.Timestamp) -> pd.Series:
    return scoring_frame(ds, "opportunity", at)["entity_id"]


def assert_same_forecast(a: Forecast, b: Forecast) -> None:
    assert a.groups == b.groups
    pd.testing.assert_frame_equal(a.table, b.table)
    np.testing.assert_array_equal(a.samples, b.samples)


def with_deals(ds: Dataset, *rows: dict) -> Dataset:
    """``ds`` with deals appended (typed by ``conform`` like an import)."""
    deals = pd.concat([ds.get("opportunities"), pd.DataFrame(list(rows))], ignore_index=True)
    extras = ds.manifest.extras("opportunities")
    return Dataset(ds.manifest, {**ds.tables, "opportunities": conform("opportunities", deals, extras)})


def hired_before_their_deals(ds: Dataset) -> Dataset:
    """``ds`` with every rep hired by the creation of the first deal they own: a deal handed to a later hire is
    the known gap of ``test_a_deal_handed_to_a_later_hire_keeps_its_group_as_of_the_time``."""
    reps = ds.get("reps").copy()
    first = ds.get("opportunities").groupby("owner_rep_id")["created_at"].min()
    owns_from = pd.Series(first.reindex(reps["rep_id"]).to_numpy(), index=reps.index, dtype=reps["hired_at"].dtype)
    later = (reps["hired_at"] > owns_from).to_numpy(dtype=bool)
    reps.loc[later, "hired_at"] = owns_from[later]
    return Dataset(ds.manifest, {**ds.tables, "reps": reps})


def make(tables: dict[str, list[dict]], exported: str = "2025-12-31") -> Dataset:
    return dataset(Manifest(source="test", exported_at=pd.Timestamp(exported, tz="UTC")), tables)


# --- point in time ---------------------------------------------------------------------------------------------


def test_dataset_as_of_keeps_nothing_known_after_the_time(crm: Dataset) -> None:
    past = dataset_as_of(crm, AS_OF)
    assert past.manifest.exported_at == AS_OF
    assert past.manifest.counts == {name: len(t) for name, t in past.tables.items()}
    for name, table in past.tables.items():
        for column in (c.name for c in TABLES[name].columns if c.kind == "time"):
            if column in table.columns and (name, column) not in PLANNED:
                later = table[column].notna() & (table[column] > AS_OF)
                assert not later.any(), f"{name}.{column}: {int(later.sum())} value(s) after {AS_OF}"
    acts = past.get("activities")
    assert (acts["recorded_at"].fillna(acts["occurred_at"]) <= AS_OF).all()
    deals = past.get("opportunities")
    assert deals["outcome"].isna().equals(deals["closed_at"].isna()), "an outcome without a close by the time"


@pytest.mark.parametrize("days", [None, 30])
def test_label_times_stay_utc_with_no_rows(crm: Dataset, days: int | None) -> None:
    """A backtest origin before any deal closed has no labelled rows: the empty times still compare with a UTC
    time (the origin is skipped with a reason, not a crash)."""
    frame = scoring_frame(crm, "opportunity", AS_OF).iloc[:0]
    known = label_known_at(crm, "opportunity", frame, days)
    assert str(known.dtype) == "datetime64[ns, UTC]"
    assert not (known <= AS_OF).any()


def test_dataset_as_of_keeps_everything_known_by_the_time_and_reopens_later_closes(crm: Dataset) -> None:
    before = {name: t.copy() for name, t in crm.tables.items()}
    past = dataset_as_of(crm, AS_OF)
    for name, table in crm.tables.items():  # the full export is not touched
        pd.testing.assert_frame_equal(table, before[name])
    deals, old = past.get("opportunities").set_index("opportunity_id"), crm.get("opportunities")
    assert set(deals.index) == set(old.loc[old["created_at"] <= AS_OF, "opportunity_id"])
    old = old.set_index("opportunity_id").loc[deals.index]
    closed_by = old["closed_at"].notna() & (old["closed_at"] <= AS_OF)
    assert closed_by.any() and (~closed_by & old["closed_at"].notna()).any(), "the fixture closes on both sides"
    pd.testing.assert_series_equal(deals.loc[closed_by, "outcome"], old.loc[closed_by, "outcome"])
    assert deals.loc[~closed_by, ["closed_at", "outcome"]].isna().all().all()
    acts = crm.get("activities")
    known = acts["recorded_at"].fillna(acts["occurred_at"]).clip(lower=acts["occurred_at"])
    assert len(past.get("activities")) == int((known <= AS_OF).sum())
    changes = crm.get("stage_changes")
    assert len(past.get("stage_changes")) == int((changes["changed_at"] <= AS_OF).sum())
    pd.testing.assert_frame_equal(past.get("targets"), crm.get("targets"))


def test_forecast_as_of_a_time_ignores_everything_after_it(crm: Dataset) -> None:
    past = dataset_as_of(crm, AS_OF)
    ids = open_ids(crm, AS_OF)
    assert ids.tolist() == open_ids(past, AS_OF).tolist()
    full = open_forecast(crm, AS_OF, ids)
    assert_same_forecast(full, open_forecast(past, AS_OF, ids))
    table = full.table
    assert table["won_to_date"].sum() > 0 and table["new_deals"].sum() > 0 and table["pipeline"].sum() > 0


def test_a_fake_win_after_the_time_changes_nothing_but_one_before_it_does(crm: Dataset) -> None:
    ids = open_ids(crm, AS_OF)
    base = open_forecast(crm, AS_OF, ids, by="product")  # a leaked fake would also add its own group
    rep = crm.get("opportunities")["owner_rep_id"].dropna().iloc[0]
    fake = {"owner_rep_id": rep, "product": "fake", "amount": 1e7, "outcome": "won"}
    after = with_deals(
        crm,
        {**fake, "opportunity_id": "FAKE1", "created_at": AS_OF - 10 * DAY, "closed_at": AS_OF + DAY},
        {**fake, "opportunity_id": "FAKE2", "created_at": AS_OF + DAY, "closed_at": AS_OF + 2 * DAY},
    )
    assert_same_forecast(base, open_forecast(after, AS_OF, ids, by="product"))
    before = with_deals(crm, {**fake, "opportunity_id": "FAKE3", "created_at": AS_OF - 10 * DAY, "closed_at": AS_OF})
    moved = open_forecast(before, AS_OF, ids, by="product").table.set_index(["period", "group"])["won_to_date"]
    assert moved[(base.windows[0].label, "fake")] == 1e7


@PROPERTY
@given(data=st.data(), by=st.sampled_from(GROUP_BYS), period=st.sampled_from(["week", "month"]))
def test_forecast_is_unchanged_by_any_change_after_the_time(data: st.DataObject, by: str, period: str) -> None:
    ds = hired_before_their_deals(data.draw(s.datasets()))
    at = s.at(data.draw(st.integers(0, s.LAST)))
    assume(by not in ("team", "region") or dataset_as_of(ds, at).has("reps"))  # no rep hired yet: nothing to group by
    after = data.draw(s.changes_after(ds, at))
    ids = open_ids(ds, at)
    expected = open_forecast(ds, at, ids, by=by, period=period, sims=200)
    assert_same_forecast(expected, open_forecast(after, at, ids, by=by, period=period, sims=200))
    assert_same_forecast(expected, open_forecast(dataset_as_of(ds, at), at, ids, by=by, period=period, sims=200))


def test_a_deal_handed_to_a_later_hire_keeps_its_group_as_of_the_time() -> None:
    reps = [{"rep_id": "R1", "team": "t1", "hired_at": AS_OF - 400 * DAY}, {"rep_id": "R2", "team": "t2"}]
    reps[1]["hired_at"] = AS_OF + 30 * DAY  # took over O2 after the time; the export shows the current owner
    deals = [
        {"opportunity_id": "O1", "owner_rep_id": "R1", "created_at": AS_OF - 9 * DAY, "amount": 10.0},
        {"opportunity_id": "O2", "owner_rep_id": "R2", "created_at": AS_OF - 8 * DAY, "amount": 20.0},
    ]
    ds = make({"reps": reps, "opportunities": deals})
    ids = open_ids(ds, AS_OF)
    assert_same_forecast(open_forecast(ds, AS_OF, ids), open_forecast(dataset_as_of(ds, AS_OF), AS_OF, ids))


def test_the_model_forecast_as_of_a_time_ignores_everything_after_it(crm: Dataset, scorer: Scorer) -> None:
    full = model_forecast(crm, scorer, AS_OF, "month", "team", 3, sims=500, seed=2)
    assert_same_forecast(
        full, model_forecast(dataset_as_of(crm, AS_OF), scorer, AS_OF, "month", "team", 3, sims=500, seed=2)
    )
    assert full.table.groupby("period")["open_deals"].sum().eq(len(open_ids(crm, AS_OF))).all()
    assert full.table["pipeline"].sum() > 0


def test_the_model_forecast_needs_the_close_probability_model(crm: Dataset, scorer: Scorer) -> None:
    with pytest.raises(DataError, match="forecasts need the close-probability model, not 'lead_score'"):
        model_forecast(crm, replace(scorer, model_name="lead_score", entity="lead"), AS_OF, "month", "team", 1)


def test_the_model_forecast_before_any_deal_is_empty(crm: Dataset, scorer: Scorer) -> None:
    at = crm.get("opportunities")["created_at"].min() - DAY
    fc = model_forecast(crm, scorer, at, "month", "team", 2, sims=100)
    assert len(fc.table) > 0  # the teams with targets still get rows
    assert (fc.table[["won_to_date", "pipeline", "new_deals", "p90", "open_deals"]] == 0).all().all()


# --- the close-probability curve -------------------------------------------------------------------------------


UNIT = st.floats(0.0, 1.0)


@PROPERTY
@given(
    deals=st.lists(st.tuples(UNIT, UNIT, UNIT, UNIT), min_size=1, max_size=8),
    days=st.lists(st.floats(0.0, 3000.0), min_size=1, max_size=30),
)
def test_won_within_is_a_cumulative_curve_through_the_windows_towards_p_win(
    deals: list[tuple[float, float, float, float]], days: list[float]
) -> None:
    raw = np.array(deals)
    p = raw[:, 0]
    windows = consistent_windows(p, {d: raw[:, i + 1] for i, d in enumerate(HEADS)})
    grid = np.sort(np.array([*days, 0.0, *HEADS, 100 * 365.0]))
    curve = won_within(p, windows, grid)
    assert curve.shape == (len(p), len(grid))
    assert (np.diff(curve, axis=1) >= -1e-12).all(), "not monotone in days"
    assert (curve[:, grid == 0.0] == 0.0).all()
    for d in HEADS:
        np.testing.assert_allclose(curve[:, grid == d], np.repeat(windows[d][:, None], (grid == d).sum(), 1))
    assert (curve <= p[:, None] + 1e-12).all(), "more than p_win"
    np.testing.assert_allclose(curve[:, -1], p, atol=1e-9)


def test_won_within_continues_the_last_windows_slope_and_reaches_p_win_even_when_flat() -> None:
    p = np.array([0.8, 0.5])
    windows = {30: np.array([0.2, 0.1]), 60: np.array([0.35, 0.1]), 90: np.array([0.5, 0.1])}
    h = 1e-4
    curve = won_within(p, windows, np.array([90.0, 90.0 + h, 200.0, 5000.0]))
    assert (curve[0, 1] - curve[0, 0]) / h == pytest.approx(0.15 / 30, rel=1e-3)  # 60 -> 90 days: 0.005 a day
    assert 0.1 < curve[1, 2] < 0.5  # flat windows: still rising (slowest rate) ...
    assert curve[1, 3] == pytest.approx(0.5, abs=1e-4)  # ... towards p_win


def test_won_within_needs_window_heads() -> None:
    with pytest.raises(DataError, match="no time-window heads"):
        won_within(np.array([0.5]), {}, np.array([30.0]))


@PROPERTY
@given(
    at=st.datetimes(pd.Timestamp("2020-01-01").to_pydatetime(), pd.Timestamp("2030-12-31").to_pydatetime()),
    period=st.sampled_from(["week", "month", "quarter"]),
    count=st.integers(1, 8),
    seed=st.integers(0, 2**16),
)
def test_period_probabilities_split_the_curve_over_consecutive_periods(
    at: object, period: str, count: int, seed: int
) -> None:
    as_of = pd.Timestamp(at, tz="UTC")
    windows = periods_from(as_of, period, count)
    table = scores(12, seed)
    q = period_probabilities(table, as_of, windows)
    p = table["probability"].to_numpy()
    assert q.shape == (12, count) and (q >= 0).all()
    assert (q.sum(axis=1) <= p + 1e-12).all()
    ends = np.array([(w.end - as_of) / DAY for w in windows])
    np.testing.assert_allclose(np.cumsum(q, axis=1), won_within(p, heads_of(table), ends), atol=1e-12)


# --- periods and groups ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "labels", "first_start"),
    [
        ("month", ["2025-02", "2025-03", "2025-04"], "2025-02-01"),
        ("week", ["2025-02-10", "2025-02-17", "2025-02-24"], "2025-02-10"),  # 2025-02-14 is a Friday
        ("quarter", ["2025Q1", "2025Q2", "2025Q3"], "2025-01-01"),
    ],
)
def test_periods_from_labels_and_bounds(period: str, labels: list[str], first_start: str) -> None:
    windows = periods_from(pd.Timestamp("2025-02-14 10:30"), period, 3)  # naive: taken as UTC
    assert [w.label for w in windows] == labels
    assert windows[0].start == pd.Timestamp(first_start, tz="UTC")
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))


def test_periods_from_reads_the_time_in_utc_and_spans_years() -> None:
    assert periods_from(pd.Timestamp("2025-03-01 01:00+08:00"), "month", 1)[0].label == "2025-02"
    assert [w.label for w in periods_from(pd.Timestamp("2024-12-20", tz="UTC"), "month", 2)] == ["2024-12", "2025-01"]
    assert periods_from(pd.Timestamp("2025-02-09 23:59", tz="UTC"), "week", 1)[0].label == "2025-02-03"
    assert periods_from(pd.Timestamp("2025-02-10", tz="UTC"), "week", 1)[0].label == "2025-02-10"


@PROPERTY
@given(
    at=st.datetimes(pd.Timestamp("2000-01-01").to_pydatetime(), pd.Timestamp("2040-12-31").to_pydatetime()),
    period=st.sampled_from(["week", "month", "quarter"]),
    count=st.integers(1, 6),
)
def test_the_first_period_holds_the_time_and_periods_are_contiguous(at: object, period: str, count: int) -> None:
    as_of = pd.Timestamp(at, tz="UTC")
    windows = periods_from(as_of, period, count)
    assert len(windows) == count
    assert windows[0].start <= as_of < windows[0].end
    assert all(a.end == b.start for a, b in zip(windows, windows[1:], strict=False))
    assert all(w.start == w.start.normalize() and w.start.tz is not None for w in windows)
    if period == "week":
        assert all(w.start.day_of_week == 0 and w.label == f"{w.start:%Y-%m-%d}" for w in windows)


@pytest.mark.parametrize(("period", "count", "message"), [("year", 3, "unknown period"), ("month", 0, "at least 1")])
def test_periods_from_refuses_unknown_periods_and_no_periods(period: str, count: int, message: str) -> None:
    with pytest.raises(DataError, match=message):
        periods_from(AS_OF, period, count)


REPS = [
    {"rep_id": "R1", "team": "t1", "region": "north"},
    {"rep_id": "R2", "team": "t2", "region": "south"},
]
GROUP_DEALS = [
    {"opportunity_id": "O1", "owner_rep_id": "R1", "product": "P1"},
    {"opportunity_id": "O2", "owner_rep_id": "R2", "product": "P2"},
    {"opportunity_id": "O3", "owner_rep_id": "R9", "product": None},  # a rep the reps table does not know
    {"opportunity_id": "O4", "owner_rep_id": None, "product": "P1"},
]


@pytest.mark.parametrize(
    ("by", "keys"),
    [
        ("rep", ["R1", "R2", "R9", NO_GROUP]),
        ("team", ["t1", "t2", NO_GROUP, NO_GROUP]),
        ("region", ["north", "south", NO_GROUP, NO_GROUP]),
        ("product", ["P1", "P2", NO_GROUP, "P1"]),
        ("all", ["all"] * 4),
    ],
)
def test_deal_groups(by: str, keys: list[str]) -> None:
    deals = [{**d, "created_at": AS_OF} for d in GROUP_DEALS]
    ds = make({"reps": REPS, "opportunities": deals})
    subset = ds.get("opportunities").iloc[[3, 2, 1, 0]]  # the deals' own index is kept
    got = deal_groups(ds, subset, by)
    assert got.index.tolist() == [3, 2, 1, 0]
    assert got.tolist() == keys[::-1]


def test_deal_groups_refuses_unknown_groupings_and_missing_rep_attributes() -> None:
    ds = make({"reps": [{"rep_id": "R1"}], "opportunities": [{**GROUP_DEALS[0], "created_at": AS_OF}]})
    with pytest.raises(DataError, match="unknown grouping 'country'"):
        deal_groups(ds, ds.get("opportunities"), "country")
    with pytest.raises(DataError, match="no 'team' values"):
        deal_groups(ds, ds.get("opportunities"), "team")


def test_deal_groups_without_an_owner_column_puts_every_deal_in_no_group() -> None:
    deals = [{"opportunity_id": f"O{i}", "created_at": AS_OF, "product": "P1"} for i in range(3)]
    ds = make({"reps": REPS, "opportunities": deals})
    got = deal_groups(ds, ds.get("opportunities"), "team")
    assert got.notna().all() and got.tolist() == [NO_GROUP] * 3, got.tolist()


# --- the Monte Carlo ---------------------------------------------------------------------------------------------


def test_the_same_seed_gives_the_same_samples_and_another_seed_others(crm: Dataset) -> None:
    ids = open_ids(crm, AS_OF)
    first = open_forecast(crm, AS_OF, ids, seed=5)
    assert_same_forecast(first, open_forecast(crm, AS_OF, ids, seed=5))
    other = open_forecast(crm, AS_OF, ids, seed=6)
    assert not np.array_equal(first.samples, other.samples)
    pd.testing.assert_series_equal(first.table["expected"], other.table["expected"])  # exact, not simulated


def test_simulated_totals_average_to_the_exact_expectation(crm: Dataset) -> None:
    sims = 20_000
    fc = open_forecast(crm, AS_OF, open_ids(crm, AS_OF), by="region", sims=sims, seed=3)
    mean = fc.samples.mean(axis=0)
    se = fc.samples.std(axis=0, ddof=1) / np.sqrt(sims)
    expected = fc.table.pivot(index="period", columns="group", values="expected")
    expected = expected.loc[[w.label for w in fc.windows], fc.groups].to_numpy()
    assert (se > 0).sum() >= len(fc.groups), "too few random cells to test"
    assert (np.abs(mean - expected) <= 4.5 * se + 1e-9 * np.maximum(expected, 1.0)).all(), (mean - expected) / se
    assert (fc.table["p10"] <= fc.table["p50"]).all() and (fc.table["p50"] <= fc.table["p90"]).all()


def test_pipeline_and_won_to_date_match_a_direct_count(crm: Dataset) -> None:
    ids = open_ids(crm, AS_OF)
    windows = periods_from(AS_OF, "month", 3)
    q = period_probabilities(scores(len(ids)), AS_OF, windows)
    fc = forecast(crm, AS_OF, windows, "rep", ids, q, sims=10)
    deals = crm.get("opportunities").set_index("opportunity_id")
    amount = deals.loc[ids, "amount"].fillna(0.0).to_numpy()
    owner = deals.loc[ids, "owner_rep_id"].fillna(NO_GROUP).to_numpy()
    won = deals[(deals["outcome"] == "won") & (deals["closed_at"] <= AS_OF)]
    won = won[won["closed_at"] >= windows[0].start]
    won_in_first = won["amount"].groupby(won["owner_rep_id"].fillna(NO_GROUP)).sum()
    cells = fc.table.set_index(["period", "group"])
    for k, w in enumerate(windows):
        pipeline = pd.Series(amount * q[:, k]).groupby(owner).sum()
        got = cells.loc[w.label]["pipeline"]
        np.testing.assert_allclose(got.reindex(pipeline.index), pipeline.to_numpy(), rtol=1e-12)
        assert got.drop(pipeline.index).eq(0).all()
        to_date = won_in_first if k == 0 else won_in_first.iloc[:0]
        np.testing.assert_allclose(cells.loc[w.label]["won_to_date"].reindex(to_date.index), to_date.to_numpy())
        assert cells.loc[w.label]["won_to_date"].sum() == pytest.approx(to_date.sum())
    assert won_in_first.sum() > 0


def test_each_open_deal_is_won_in_at_most_one_period() -> None:
    ds = make({"opportunities": [{"opportunity_id": "O1", "created_at": AS_OF - DAY, "amount": 100.0}]})
    windows = periods_from(AS_OF, "month", 3)
    q = np.array([[0.2, 0.3, 0.1]])
    sims = 20_000
    fc = forecast(ds, AS_OF, windows, "all", pd.Series(["O1"]), q, sims=sims, seed=1)
    totals = fc.samples[:, :, 0]
    assert set(np.unique(totals)) <= {0.0, 100.0}
    assert ((totals > 0).sum(axis=1) <= 1).all()
    share = (totals > 0).mean(axis=0)
    assert np.abs(share - q[0]).max() <= 4.5 * np.sqrt(q[0] * (1 - q[0]) / sims).max()


def test_deals_not_yet_created_come_from_past_analog_windows() -> None:
    """A deal created every day at noon and won a day later, amount 10: as of 2024-06-15 00:00, the deals created
    after it and won in June are those won June 16-30 (15), in July all 31; those won June 1-14 are won to date."""
    first = pd.Timestamp("2023-06-01 12:00", tz="UTC")
    deals = [
        {
            "opportunity_id": f"O{i}",
            "owner_rep_id": "R1",
            "amount": 10.0,
            "created_at": first + i * DAY,
            "closed_at": first + (i + 1) * DAY,
            "outcome": "won",
        }
        for i in range(500)
    ]
    ds = make({"reps": REPS, "opportunities": deals})
    at = pd.Timestamp("2024-06-15", tz="UTC")
    fc = forecast(ds, at, periods_from(at, "month", 2), "rep", pd.Series([], dtype="string"), np.zeros((0, 2)))
    table = fc.table.set_index("period")
    assert fc.groups == ["R1"]
    assert table["new_deals"].tolist() == [150.0, 310.0]
    assert table["won_to_date"].tolist() == [140.0, 0.0]
    assert table["pipeline"].tolist() == [0.0, 0.0]
    assert table["expected"].tolist() == [290.0, 310.0]


def _daily_deals(won: Callable[[pd.Timestamp], bool]) -> pd.DataFrame:
    """Ten deals created every day of 2024, each closed ten days later, won where ``won(closed)`` says."""
    created = pd.date_range("2024-01-01", "2024-12-31", freq="D", tz="UTC").repeat(10)
    closed = created + 10 * DAY
    outcome = ["won" if won(c) and i % 2 == 0 else "lost" for i, c in enumerate(closed)]
    return pd.DataFrame({"created_at": created, "closed_at": closed, "outcome": outcome})


def test_a_steady_close_rate_swings_by_nothing_and_a_swinging_one_by_much() -> None:
    at = pd.Timestamp("2025-01-01", tz="UTC")
    windows = periods_from(at, "month", 2)
    assert close_rate_swings(_daily_deals(lambda c: True), at, windows).tolist() == [0.0, 0.0]
    swinging = close_rate_swings(_daily_deals(lambda c: c.quarter % 2 == 0), at, windows)
    assert (swinging > 0.3).all()  # half the quarters win nothing: the rate's relative sd is near 1
    assert close_rate_swings(_daily_deals(lambda c: True).drop(columns="outcome"), at, windows).tolist() == [0.0, 0.0]


def test_a_moving_win_rate_widens_the_interval_and_keeps_the_mean() -> None:
    q = np.full((400, 1), 0.1)
    amount, g = np.ones(400), np.zeros(400, dtype=int)
    steady = simulate_pipeline(np.random.default_rng(0), amount, g, 1, q, np.array([0.0]), 8000)[:, 0, 0]
    moving = simulate_pipeline(np.random.default_rng(0), amount, g, 1, q, np.array([0.25]), 8000)[:, 0, 0]
    assert steady.mean() == pytest.approx(40.0, rel=0.02)
    assert moving.mean() == pytest.approx(40.0, rel=0.03)
    width = [np.subtract(*np.quantile(x, [0.9, 0.1])) for x in (steady, moving)]
    assert width[1] > 1.8 * width[0]  # sd 6 from chance alone, 21 with a rate of relative sd 0.5


# --- the target board ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["rep", "team", "region"])
def test_target_chances_are_ordered_and_colors_follow_the_median(crm: Dataset, by: str) -> None:
    fc = open_forecast(crm, AS_OF, open_ids(crm, AS_OF), by=by, sims=2000)
    board = attainment(crm, fc)
    targets = crm.get("targets")
    assert len(board) == int((targets["level"].eq(by) & targets["period"].isin(fc.table["period"])).sum()) > 0
    assert (board["p_red"] >= board["p_yellow"]).all() and (board["p_yellow"] >= board["p_green"]).all()
    for row in board.itertuples(index=False):
        sims = fc.cell_samples(row.period, row.key)
        assert row.p_yellow == (sims >= row.yellow).mean()
        assert row.p50 == np.quantile(sims, 0.5)
        assert row.color == ("green" if row.p50 >= row.green else "yellow" if row.p50 >= row.yellow else "red")
    assert board["color"].nunique() > 1, "the fixture should put groups on more than one color"


@pytest.mark.parametrize(
    ("p50", "expected"),
    [(110.0, "green"), (150.0, "green"), (109.99, "yellow"), (100.0, "yellow"), (99.99, "red"), (85.0, "red")],
)
def test_color_boundaries(p50: float, expected: str) -> None:
    assert color(p50, {"red": 85.0, "yellow": 100.0, "green": 110.0}) == expected


def board_for(as_of: str, wins: list[tuple[str, str, float]]) -> pd.DataFrame:
    """The rep board as of ``as_of`` with monthly targets (yellow 1000) for March and April 2025, the wins
    ``(rep, closed_at, amount)`` and nothing open."""
    reps = [{"rep_id": r, "team": "t1", "region": "north"} for r in ("R1", "R2", "R3", "R4")]
    targets = [
        {"period": p, "level": "rep", "key": r["rep_id"], "red": 850.0, "yellow": 1000.0, "green": 1100.0}
        for p in ("2025-03", "2025-04")
        for r in reps
    ]
    deals_from = pd.Timestamp("2025-02-01", tz="UTC")
    deals = [
        {
            "opportunity_id": f"W{i}",
            "owner_rep_id": rep,
            "amount": amount,
            "created_at": deals_from,
            "closed_at": pd.Timestamp(closed, tz="UTC"),
            "outcome": "won",
        }
        for i, (rep, closed, amount) in enumerate(wins)
    ]
    lost = {"opportunity_id": "L0", "owner_rep_id": "R1", "amount": 5000.0, "outcome": "lost"}  # counts for nobody
    deals.append({**lost, "created_at": deals_from, "closed_at": pd.Timestamp(as_of, tz="UTC")})
    ds = make({"reps": reps, "opportunities": deals, "targets": targets})
    at = pd.Timestamp(as_of, tz="UTC")
    fc = forecast(ds, at, periods_from(at, "month", 2), "rep", pd.Series([], dtype="string"), np.zeros((0, 2)))
    return attainment(ds, fc).set_index(["period", "key"])


def test_early_warning_fires_for_a_rep_behind_at_both_weekly_checks_only() -> None:
    # as of 03-16: 85% of 1000 pro-rated to 15/31 days is 411; a week earlier (8/31 days) it is 219
    wins = [
        ("R2", "2025-03-02", 1000.0),  # ahead at both checks
        ("R3", "2025-03-03", 300.0),  # ahead on 03-09, behind on 03-16
        ("R4", "2025-03-12", 500.0),  # behind on 03-09, ahead on 03-16
    ]
    board = board_for("2025-03-16", wins)
    warned = board["early_warning"]
    assert warned.loc["2025-03"].to_dict() == {"R1": True, "R2": False, "R3": False, "R4": False}
    assert not warned.loc["2025-04"].any(), "only the current period can be judged"
    assert board.loc[("2025-03", "R2"), "won_to_date"] == 1000.0 and board.loc[("2025-03", "R2"), "p_yellow"] == 1.0
    assert board.loc[("2025-03", "R1"), "color"] == "red"


def test_no_early_warning_on_the_first_day_of_a_period() -> None:
    assert not board_for("2025-03-01 12:00", [])["early_warning"].any()


def test_attainment_explains_what_is_missing() -> None:
    deals = [{"opportunity_id": "O1", "owner_rep_id": "R1", "created_at": AS_OF - DAY, "amount": 5.0}]
    ds = make({"reps": REPS, "opportunities": deals})
    fc = open_forecast(ds, AS_OF, pd.Series(["O1"]), by="rep", sims=10)
    with pytest.raises(DataError, match=r"no targets table \(period, level, key, red, yellow, green\)"):
        attainment(ds, fc)
    with pytest.raises(DataError, match="targets are set per rep, team, region; forecast --by product has none"):
        attainment(ds, open_forecast(ds, AS_OF, pd.Series(["O1"]), by="product", sims=10))
    later = [{"period": "2026-01", "level": "rep", "key": "R1", "red": 1.0, "yellow": 2.0, "green": 3.0}]
    with pytest.raises(DataError, match="no rep targets for period\\(s\\) 2024-09, 2024-10, 2024-11.*2026-01"):
        attainment(make({"reps": REPS, "opportunities": deals, "targets": later}), fc)
