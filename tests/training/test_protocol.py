"""The training protocol's parts, each on data made to stress it: time splits on thin, growing exports, the
derived label horizon, calibration that cannot collapse, additive candidates with exact contributions, the
cross-fitted refit, and the gate that holds back a model without skill."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import read_dataset, write_dataset
from features.errors import DataError
from features.pit.catalog import CUTOFF_CALENDAR, feature_catalog
from features.scoring.additive import AdditiveModel
from features.scoring.blend import Blend, load_model, model_kind, save_model
from features.scoring.inputs import InputFeature, encode_inputs
from features.synth.shapes import synthesize_shape
from tests.helpers import salesml, train_in_store
from training.calibrate import (
    MIN_ISOTONIC_CLASS,
    MIN_SIGMOID_SLOPE,
    allowed_calibrators,
    choose_calibrator,
    fit_calibrator,
    row_log_loss,
)
from training.candidates import (
    DEFAULT_C,
    LOGISTIC_C,
    fit_logistic,
    fit_naive_bayes,
    lightgbm_candidate,
    logistic_candidate,
)
from training.data import delay_quantile, resolve_horizon, select_candidates
from training.refit import cross_fit, entity_folds
from training.spec import load_spec
from training.split import MIN_EVAL_CLASS, SPLIT_NOTES, SplitPlan, honest_split

DAY = pd.Timedelta(days=1)
UNTIL = pd.Timestamp("2025-01-01", tz="UTC")


def _growing_leads(n: int, days: int, horizon: int, rate: float, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """One snapshot per lead, volume growing over ``days`` (quadratic arrival times), labels known a horizon
    after the snapshot: the shape that left no validation rows under fixed-count segments."""
    rng = np.random.default_rng(seed)
    start = UNTIL - pd.Timedelta(days=days)
    offsets = np.sort(np.sqrt(rng.uniform(0, 1, n))) * days
    cutoffs = start + pd.to_timedelta(offsets, unit="D")
    frame = pd.DataFrame({"entity_id": [f"L{i}" for i in range(n)], "cutoff_time": cutoffs})
    frame["label"] = (rng.uniform(size=n) < rate).astype(int)
    return frame, pd.Series(cutoffs + pd.Timedelta(days=horizon))


def test_a_thin_growing_export_splits_with_the_test_alone_by_time() -> None:
    frame, known = _growing_leads(3000, 330, horizon=60, rate=0.15)
    split = honest_split(frame, known, frame["label"].to_numpy(), SplitPlan(), UNTIL, (40, 40), "lead_score")
    assert split.kind == "time-test"
    segment = split.segment.to_numpy(dtype=object, na_value=None)
    y = frame["label"].to_numpy()
    for name in ("valid", "calib", "test"):
        member = segment == name
        assert y[member].sum() >= MIN_EVAL_CLASS and (1 - y[member]).sum() >= MIN_EVAL_CLASS, name
    test_start = split.starts["test"]
    before = np.isin(segment, ["train", "valid", "calib"])
    assert (known[before] <= test_start).all()  # no label before the test was learned after it began
    assert (frame.loc[segment == "test", "cutoff_time"] >= test_start).all()
    assert (known[segment == "test"] <= UNTIL).all()


def test_a_horizon_long_against_the_history_still_tests_the_latest_leads_by_time() -> None:
    frame, known = _growing_leads(3000, 330, horizon=120, rate=0.1)
    split = honest_split(frame, known, frame["label"].to_numpy(), SplitPlan(), UNTIL, (40, 40), "lead_score")
    assert split.kind == "time-test-overlap" and split.kind in SPLIT_NOTES
    segment = split.segment.to_numpy(dtype=object, na_value=None)
    first_test = frame.loc[segment == "test", "cutoff_time"].min()
    assert (frame.loc[np.isin(segment, ["train", "valid", "calib"]), "cutoff_time"] < first_test).all()
    assert (known[segment == "test"] <= UNTIL).all()


@pytest.mark.parametrize(
    ("n", "days", "horizon", "rate"), [(6000, 720, 15, 0.2), (3000, 330, 60, 0.15), (3000, 330, 120, 0.1)]
)
def test_other_rows_of_the_same_entities_go_where_the_split_put_them(
    n: int, days: int, horizon: int, rate: float
) -> None:
    """A window label's rows are assigned by ``HonestSplit.assign``: on the split's own rows it gives the split,
    whichever kind was made."""
    frame, known = _growing_leads(n, days, horizon=horizon, rate=rate)
    split = honest_split(frame, known, frame["label"].to_numpy(), SplitPlan(), UNTIL, (40, 40), "lead_score")
    assert split.kind in SPLIT_NOTES
    pd.testing.assert_series_equal(split.assign(frame, known, UNTIL), split.segment, check_names=False)


def test_enough_data_keeps_four_segments_in_time_order() -> None:
    frame, known = _growing_leads(6000, 720, horizon=15, rate=0.2)
    split = honest_split(frame, known, frame["label"].to_numpy(), SplitPlan(), UNTIL, (40, 40), "lead_score")
    assert split.kind == "time"
    starts = list(split.starts.values())
    assert starts == sorted(starts)


def test_settled_test_rows_are_not_only_the_quick_wins() -> None:
    """Deals won days after a snapshot, lost 60-150 days after: near the export only the wins are known, so a test
    segment that keeps them runs optimistic. With ``settle_days`` every test cutoff is that long before the export:
    the skew shrinks, and is gone once the settling covers the slowest losses."""
    rng = np.random.default_rng(3)
    n = 8000
    cutoffs = UNTIL - pd.to_timedelta(np.sort(rng.uniform(0, 720, n)), unit="D")
    frame = pd.DataFrame({"entity_id": [f"D{i}" for i in range(n)], "cutoff_time": cutoffs})
    y = (rng.uniform(size=n) < 0.3).astype(int)
    known = pd.Series(cutoffs + pd.to_timedelta(np.where(y == 1, rng.uniform(2, 20, n), rng.uniform(60, 150, n)), "D"))
    rates = {}
    for settle in (None, 60, 150):
        split = honest_split(frame, known, y, SplitPlan(), UNTIL, (40, 40), "close_probability", settle)
        test = (split.segment == "test").to_numpy(dtype=bool, na_value=False)
        rates[settle] = y[test].mean()
        if settle:
            assert (frame.loc[test, "cutoff_time"] <= UNTIL - settle * DAY).all()
    base = y[(frame["cutoff_time"] < UNTIL - 300 * DAY).to_numpy()].mean()
    assert rates[None] > rates[60] > rates[150]
    assert rates[None] > base + 0.05 and abs(rates[150] - base) < 0.03, rates


def test_close_probability_settles_its_test_rows_as_the_backtest_does() -> None:
    assert load_spec("close_probability")[0].split.settle_days == 60


def test_no_honest_split_is_one_line_naming_the_horizon_knob() -> None:
    frame, known = _growing_leads(400, 200, horizon=150, rate=0.05)
    with pytest.raises(DataError) as error:
        honest_split(frame, known, frame["label"].to_numpy(), SplitPlan(), UNTIL, (40, 40), "lead_score")
    message = str(error.value)
    assert "\n" not in message and "horizon_days" in message and "positives" in message


def test_the_horizon_is_derived_from_the_exports_own_delays(small_data: Path) -> None:
    ds = read_dataset(small_data)
    spec, _ = load_spec("lead_score")
    resolved, note = resolve_horizon(spec, ds)
    leads = ds.tables["leads"]
    delays = ((leads["converted_at"] - leads["created_at"]).dt.total_seconds() / 86400).dropna()
    p90 = np.quantile(delays, 0.9)
    assert resolved.horizon_days % 15 == 0 and p90 <= resolved.horizon_days < p90 + 15
    assert "90th percentile" in note
    stretched = ds.tables | {
        "leads": leads.assign(converted_at=leads["created_at"] + (leads["converted_at"] - leads["created_at"]) * 4)
    }
    longer, _ = resolve_horizon(spec, type(ds)(ds.manifest, stretched))
    assert longer.horizon_days > resolved.horizon_days  # direction: slower conversions, longer label
    fixed, note = resolve_horizon(spec.model_copy(update={"horizon_days": 45}), ds)
    assert fixed.horizon_days == 45 and "set in the spec" in note


def test_the_derived_horizon_sees_past_the_conversions_recent_leads_have_not_had_time_for() -> None:
    """Volume rising over a year, exponential delays, the export a year in: the long delays of recent leads are not
    there yet, so what has shown runs short of the true 90th percentile; the weighted estimate recovers it."""
    rng = np.random.default_rng(0)
    day = pd.Timedelta(days=1).value
    created_days = 365 * np.sqrt(rng.random(20_000))
    delay_days = rng.exponential(40, len(created_days))
    converts = rng.random(len(created_days)) < 0.3
    shown = converts & (created_days + delay_days <= 365)
    created, converted = (created_days * day).astype(np.int64), ((created_days + delay_days) * day).astype(np.int64)
    truth, plain = np.quantile(delay_days[converts], 0.9), np.quantile(delay_days[shown], 0.9)
    weighted = delay_quantile(created, created[shown], converted[shown], 365 * day, 0.9)
    assert plain < truth - 10  # the cut bites: the plain percentile is days short
    assert abs(weighted - truth) < 3, (weighted, truth, plain)
    all_shown = delay_quantile(created, created[converts], converted[converts], 10_000 * day, 0.9)
    assert abs(all_shown - truth) < 0.5  # nothing cut off: the plain percentile


def test_isotonic_needs_enough_positives_and_never_collapses() -> None:
    rng = np.random.default_rng(3)
    margin = rng.normal(size=2000)
    few = (rng.uniform(size=2000) < 0.01).astype(int)  # about 20 positives
    assert few.sum() < MIN_ISOTONIC_CLASS
    assert "isotonic" not in allowed_calibrators(few)
    calibrator, losses = choose_calibrator(margin, few)
    assert calibrator.kind != "isotonic" and "isotonic" not in losses
    assert len(np.unique(calibrator(margin))) > 1000
    many = (rng.uniform(size=2000) < 1 / (1 + np.exp(-2 * margin))).astype(int)
    assert "isotonic" in allowed_calibrators(many)


@pytest.mark.parametrize("kind", ["isotonic", "sigmoid", "none"])
def test_a_calibration_never_reverses_the_order_the_model_ranks_in(kind: str) -> None:
    rng = np.random.default_rng(5)
    margin = rng.normal(size=3000)
    backwards = (rng.uniform(size=3000) < 1 / (1 + np.exp(2 + 0.8 * margin))).astype(int)  # ranks backwards here
    calibrator = fit_calibrator(margin, backwards, kind, min_distinct=20)
    p = calibrator(np.sort(margin))
    assert np.all(np.diff(p) >= 0)
    if kind == "sigmoid":  # flat at the rows' rate, still in the model's order (distinct)
        assert calibrator.a == MIN_SIGMOID_SLOPE and len(np.unique(p)) > 1000
        assert abs(calibrator(margin).mean() - backwards.mean()) < 1e-9
    forwards = (rng.uniform(size=3000) < 1 / (1 + np.exp(2 - 0.8 * margin))).astype(int)
    assert fit_calibrator(margin, forwards, "sigmoid").a == pytest.approx(0.8, abs=0.15)  # the usual Platt fit


def _inputs_and_rows(n: int, seed: int) -> tuple[list[InputFeature], pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    source = rng.choice(["web", "referral", "ads"], size=n)
    visits = rng.poisson(3, size=n).astype(float)
    visits[rng.uniform(size=n) < 0.1] = np.nan
    logit = -1.5 + 0.8 * (source == "referral") + 0.4 * np.log1p(np.nan_to_num(visits))
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    inputs = [
        InputFeature("source", "categorical", "来源", "Source", "source", "来源", "Source", ["web", "referral", "ads"]),
        InputFeature("visits", "numeric", "访问", "Visits", "web", "网站", "Web"),
    ]
    x, _ = encode_inputs(inputs, pd.DataFrame({"source": source, "visits": visits}))
    return inputs, x, y


@pytest.mark.parametrize("fit", [lambda i, x, y: fit_logistic(i, x, y, 1.0), fit_naive_bayes], ids=["lr", "nb"])
def test_additive_contributions_are_exact_and_survive_a_round_trip(fit, tmp_path: Path) -> None:
    inputs, x, y = _inputs_and_rows(3000, 1)
    model = fit(inputs, x, y)
    contributions = model.predict(x, pred_contrib=True)
    np.testing.assert_allclose(contributions.sum(axis=1), model.predict(x, raw_score=True), atol=1e-9)
    np.testing.assert_allclose(contributions[:, :-1].mean(axis=0), 0.0, atol=1e-9)  # centred on training rows
    model.save(tmp_path / "m.json")
    again = AdditiveModel.load(tmp_path / "m.json")
    np.testing.assert_array_equal(again.predict(x, raw_score=True), model.predict(x, raw_score=True))
    matrix = x.assign(source=x["source"].cat.codes.replace(-1, np.nan).astype(float)).to_numpy(dtype=float)
    np.testing.assert_allclose(model.predict(matrix, raw_score=True), model.predict(x, raw_score=True))


def test_the_logistic_candidate_ranks_a_linear_signal_in_its_direction() -> None:
    inputs, x, y = _inputs_and_rows(4000, 2)
    model = fit_logistic(inputs, x, y, 1.0)
    referral = model.terms[0].values[1] - model.terms[0].values[0]
    assert referral > 0.4  # planted +0.8 log-odds for referral over web
    assert model.terms[1].weight > 0  # more visits, higher odds


def _one_signal(n: int, seed: int, strength: float) -> tuple[list[InputFeature], pd.DataFrame, np.ndarray]:
    """Rows whose log-odds rise ``strength`` per standard deviation of one input."""
    rng = np.random.default_rng(seed)
    visits = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(strength * visits - 1)))).astype(int)
    inputs = [InputFeature("visits", "numeric", "访问", "Visits", "web", "网站", "Web")]
    x, _ = encode_inputs(inputs, pd.DataFrame({"visits": visits}))
    return inputs, x, y


def test_the_logistic_strength_stays_the_default_unless_another_is_clearly_better() -> None:
    inputs, x, y = _one_signal(300, 0, 0.3)
    x_valid, y_valid = _one_signal(200, 100, 0.3)[1:]
    losses = {c: row_log_loss(y_valid, fit_logistic(inputs, x, y, c).predict(x_valid)).mean() for c in LOGISTIC_C}
    assert min(losses, key=losses.get) != DEFAULT_C  # the lowest loss is elsewhere, by a hair of noise
    kept = logistic_candidate(inputs, x, y, x_valid, y_valid, np.arange(len(y_valid)), clearly_better_se=2.0)
    assert kept.settings["C"] == DEFAULT_C
    inputs, x, y = _one_signal(60, 1, 4.0)  # a strong signal on few rows: the default's shrinkage costs plainly
    x_valid, y_valid = _one_signal(20_000, 2, 4.0)[1:]
    chosen = logistic_candidate(inputs, x, y, x_valid, y_valid, np.arange(len(y_valid)), clearly_better_se=2.0)
    assert chosen.settings["C"] == max(LOGISTIC_C)


def test_cross_fitted_calibration_is_out_of_fold_and_spread() -> None:
    inputs, x, y = _inputs_and_rows(3000, 4)
    ids = pd.Series([f"L{i // 2}" for i in range(len(y))])  # two snapshots per entity
    fold = entity_folds(ids, 3, seed=0)
    assert (pd.Series(fold).groupby(ids).nunique() == 1).all()
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 0}
    refit = cross_fit(lightgbm_candidate(params, 30, 2000), inputs, x, y, fold, "isotonic", 20)
    assert len(np.unique(refit.oof_probability)) >= 20
    in_sample = refit.calibrator(refit.model.predict(x, raw_score=True))
    assert not np.allclose(in_sample, refit.oof_probability)  # calibrated on held-out margins, not these


@pytest.mark.slow
def test_a_first_version_without_skill_stays_challenger(small_data: Path, tmp_path: Path) -> None:
    ds = read_dataset(small_data)
    leads = ds.tables["leads"]
    drawn = np.random.default_rng(0).uniform(size=len(leads)) < 0.2  # outcomes dealt at random: nothing to learn
    noise_leads = leads.assign(converted_at=leads["created_at"].where(drawn), disqualified_at=pd.NaT)
    manifest = replace(ds.manifest, has_event_times=False)
    noise = tmp_path / "noise"
    write_dataset(type(ds)(manifest, {"leads": noise_leads}), noise)
    store = tmp_path / "store"
    result = train_in_store(store, "lead_score", noise, trials=2)
    assert not result.promoted
    assert any("skill" in b for b in result.report["gate"]["blockers"])
    env = {"SALESML_STORE": str(store)}
    proc = salesml("score", "--model", "lead_score", "--data", noise, "--out", tmp_path / "s.csv", env=env)
    assert proc.returncode == 2 and "stays challenger" in proc.stdout + proc.stderr


def test_a_blend_contributes_its_members_weighted_and_survives_a_round_trip(tmp_path: Path) -> None:
    inputs, x, y = _inputs_and_rows(3000, 6)
    params = {"objective": "binary", "verbosity": -1, "num_threads": 1, "seed": 0}
    trees = lightgbm_candidate(params, 40, len(y))
    blend = Blend([trees.fit(inputs, x, y), fit_logistic(inputs, x, y, 1.0)], [0.5, 0.5])
    contributions = blend.predict(x, pred_contrib=True)
    margin = blend.predict(x, raw_score=True)
    np.testing.assert_allclose(contributions.sum(axis=1), margin, atol=1e-6)
    members = [m.predict(x, raw_score=True) for m in blend.members]
    np.testing.assert_allclose(margin, 0.5 * members[0] + 0.5 * members[1])
    save_model(blend, tmp_path)
    again = load_model(tmp_path)
    assert model_kind(again) == "blend" and [model_kind(m) for m in again.members] == ["lightgbm", "logistic"]
    np.testing.assert_allclose(again.predict(x, raw_score=True), margin)


def test_calendar_features_describe_the_entity_unless_the_spec_asks_for_the_scoring_time(small_data: Path) -> None:
    ds = read_dataset(small_data)
    for model, expected in (("lead_score", False), ("close_probability", True)):
        spec, _ = load_spec(model)
        names = {f.name for f in select_candidates(feature_catalog(ds.manifest, spec.entity), spec)}
        assert "created_month" in names and "created_month_of_quarter" in names
        assert set(CUTOFF_CALENDAR) <= names if expected else not set(CUTOFF_CALENDAR) & names


@pytest.mark.slow
def test_a_small_leads_only_export_trains_with_defaults(tmp_path: Path) -> None:
    data = tmp_path / "small"
    synthesize_shape(data, "growing", leads=3000, seed=3)
    result = train_in_store(tmp_path / "store", "lead_score", data, trials=3)
    assert result.report["split"]["kind"].startswith("time")
    assert result.report["horizon_days"] >= 60  # conversions take months here
    assert result.report["refit"]["rows"] > sum(result.report["split"]["rows"].values()) * 0.99
    assert not [f for f in result.report["features_used"] if f.startswith(("act_", "rep_", "note_"))]
