"""The simulator: deterministic, canonical, as hard as the field figures say, and honest about time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from features.crm.cli import data_app
from features.crm.dataset import Dataset, conform, read_dataset
from features.crm.schema import CONTACT_ROLES, SENIOR_ROLES, TABLE_ORDER, TABLES
from features.errors import DataError
from features.pit.catalog import CONCEPTS
from features.synth import synthesize
from features.synth.output import TRUTH_DIR

LEADS = 20_000
SEED = 11
STAGE_CODE = {"lead": 0, "needs_confirmed": 1, "demo": 2, "quote": 3, "contract": 4}


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "crm"
    synthesize(out, leads=LEADS, seed=SEED)
    return out


@pytest.fixture(scope="module")
def ds(synth_dir: Path) -> Dataset:
    return read_dataset(synth_dir)


@pytest.fixture(scope="module")
def first_touch_hours(ds: Dataset) -> pd.Series:
    """Hours from each lead's creation to its first outbound activity (NaN: never touched)."""
    leads, acts = ds.get("leads").set_index("lead_id"), ds.get("activities")
    outbound = acts[(acts.entity_type == "lead") & (acts.direction == "outbound")]
    first = outbound.groupby("entity_id").occurred_at.min().reindex(leads.index)
    return (first - leads.created_at).dt.total_seconds() / 3600


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_other_seeds_differ(tmp_path: Path) -> None:
    kwargs = {"leads": 6_000, "start": "2024-01-01", "end": "2024-12-31", "chunk_size": 2_500}
    synthesize(tmp_path / "a", seed=3, **kwargs)
    synthesize(tmp_path / "b", seed=3, **kwargs)
    synthesize(tmp_path / "c", seed=4, **kwargs)
    a, b, c = (_files(tmp_path / name) for name in "abc")
    assert {"_truth/duplicates.parquet", "_truth/anomalies.parquet"} <= set(a)  # the data guard's plants
    assert len(a) == 7 + 1 + len([name for name in a if name.startswith("_truth/")])  # tables, manifest, truth
    assert a == b
    assert a["leads.parquet"] != c["leads.parquet"]
    assert a["activities.parquet"] != c["activities.parquet"]


def test_tables_read_back_with_exactly_the_canonical_dtypes(synth_dir: Path, ds: Dataset) -> None:
    assert set(ds.tables) == set(TABLE_ORDER)
    assert [e.name for e in ds.manifest.extras("opportunities")] == ["discount_pct"]
    for name in TABLE_ORDER:
        raw = pd.read_parquet(synth_dir / f"{name}.parquet")
        canonical = conform(name, raw, ds.manifest.extras(name))
        assert list(raw.columns) == list(canonical.columns), name
        assert raw.dtypes.equals(canonical.dtypes), name
        assert ds.manifest.counts[name] == len(raw) > 0, name
    for name in ("leads", "opportunities", "stage_changes", "activities"):
        for col, table in ((c.name, TABLES[name]) for c in TABLES[name].columns if c.required):
            assert ds.get(name)[col].notna().all(), f"{table.name}.{col}"


def test_every_reference_resolves(ds: Dataset) -> None:
    reps, accounts = set(ds.get("reps").rep_id), set(ds.get("accounts").account_id)
    leads, opps, acts = ds.get("leads"), ds.get("opportunities"), ds.get("activities")
    assert set(leads.owner_rep_id) <= reps and set(leads.account_id) <= accounts
    assert set(opps.owner_rep_id) <= reps and set(opps.account_id) <= accounts
    assert set(opps.lead_id) <= set(leads.lead_id)
    assert set(ds.get("stage_changes").opportunity_id) <= set(opps.opportunity_id)
    assert set(acts.rep_id.dropna()) <= reps
    on_lead = acts.entity_type == "lead"
    assert set(acts.entity_id[on_lead]) <= set(leads.lead_id)
    assert set(acts.entity_id[~on_lead]) <= set(opps.opportunity_id)
    assert ds.get("activities").activity_id.is_unique and opps.lead_id.is_unique


def test_each_converted_lead_has_its_opportunity_created_when_it_converted(ds: Dataset) -> None:
    leads, opps = ds.get("leads"), ds.get("opportunities").set_index("lead_id")
    converted = leads[leads.converted_at.notna()].set_index("lead_id")
    assert set(converted.index) == set(opps.index)
    assert (opps.created_at.reindex(converted.index) == converted.converted_at).all()
    assert not (leads.converted_at.notna() & leads.disqualified_at.notna()).any()


def test_nothing_happens_after_the_export_or_out_of_order(ds: Dataset) -> None:
    exported = ds.manifest.exported_at
    for name in TABLE_ORDER:
        table = TABLES[name]
        for col in (c.name for c in table.columns if c.kind == "time" and c.name != "expected_close_at"):
            assert not (ds.get(name)[col] > exported).any(), f"{name}.{col}"
        for later, earlier in table.time_columns_not_before:
            frame = ds.get(name)
            assert not (frame[later] < frame[earlier]).any(), f"{name}.{later} < {earlier}"


def test_activities_and_stages_stay_within_their_entity_lifetime(ds: Dataset) -> None:
    """No row reveals an outcome early: nothing before creation, nothing after conversion or close."""
    leads, opps, acts = ds.get("leads"), ds.get("opportunities"), ds.get("activities")
    lead_end = leads.converted_at.fillna(leads.disqualified_at).fillna(ds.manifest.exported_at)
    span = pd.concat(
        [
            pd.DataFrame({"entity_id": leads.lead_id, "begin": leads.created_at, "end": lead_end}),
            pd.DataFrame({"entity_id": opps.opportunity_id, "begin": opps.created_at, "end": opps.closed_at}),
        ]
    ).set_index("entity_id")
    joined = acts.join(span, on="entity_id")
    assert (joined.occurred_at >= joined.begin).all()
    assert not (joined.occurred_at > joined.end).any()
    stages = ds.get("stage_changes").join(
        opps.set_index("opportunity_id")[["created_at", "closed_at"]], on="opportunity_id"
    )
    assert (stages.changed_at >= stages.created_at).all()
    assert not (stages.changed_at > stages.closed_at).any()


def test_leads_are_routed_in_region_to_reps_employed_at_creation(ds: Dataset) -> None:
    leads = ds.get("leads").merge(ds.get("reps"), left_on="owner_rep_id", right_on="rep_id", suffixes=("", "_rep"))
    assert (leads.hired_at <= leads.created_at).all()
    assert not (leads.left_at <= leads.created_at).any()
    assert (leads.region == leads.region_rep).all()
    reps = ds.get("reps")
    assert 50 <= len(reps) <= 300 and reps.left_at.notna().any()


def test_stage_order_is_kept_except_planted_regressions(ds: Dataset) -> None:
    stages = ds.get("stage_changes").sort_values(["opportunity_id", "changed_at"], kind="stable")
    code = stages.stage.map(STAGE_CODE)
    assert code.notna().all()
    first = ~stages.opportunity_id.duplicated()
    assert (code[first] == 0).all()
    step = code.groupby(stages.opportunity_id).diff().dropna()
    assert set(step.unique()) <= {1, -1}
    following = code.groupby(stages.opportunity_id).diff(-1)  # previous minus next, seen from the previous row
    back = step[step == -1].index
    assert (following.reindex(back).isna() | (following.reindex(back) == -1)).all()  # a regression is followed up
    regressed = stages.opportunity_id.loc[back].nunique()
    assert 0 < regressed < 0.15 * stages.opportunity_id.nunique()


def test_conversion_and_win_rates_are_as_hard_as_the_field(synth_dir: Path, ds: Dataset) -> None:
    truth = pd.read_parquet(synth_dir / TRUTH_DIR / "leads.parquet")
    assert 0.10 <= truth.converted_drawn.mean() <= 0.20
    assert 0.10 <= ds.get("leads").converted_at.notna().mean() <= 0.20
    closed = ds.get("opportunities").dropna(subset=["outcome"])
    assert 0.20 <= (closed.outcome == "won").mean() <= 0.35


def test_oracle_aucs_lie_in_the_realistic_band(synth_dir: Path, ds: Dataset) -> None:
    figures = yaml.safe_load((synth_dir / TRUTH_DIR / "oracle.yaml").read_text(encoding="utf-8"))
    leads = pd.read_parquet(synth_dir / TRUTH_DIR / "leads.parquet")
    deals = pd.read_parquet(synth_dir / TRUTH_DIR / "opportunities.parquet")
    closed = deals[deals.true_closed_at <= ds.manifest.exported_at]
    lead_auc = roc_auc_score(leads.converted_drawn, leads.p_convert)
    deal_auc = roc_auc_score(closed.won_drawn, closed.p_win)
    assert 0.75 <= lead_auc <= 0.88 and 0.75 <= deal_auc <= 0.88
    assert figures["leads"]["roc_auc"] == pytest.approx(lead_auc, abs=1e-4)
    assert figures["opportunities"]["roc_auc"] == pytest.approx(deal_auc, abs=1e-4)


def test_conversion_falls_steeply_with_first_response_latency(ds: Dataset, first_touch_hours: pd.Series) -> None:
    converted = ds.get("leads").set_index("lead_id").converted_at.notna()
    bucket = pd.cut(first_touch_hours, [0, 1, 4, 24, np.inf], right=False)
    rate = converted.groupby(bucket, observed=False).mean().to_numpy()
    assert (np.diff(rate) < 0).all()
    assert rate[0] > 4 * rate[-1]
    touched = first_touch_hours.dropna()
    assert 50 <= touched.mean() <= 110  # field: averages of 58-99 h
    assert 0.02 <= first_touch_hours.isna().mean() <= 0.15  # some leads are never touched


def test_activation_within_seven_days_matters(ds: Dataset) -> None:
    leads, acts = ds.get("leads").set_index("lead_id"), ds.get("activities")
    effective = acts[
        (acts.entity_type == "lead")
        & (acts.direction == "outbound")
        & (((acts.type == "call") & (acts.duration_s >= 60)) | acts.type.isin(["visit", "meeting", "demo"]))
    ].join(leads.created_at, on="entity_id")
    early = effective[effective.occurred_at <= effective.created_at + pd.Timedelta(days=7)]
    activated = early.groupby("entity_id").size().reindex(leads.index, fill_value=0) >= 2
    converted = leads.converted_at.notna()
    assert 0.25 <= activated.mean() <= 0.75
    assert converted[activated].mean() > 2 * converted[~activated].mean()


def test_deal_drivers_show_in_the_tables(ds: Dataset) -> None:
    opps, acts = ds.get("opportunities").set_index("opportunity_id"), ds.get("activities")
    on_deal = acts[acts.entity_type == "opportunity"]
    won = (opps.outcome == "won")[opps.outcome.notna()]
    senior = on_deal[on_deal.contact_role.isin(SENIOR_ROLES)].groupby("entity_id").contact_role.nunique()
    coverage = senior.reindex(won.index, fill_value=0)
    assert won[coverage >= 3].mean() > won[coverage <= 1].mean() + 0.2

    def rate_with(pattern: str) -> tuple[float, float]:
        ids = set(on_deal.entity_id[on_deal.note.str.contains(pattern, na=False)])
        has = won.index.isin(ids)
        return won[has].mean(), won[~has].mean()

    budget, without_budget = rate_with("预算审批|Budget approval")
    assert budget > without_budget + 0.05
    comparing, not_comparing = rate_with("比价|comparing prices")
    assert comparing < not_comparing - 0.05
    stages = ds.get("stage_changes")
    quoted = won.index.intersection(stages.opportunity_id[stages.stage == "quote"])
    rounds = on_deal[on_deal.type == "quote_sent"].groupby("entity_id").size().reindex(quoted, fill_value=0)
    assert won[quoted][rounds >= 3].mean() < won[quoted][rounds == 1].mean()  # more re-quotes, fewer wins
    assert {"poc_start", "poc_end", "quote_sent", "contract_revision"} <= set(on_deal.type)
    assert opps.discount_pct.between(0, 30).all()
    assert set(on_deal.contact_role.dropna()) <= set(CONTACT_ROLES)


def test_notes_mix_keywords_vague_and_english(ds: Dataset) -> None:
    notes = ds.get("activities").note.dropna()
    for keyword in ("预算审批", "上线周期", "数据迁移", "比价", "已沟通", "待推进", "Customer also evaluating"):
        assert notes.str.contains(keyword).any(), keyword
    assert notes.str.fullmatch(r"[A-Za-z0-9 ,.'\-()]+").mean() > 0.05  # English notes


def test_leads_carry_web_behaviour(ds: Dataset) -> None:
    on_lead = ds.get("activities")[lambda a: a.entity_type == "lead"]
    assert {"web_visit", "download", "form"} <= set(on_lead.type)
    assert (on_lead.direction == "inbound").any()
    assert on_lead.rep_id[on_lead.type == "web_visit"].isna().all()


def test_back_filled_activities_exist(ds: Dataset) -> None:
    acts = ds.get("activities")
    lag = acts.recorded_at - acts.occurred_at
    share = (lag > pd.Timedelta(days=1)).mean()
    assert 0.05 <= share <= 0.40
    late = acts[lag > pd.Timedelta(days=1)]
    month_end = late.recorded_at.dt.is_month_end.mean()
    assert month_end > 0.3  # the month-end clean-up


def test_open_deals_exist_and_reveal_no_outcome(synth_dir: Path, ds: Dataset) -> None:
    opps = ds.get("opportunities")
    open_deals = opps[opps.closed_at.isna()]
    assert len(open_deals) > 0
    assert open_deals.outcome.isna().all()
    assert (opps.closed_at.notna() == opps.outcome.notna()).all()
    truth = pd.read_parquet(synth_dir / TRUTH_DIR / "opportunities.parquet").set_index("opportunity_id")
    assert (truth.true_closed_at.reindex(open_deals.opportunity_id) > ds.manifest.exported_at).all()
    open_leads = ds.get("leads")[lambda f: f.converted_at.isna() & f.disqualified_at.isna()]
    assert len(open_leads) > 0


def test_timing_of_conversions_closes_and_quarter_ends(ds: Dataset) -> None:
    leads, opps = ds.get("leads"), ds.get("opportunities")
    to_convert = (leads.converted_at - leads.created_at).dt.total_seconds().dropna() / 86_400
    assert to_convert.between(1, 45).mean() > 0.85
    closed = opps.dropna(subset=["closed_at"])
    cycle = (closed.closed_at - closed.created_at).dt.total_seconds() / 86_400
    assert cycle.between(20, 120).mean() > 0.7
    won = closed[closed.outcome == "won"].closed_at
    quarter_end = won.dt.tz_localize(None).dt.to_period("Q").dt.end_time.dt.tz_localize("UTC")
    assert ((quarter_end - won) < pd.Timedelta(days=14)).mean() > 0.2  # uniform would be about 0.15
    assert ((opps.expected_close_at - opps.created_at) > pd.Timedelta(0)).all()


def test_targets_cover_every_month_at_every_level(ds: Dataset) -> None:
    targets = ds.get("targets")
    start, end = ds.get("leads").created_at.min(), ds.manifest.exported_at
    months = set(
        pd.period_range(start.tz_localize(None), end.tz_localize(None) - pd.Timedelta(seconds=1), freq="M").astype(str)
    )
    for level in ("rep", "team", "region"):
        assert set(targets.period[targets.level == level]) == months, level
    assert (targets.red <= targets.yellow).all() and (targets.yellow <= targets.green).all()
    assert (targets.yellow > 0).any()
    region = targets[targets.level == "region"]
    assert (region.red / region.yellow).round(2).eq(0.85).mean() > 0.95


def test_truth_is_kept_apart_from_the_tables(synth_dir: Path, ds: Dataset) -> None:
    truth_columns = {"p_convert", "converted_drawn", "p_win", "won_drawn", "true_closed_at"}
    for name, frame in ds.tables.items():
        assert not truth_columns & set(frame.columns), name
    assert {p.name for p in (synth_dir / TRUTH_DIR).iterdir()} == {
        "leads.parquet",
        "opportunities.parquet",
        "drivers.yaml",
        "oracle.yaml",
        "duplicates.parquet",  # the data guard's planted duplicates ...
        "anomalies.parquet",  # ... and deal anomalies
        "reps.parquet",  # each rep's skill and fit offsets (routing quality)
    }
    drivers = yaml.safe_load((synth_dir / TRUTH_DIR / "drivers.yaml").read_text(encoding="utf-8"))["drivers"]
    for driver in drivers:
        assert {"name", "entity", "direction", "concept", "observed_as", "effect"} <= set(driver)
        assert driver["concept"] in CONCEPTS and driver["direction"] in ("+", "-")
        assert driver["entity"] in ("lead", "opportunity")
    assert {d["concept"] for d in drivers} == set(CONCEPTS)


def test_cli_writes_a_dataset_and_rejects_a_bad_window(tmp_path: Path) -> None:
    result = CliRunner().invoke(data_app, ["synth", "--out", str(tmp_path / "d"), "--leads", "500", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "oracle ROC AUC" in result.output
    assert (tmp_path / "d" / "manifest.yaml").exists()
    with pytest.raises(DataError, match="after --start"):
        synthesize(tmp_path / "e", leads=100, start="2025-01-01", end="2024-01-01")
