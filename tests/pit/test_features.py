"""Feature families, snapshot policies and labels on hand-made data with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from features.crm.dataset import Dataset, Manifest
from features.crm.schema import ExtraColumn
from features.errors import DataError
from features.pit.build import build_features
from features.pit.catalog import CONCEPTS, feature_catalog, note_features
from features.pit.cli import summary_table
from features.pit.families.stage import typical_dwell_days
from features.pit.frames import entity_frame, scoring_frame
from features.pit.history import History
from features.pit.keywords import DEFAULT_LEXICON, Category, match_notes
from features.pit.timeline import FEW_VALUES, NAT
from tests.strategies import dataset

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def day(d: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(days=d)


def hour(h: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=h)


def make(tables: dict[str, list[dict]], exported: float = 365, **manifest: object) -> Dataset:
    return dataset(Manifest(source="test", exported_at=day(exported), **manifest), tables)


def features(ds: Dataset, entity: str, cutoffs: list[pd.Timestamp], entity_id: str | None = None) -> pd.DataFrame:
    """Features of one entity (the first in its table by default) at each cutoff."""
    if entity_id is None:
        entity_id = ds.get("leads" if entity == "lead" else "opportunities").iloc[0, 0]
    frame = pd.DataFrame({"entity_id": [entity_id] * len(cutoffs), "cutoff_time": cutoffs})
    return build_features(ds, entity, frame)


LEAD = {"lead_id": "L1", "created_at": T0, "source": "web", "owner_rep_id": "R1"}
DEAL = {"opportunity_id": "O1", "created_at": T0, "owner_rep_id": "R1", "amount": 100.0, "product": "P"}


def act(kind: str, occurred: pd.Timestamp, **fields: object) -> dict:
    entity = fields.pop("entity_type", "lead")
    default_id = "L1" if entity == "lead" else "O1"
    return {
        "activity_id": f"A{kind}{occurred.value}{fields.get('recorded_at', '')}",
        "entity_type": entity,
        "entity_id": fields.pop("entity_id", default_id),
        "occurred_at": occurred,
        "type": kind,
        **fields,
    }


def test_first_response_latency_counts_only_outbound_activities_known_at_the_cutoff() -> None:
    acts = [
        act("web_visit", hour(1), direction="inbound"),
        act("call", hour(3), direction="outbound", recorded_at=hour(5)),  # logged two hours late
    ]
    got = features(make({"leads": [LEAD], "activities": acts}), "lead", [hour(2), hour(4), hour(6)])
    assert got["no_response_yet"].tolist() == [1, 1, 0]
    assert got["response_wait_h"].tolist() == [2, 4, 3]
    assert got["first_response_h"].iloc[:2].isna().all() and got["first_response_h"].iloc[2] == 3


def test_missing_direction_is_taken_from_the_type() -> None:
    acts = [act("form", hour(1)), act("email", hour(2))]
    got = features(make({"leads": [LEAD], "activities": acts}), "lead", [day(1)])
    assert got[["act_inbound_n_total", "act_outbound_n_total", "first_response_h"]].iloc[0].tolist() == [1, 1, 2]


def test_activation_needs_two_effective_interactions_known_within_seven_days() -> None:
    acts = [
        act("call", day(0.5), duration_s=30),  # too short to count
        act("call", day(1), duration_s=120),
        act("visit", day(5), recorded_at=day(9)),  # known only after the first week
        act("meeting", day(6)),
        act("meeting", day(8)),  # after the first week
        act("email", day(2)),  # not an interaction that counts
    ]
    got = features(make({"leads": [LEAD], "activities": acts}), "lead", [day(2), day(6), day(10)])
    assert got["effective_interactions_7d"].tolist() == [1, 2, 2]
    assert got["activated_7d"].tolist() == [0, 1, 1]


def test_windows_count_by_known_time_and_recency_by_occurrence() -> None:
    cutoff = day(50)
    acts = [
        act("call", cutoff),  # exactly at the cutoff: known
        act("call", cutoff - pd.Timedelta(hours=12)),
        act("email", cutoff - pd.Timedelta(days=20), recorded_at=cutoff - pd.Timedelta(hours=6)),  # back-filled
        act("call", cutoff - pd.Timedelta(days=3)),
        act("email", cutoff - pd.Timedelta(days=10)),
        act("call", cutoff - pd.Timedelta(days=40)),
        act("call", cutoff + pd.Timedelta(hours=1)),  # after the cutoff
        act("call", cutoff - pd.Timedelta(days=2), recorded_at=cutoff + pd.Timedelta(hours=1)),  # logged after
    ]
    got = features(make({"leads": [LEAD], "activities": acts}), "lead", [cutoff]).iloc[0]
    assert [got[f"act_all_n_{w}"] for w in ("total", "1d", "7d", "30d")] == [6, 3, 4, 5]
    assert [got[f"act_call_n_{w}"] for w in ("total", "1d", "7d", "30d")] == [4, 2, 3, 3]
    assert got["act_all_hours_since_last"] == 0
    assert got["act_email_hours_since_last"] == 24 * 10  # the back-filled one happened earlier
    assert got["act_trend_7d"] == (4 - 1) / (4 + 1)  # the e-mail 10 days back is in the prior week


def test_durations_and_web_dwell() -> None:
    acts = [act("web_visit", day(1), duration_s=90), act("call", day(2), duration_s=600), act("call", day(40))]
    got = features(make({"leads": [LEAD], "activities": acts}), "lead", [day(2)]).iloc[0]
    assert got["act_duration_min_total"] == 11.5 and got["web_dwell_min_total"] == 1.5


def test_decision_chain_counts_roles_met_by_the_cutoff() -> None:
    roles = ["cto", "cto", "ceo", "engineer", "finance"]
    acts = [act("meeting", day(i + 1), contact_role=r, entity_type="opportunity") for i, r in enumerate(roles)]
    got = features(make({"opportunities": [DEAL], "activities": acts}), "opportunity", [day(4), day(10)])
    assert got["roles_met_n"].tolist() == [3, 4]
    assert got["senior_roles_met_n"].tolist() == [2, 3]
    assert got["cto_touches_n"].tolist() == [2, 2]


def test_poc_length_runs_to_the_cutoff_until_it_ends() -> None:
    acts = [act("poc_start", day(3), entity_type="opportunity"), act("poc_end", day(10), entity_type="opportunity")]
    got = features(make({"opportunities": [DEAL], "activities": acts}), "opportunity", [day(1), day(5), day(12)])
    assert got["poc_days"].iloc[0] != got["poc_days"].iloc[0]  # no POC yet: NaN
    assert got["poc_days"].iloc[1:].tolist() == [2, 7]
    assert got["poc_running"].tolist() == [0, 1, 0]


def test_quote_and_contract_revisions_are_counted() -> None:
    acts = [act(k, day(d), entity_type="opportunity") for k, d in [("quote_sent", 1), ("quote_sent", 3)]]
    acts.append(act("contract_revision", day(4), entity_type="opportunity"))
    got = features(make({"opportunities": [DEAL], "activities": acts}), "opportunity", [day(3)]).iloc[0]
    assert (got["act_quote_sent_n_total"], got["act_contract_revision_n_total"]) == (2, 0)


def test_stage_dwell_regressions_and_days_per_stage() -> None:
    path = [("lead", 0), ("needs_confirmed", 2), ("demo", 12), ("needs_confirmed", 14), ("quote", 20)]
    changes = [{"opportunity_id": "O1", "stage": s, "changed_at": day(d)} for s, d in path]
    got = features(make({"opportunities": [DEAL], "stage_changes": changes}), "opportunity", [day(16), day(30)])
    first, last = got.iloc[0], got.iloc[1]
    assert (first["stage_index"], first["stage_max_index"], first["stage_changes_n"]) == (1, 2, 4)
    assert (first["days_in_stage"], first["stage_dwell_ratio"]) == (2, 2 / 8.5)
    assert first["stage_regressions_n"] == 1
    assert [first[f"stage_{s}_days"] for s in ("lead", "needs_confirmed", "demo", "quote")] == [2, 12, 2, 0]
    assert (last["stage_index"], last["days_in_stage"], last["stage_dwell_ratio"]) == (3, 10, 10 / 12.5)
    assert last["stage_needs_confirmed_days"] == 16


def test_unknown_stages_use_the_median_dwell() -> None:
    changes = [{"opportunity_id": "O1", "stage": "negotiation_round", "changed_at": day(1)}]
    got = features(make({"opportunities": [DEAL], "stage_changes": changes}), "opportunity", [day(7.5)]).iloc[0]
    assert math.isnan(got["stage_index"]) and got["stage_dwell_ratio"] == 6.5 / 6.5
    assert typical_dwell_days(["first_contact", "negotiation", "signing"]).tolist() == [4, 12.5, 2.5, 6.5]


def test_rep_win_rate_uses_only_deals_closed_by_the_cutoff() -> None:
    deals = [
        {**DEAL, "opportunity_id": "O1"},  # the open deal being scored
        {**DEAL, "opportunity_id": "D1", "closed_at": day(10), "outcome": "won"},
        {**DEAL, "opportunity_id": "D2", "closed_at": day(20), "outcome": "lost"},
        {**DEAL, "opportunity_id": "D3", "closed_at": day(30), "outcome": "won"},
    ]
    got = features(make({"opportunities": deals}), "opportunity", [day(5), day(15), day(25)])
    assert got["rep_deals_closed_n"].tolist() == [0, 1, 2]
    expected = [0.5, (1 + 5 * 2 / 3) / 6, (1 + 5 * 0.5) / 7]  # smoothed towards everyone's rate then
    assert np.allclose(got["rep_win_rate"], expected)
    assert got["rep_open_deals_n"].tolist() == [4, 3, 2]


def test_rep_lead_record_load_and_tenure() -> None:
    leads = [
        LEAD,
        {**LEAD, "lead_id": "L2", "converted_at": day(3)},
        {**LEAD, "lead_id": "L3", "disqualified_at": day(4)},
        {**LEAD, "lead_id": "L4", "created_at": day(6)},
    ]
    reps = [{"rep_id": "R1", "team": "east", "hired_at": day(-100), "left_at": day(8)}]
    got = features(make({"leads": leads, "reps": reps}), "lead", [day(2), day(5), day(9)])
    assert got["rep_open_leads_n"].tolist() == [3, 1, 2]
    assert np.allclose(got["rep_lead_conversion_rate"], [0.5, (1 + 5 * 0.5) / 7, (1 + 5 * 0.5) / 7])
    assert got["rep_tenure_days"].tolist() == [102, 105, 109]
    assert got["rep_has_left"].tolist() == [0, 0, 1]
    assert got["rep_team"].tolist() == ["east"] * 3


def test_a_few_rows_gather_a_reps_text_as_many_rows_do() -> None:
    """A request's few rows pick a rep's text from Python strings, a batch's many take it in Arrow: the same values
    and dtype, missing ones (no such rep, no value) included."""
    reps = [{"rep_id": "R1", "team": "east", "hired_at": day(0)}, {"rep_id": "R2", "hired_at": day(0)}]
    history = History.of(make({"reps": reps}))
    rows = np.array([1, -1, 0, 0])
    few = history.gathered("reps", "team", "text", rows)
    many = history.gathered("reps", "team", "text", np.tile(rows, FEW_VALUES))[: len(rows)]
    pd.testing.assert_extension_array_equal(few, many)
    assert pd.isna(few).tolist() == [True, True, False, False] and list(few[2:]) == ["east", "east"]
    hired = history.gathered("reps", "hired_at", "time", rows)
    assert hired.tolist() == [day(0).value, NAT, day(0).value, day(0).value]


def test_amount_against_the_rep_median_so_far() -> None:
    deals = [
        {**DEAL, "opportunity_id": "O1", "amount": 200.0, "created_at": day(2)},
        {**DEAL, "opportunity_id": "D1", "amount": 100.0, "created_at": day(0)},
        {**DEAL, "opportunity_id": "D2", "amount": 300.0, "created_at": day(1)},
        {**DEAL, "opportunity_id": "D3", "amount": 1000.0, "created_at": day(5)},
    ]
    got = features(make({"opportunities": deals}), "opportunity", [day(2), day(6)])
    assert got["amount_vs_rep_median"].tolist() == [1.0, 200 / 250]


def test_account_history_counts_closed_deals_by_the_cutoff() -> None:
    deals = [
        {**DEAL, "account_id": "C1"},
        {**DEAL, "opportunity_id": "D1", "account_id": "C1", "closed_at": day(10), "outcome": "won"},
        {**DEAL, "opportunity_id": "D2", "account_id": "C2", "closed_at": day(10), "outcome": "won"},
    ]
    accounts = [{"account_id": "C1", "industry": "saas", "employees": 50.0}]
    got = features(make({"opportunities": deals, "accounts": accounts}), "opportunity", [day(5), day(15)])
    assert got["account_deals_closed_n"].tolist() == [0, 1]
    assert got["account_deals_won_n"].tolist() == [0, 1]
    assert got["account_industry"].tolist() == ["saas", "saas"] and got["account_employees"].tolist() == [50, 50]


def test_notes_match_keywords_in_chinese_and_english() -> None:
    notes = ["客户预算审批中", "BUDGET APPROVAL confirmed", "客户在比价", "Customer also evaluating Nordtek", "已沟通"]
    acts = [act("meeting", day(i + 1), note=n, entity_type="opportunity") for i, n in enumerate(notes)]
    got = features(make({"opportunities": [DEAL], "activities": acts}), "opportunity", [day(1.5), day(10)])
    assert got["note_budget_approval_n"].tolist() == [1, 2]
    assert got["note_price_comparison_n"].tolist() == [0, 1]
    assert got["note_competitor_n"].tolist() == [0, 1]
    assert got["note_data_migration_n"].tolist() == [0, 0]


def test_a_custom_lexicon_gives_its_own_features() -> None:
    lexicon = {"rival": Category("对手", "rival", ("Nordtek", "华拓"))}
    mentions = match_notes(pd.Series(["vs nordtek", "华拓科技报价", None, "none"]), lexicon)
    assert mentions["rival"].tolist() == [True, True, False, False]
    ds = make({"leads": [LEAD], "activities": [act("call", day(1), note="Nordtek is cheaper")]})
    frame = pd.DataFrame({"entity_id": ["L1"], "cutoff_time": [day(2)]})
    got = build_features(ds, "lead", frame, lexicon=lexicon)
    assert got["note_rival_n"].tolist() == [1] and "note_budget_approval_n" not in got


def test_few_notes_and_many_notes_match_alike() -> None:
    """A request's few distinct notes are matched by a set of expressions, a history's many in Arrow: the same
    mentions, letters folded alike (Python's ``re`` would find "kiwi" in "KİWİ", RE2 does not)."""
    lexicon = {"rival": Category("对手", "rival", ("Nordtek", "华拓", "straße", "a.b+c", "KELVIN", "kiwi"))}
    notes = ["vs NORDTEK", "华拓科技报价", None, "none", "Strasse", "STRASSE 1", "straße", "a.b+c!", "axb+c", "kelvin"]
    notes += ["KİWİ", "Kiwi"]
    few = match_notes(pd.Series(notes), lexicon)["rival"]
    listed = match_notes(notes, lexicon)["rival"]
    padded = notes + [f"filler {i}" for i in range(FEW_VALUES)]  # past FEW_VALUES distinct: the Arrow pass
    many = match_notes(pd.Series(padded), lexicon)["rival"][: len(notes)]
    expected = [True, True, False, False, False, False, True, True, False, True, False, True]
    assert few.tolist() == listed.tolist() == many.tolist() == expected


def test_a_requests_notes_mention_what_each_categorys_phrases_find() -> None:
    """A request's notes (a list, matched against every category at once) mention exactly the categories whose own
    expression RE2 finds something in, as a Series of the same notes says."""
    notes = [
        "预算审批已过, also evaluating a competitor",  # two categories
        "GO-LIVE next month",
        None,
        "nothing to see",
        "预算审批已过, also evaluating a competitor",
        "客户在比价",
        "",
    ]
    got = match_notes(notes)
    assert got.keys() == DEFAULT_LEXICON.keys()
    for name, category in DEFAULT_LEXICON.items():
        found = pc.match_substring_regex(pa.array([note or "" for note in notes]), category.pattern).to_pylist()
        expected = [note is not None and hit for note, hit in zip(notes, found, strict=True)]
        assert got[name].tolist() == expected, name
        assert match_notes(pd.Series(notes, dtype="string"))[name].tolist() == expected, name
    assert sum(got[name][0] for name in got) == 2 and not any(got[name][3] for name in got)
    assert match_notes(["a lone \ud800 before the budget approval"])["budget_approval"].tolist() == [True]


def test_seasonality_of_the_cutoff_and_of_creation() -> None:
    ds = make({"leads": [{**LEAD, "created_at": pd.Timestamp("2024-02-10", tz="UTC")}]})
    got = features(ds, "lead", [pd.Timestamp("2024-03-31 12:00", tz="UTC"), pd.Timestamp("2024-04-01", tz="UTC")])
    assert got["cutoff_month_of_quarter"].tolist() == [3, 1]
    assert got["cutoff_days_to_quarter_end"].tolist() == [0.5, 91]
    assert got["created_month"].tolist() == [2, 2] and got["created_month_of_quarter"].tolist() == [2, 2]


def test_the_originating_lead_response_is_carried_to_its_deal() -> None:
    acts = [act("call", hour(5), direction="outbound")]
    deals = [{**DEAL, "lead_id": "L1", "created_at": day(3)}, {**DEAL, "opportunity_id": "O2", "created_at": day(3)}]
    ds = make({"leads": [LEAD], "opportunities": deals, "activities": acts})
    frame = pd.DataFrame({"entity_id": ["O1", "O2"], "cutoff_time": [day(4), day(4)]})
    got = build_features(ds, "opportunity", frame)
    assert got["lead_first_response_h"].iloc[0] == 5 and math.isnan(got["lead_first_response_h"].iloc[1])


def test_static_attributes_extras_and_excluded_columns() -> None:
    extras = [
        ExtraColumn("visits", "numeric"),
        ExtraColumn("tags", "categorical"),
        ExtraColumn("do_not_call", "boolean"),
        ExtraColumn("comment", "text"),
        ExtraColumn("lead_quality", "categorical"),
    ]
    lead = {**LEAD, "visits": 3, "tags": "Ringing", "do_not_call": True, "comment": "x", "lead_quality": "high"}
    ds = make(
        {"leads": [lead]},
        extra_columns={"leads": extras},
        excluded_columns={"leads": ["lead_quality", "region"]},
    )
    got = features(ds, "lead", [day(1)]).iloc[0]
    assert (got["source"], got["x_visits"], got["x_tags"], got["x_do_not_call"]) == ("web", 3.0, "Ringing", 1.0)
    for absent in ("x_comment", "region"):
        assert absent not in got
    # a post-outcome extra is built but flagged, so the training leakage guard can name and drop it
    assert got["x_lead_quality"] == "high"
    flagged = {f.name for f in feature_catalog(ds.manifest, "lead") if f.post_outcome}
    assert flagged == {"x_lead_quality"}


def test_missing_tables_give_empty_features_without_error() -> None:
    for entity, table, row in (("lead", "leads", LEAD), ("opportunity", "opportunities", DEAL)):
        got = features(make({table: [row]}), entity, [day(1)]).iloc[0]
        assert got["act_all_n_total"] == 0 and math.isnan(got["act_all_hours_since_last"])
        assert got["no_response_yet"] == 1 and math.isnan(got["rep_tenure_days"])
        if entity == "opportunity":
            assert got["stage_changes_n"] == 0 and math.isnan(got["stage_index"])


def test_every_feature_has_a_catalog_entry_with_both_names() -> None:
    manifest = Manifest(
        source="t", exported_at=day(9), extra_columns={"opportunities": [ExtraColumn("discount_pct", "numeric")]}
    )
    seen = set()
    for entity, table, row in (("lead", "leads", LEAD), ("opportunity", "opportunities", DEAL)):
        ds = dataset(manifest, {table: [row]})
        built = features(ds, entity, [day(1)])
        entries = {f.name: f for f in feature_catalog(manifest, entity)}
        added = [c for c in built.columns if c not in ("entity_id", "cutoff_time")]
        assert added == list(entries) == built.attrs["features"]
        assert all(f.zh and f.en and f.kind in ("numeric", "categorical") for f in entries.values())
        assert all(f.zh != f.en for f in entries.values() if not f.name.startswith("x_"))  # extras: source's header
        seen |= {f.concept for f in entries.values()}
    assert set(CONCEPTS) <= seen


def test_rows_keep_the_frame_order() -> None:
    acts = [act("call", day(d)) for d in (1, 2, 3)]
    ds = make({"leads": [LEAD, {**LEAD, "lead_id": "L2"}], "activities": acts})
    cut = [day(2.5), day(0.5), day(9), day(2.5)]
    frame = pd.DataFrame({"entity_id": ["L1", "L2", "L1", "L1"], "cutoff_time": cut, "mine": [1, 2, 3, 4]})
    got = build_features(ds, "lead", frame)
    assert got["mine"].tolist() == [1, 2, 3, 4] and got["act_all_n_total"].tolist() == [2, 0, 3, 2]


@pytest.mark.parametrize("execution", ["vectorised", "per_row"])
def test_features_share_no_memory_with_the_dataset(execution: str) -> None:
    """A frame of the table's rows in order (a request's) is built without reordering: its columns must still be
    the output's own, so that changing the features leaves the dataset as it was."""
    extras = [ExtraColumn("visits", "numeric")]
    leads = [{**LEAD, "visits": 3.0}, {**LEAD, "lead_id": "L2", "visits": 5.0}]
    ds = make({"leads": leads, "activities": [act("call", day(1))]}, extra_columns={"leads": extras})
    frame = pd.DataFrame({"entity_id": ["L1", "L2"], "cutoff_time": [day(2), day(2)]})
    got = build_features(ds, "lead", frame, execution=execution)
    tables = [np.asarray(c) for t in ds.tables.values() for _, c in t.items() if c.dtype.kind in "fiub"]
    for name in got.attrs["features"]:
        values = got[name].to_numpy()
        assert not any(np.shares_memory(values, t) for t in tables), name


def test_lead_snapshots_are_of_open_leads_with_censored_labels() -> None:
    leads = [
        {**LEAD, "lead_id": "open"},
        {**LEAD, "lead_id": "converts", "converted_at": day(10)},
        {**LEAD, "lead_id": "disqualified", "disqualified_at": day(12)},
    ]
    frame = entity_frame(make({"leads": leads}, exported=20), "lead")
    by = {k: g.set_index("cutoff_time") for k, g in frame.groupby("entity_id")}
    ages = [hour(1), day(1), day(3), day(7), day(14)]
    assert list(by["open"].index) == ages and list(by["converts"].index) == ages[:4]
    assert list(by["disqualified"].index) == ages[:4]
    assert by["open"]["label"].isna().all() and by["open"]["censored"].all()  # horizon runs past the export
    assert by["converts"]["label"].tolist() == [True] * 4 and not by["converts"]["censored"].any()
    assert by["disqualified"]["label"].tolist() == [False] * 4  # resolved within the horizon: not censored
    assert not frame["static_snapshot"].any()


def test_lead_horizon_and_ages_are_arguments() -> None:
    ds = make({"leads": [{**LEAD, "converted_at": day(5)}]}, exported=100)
    frame = entity_frame(ds, "lead", lead_ages=[pd.Timedelta(days=2), pd.Timedelta(days=4)], horizon_days=2)
    assert frame["cutoff_time"].tolist() == [day(2), day(4)] and frame["label"].tolist() == [False, True]


def test_deal_snapshots_are_weekly_while_open_with_horizon_labels() -> None:
    deals = [{**DEAL, "closed_at": day(40), "outcome": "won"}, {**DEAL, "opportunity_id": "open"}]
    frame = entity_frame(make({"opportunities": deals}, exported=50), "opportunity")
    won = frame[frame["entity_id"] == "O1"]
    assert won["cutoff_time"].tolist() == [day(7 * k) for k in range(6)]
    assert won["label"].all() and won["label_30d"].tolist() == [False, False, True, True, True, True]
    still_open = frame[frame["entity_id"] == "open"]
    assert len(still_open) == 8 and still_open["censored"].all() and still_open["label"].isna().all()
    assert still_open["label_30d"].tolist() == [False, False, False] + [pd.NA] * 5


def test_a_one_snapshot_dataset_gives_one_row_per_lead_at_creation() -> None:
    leads = [{**LEAD, "converted_at": day(0)}, {**LEAD, "lead_id": "L2"}]
    ds = make({"leads": leads}, exported=0, has_event_times=False)
    frame = entity_frame(ds, "lead")
    assert frame["cutoff_time"].tolist() == [T0, T0] and frame["static_snapshot"].all()
    assert frame["label"].tolist() == [True, False] and not frame["censored"].any()
    built = build_features(ds, "lead", frame)
    assert built["static_snapshot"].all() and len(built) == 2


def test_scoring_frame_is_every_open_entity_at_the_export() -> None:
    leads = [LEAD, {**LEAD, "lead_id": "L2", "converted_at": day(3)}, {**LEAD, "lead_id": "L3", "created_at": day(9)}]
    frame = scoring_frame(make({"leads": leads}, exported=5), "lead")
    assert frame["entity_id"].tolist() == ["L1"] and frame["cutoff_time"].tolist() == [day(5)]


def test_cutoffs_csv_is_read_with_its_labels(tmp_path: Path) -> None:
    path = tmp_path / "cutoffs.csv"
    path.write_text("entity_id,cutoff_time,label\nL1,2024-01-02T08:00:00+08:00,1\nL1,2024-01-03,0\n")
    frame = entity_frame(make({"leads": [LEAD]}), "lead", cutoffs_csv=path)
    assert frame["cutoff_time"].tolist() == [day(1), day(2)] and frame["label"].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("entity,cutoff_time\nL1,2024-01-02\n", "missing column"),
        ("entity_id,cutoff_time\nL1,someday\n", "line 2: unreadable cutoff_time 'someday'"),
        ("entity_id,cutoff_time\nL9,2024-01-02\n", "not lead ids"),
        ("entity_id,cutoff_time\nL1,2023-12-31\n", "before the lead was created"),
        ("", "unreadable cutoffs CSV"),
    ],
)
def test_a_bad_cutoffs_csv_is_one_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "cutoffs.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as raised:
        entity_frame(make({"leads": [LEAD]}), "lead", cutoffs_csv=path)
    assert "\n" not in str(raised.value)


def test_unknown_entity_and_policy_are_data_errors() -> None:
    ds = make({"leads": [LEAD]})
    with pytest.raises(DataError, match="unknown entity"):
        entity_frame(ds, "account")
    with pytest.raises(DataError, match="unknown snapshot policy"):
        entity_frame(ds, "lead", policy="monthly")


def test_summary_table_reports_rows_features_and_labels() -> None:
    ds = make({"leads": [{**LEAD, "converted_at": day(2)}]}, exported=100)
    table = build_features(ds, "lead", entity_frame(ds, "lead"))
    summary = summary_table(table, "lead", Path("out.parquet"))
    cells = [str(c) for column in summary.columns for c in column._cells]
    assert "out.parquet" in cells and str(len(table.attrs["features"])) in cells


def test_each_lexicon_gets_its_own_note_features() -> None:
    """Note features are composed once per lexicon: another lexicon, or the default again, gets its own, and a
    caller changing the list it was given changes no later one."""
    rival = {"rival": Category("对手", "rival", ("Nordtek",))}
    default = note_features()
    default.clear()
    assert [f.name for f in note_features(rival)] == ["note_rival_n"]
    assert [f.name for f in note_features()] == [f"note_{name}_n" for name in DEFAULT_LEXICON]
