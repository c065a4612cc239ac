"""Lead routing: the rep-fit features are point-in-time, each hard rule decides when it applies, nobody
qualifying means manual, and the load cap skips busy reps.

The ranking model here is a plain rule (the rep's smoothed conversion in the lead's industry), so that these tests
check the routing rules, not a trained model; ``tests/insights/test_routing_quality.py`` routes with a trained one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.crm.dataset import Dataset, conform, read_dataset
from features.insights.routing import MANUAL, LeadToRoute, Routing, eligible_reps, route
from features.pit.build import build_features
from tests.pit.test_features import LEAD, day, features, make


class IndustryFit:
    """Ranks reps by their smoothed conversion on leads of the lead's industry (a feature routing adds)."""

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"probability": table["rep_industry_conversion_rate"].to_numpy()})


# --- the rep-fit features ---------------------------------------------------------------------------------------


def _fit_history() -> Dataset:
    """R1's leads: two in retail (one converted on day 3, one disqualified on day 20), one software lead converted
    on day 4; L9 is the retail lead to featurise."""
    leads = [
        {**LEAD, "lead_id": "L9", "industry": "retail", "source": "web", "created_at": day(1)},
        {**LEAD, "lead_id": "L1", "industry": "retail", "source": "web", "converted_at": day(3)},
        {**LEAD, "lead_id": "L2", "industry": "retail", "source": "ads", "disqualified_at": day(20)},
        {**LEAD, "lead_id": "L3", "industry": "software", "source": "web", "converted_at": day(4)},
        {**LEAD, "lead_id": "L4", "industry": "retail", "source": "web", "owner_rep_id": "R2", "converted_at": day(2)},
    ]
    return make({"leads": leads, "reps": [{"rep_id": "R1"}, {"rep_id": "R2"}]})


def test_rep_fit_rates_use_only_the_reps_leads_resolved_by_the_cutoff() -> None:
    got = features(_fit_history(), "lead", [day(1), day(5), day(30)], "L9")
    overall = got["rep_lead_conversion_rate"].to_numpy()
    industry = got["rep_industry_conversion_rate"].to_numpy()
    source = got["rep_source_conversion_rate"].to_numpy()
    # day 1: nothing resolved, both rates are the rep's overall rate
    assert industry[0] == pytest.approx(overall[0]) and source[0] == pytest.approx(overall[0])
    # day 5: R1's retail lead L1 converted (L2 still open, R2's L4 is not R1's): 1 of 1, smoothed to overall
    assert industry[1] == pytest.approx((1 + 5 * overall[1]) / 6)
    assert source[1] == pytest.approx((2 + 5 * overall[1]) / 7)  # web: L1 and the software lead L3
    # day 30: retail 1 of 2 (L2 disqualified), web 2 of 2 (L1, L3)
    assert industry[2] == pytest.approx((1 + 5 * overall[2]) / 7)
    assert source[2] == pytest.approx((2 + 5 * overall[2]) / 7)


def test_rep_fit_rates_ignore_what_happens_after_the_cutoff() -> None:
    ds = _fit_history()
    before = features(ds, "lead", [day(5)], "L9")
    later = ds.tables["leads"].copy()
    later.loc[later["lead_id"] == "L2", ["disqualified_at", "converted_at"]] = [pd.NaT, day(6)]  # resolved after
    later = pd.concat(
        [later, later.iloc[[1]].assign(lead_id="L5", created_at=day(6), converted_at=day(7))], ignore_index=True
    )
    after = features(Dataset(ds.manifest, {**ds.tables, "leads": later}), "lead", [day(5)], "L9")
    names = ["rep_lead_conversion_rate", "rep_industry_conversion_rate", "rep_source_conversion_rate"]
    assert after[names].equals(before[names])


def test_an_owner_override_scores_the_lead_as_if_that_rep_owned_it() -> None:
    ds = _fit_history()
    frame = pd.DataFrame({"entity_id": ["L9", "L9", "L9"], "cutoff_time": [day(5)] * 3})
    plain = build_features(ds, "lead", frame)
    as_r1 = build_features(ds, "lead", frame.assign(owner_rep_id=["R1", None, "R1"]))
    as_r2 = build_features(ds, "lead", frame.assign(owner_rep_id="R2"))
    names = plain.attrs["features"]
    assert as_r1[names].equals(plain[names])  # its own owner, or no override: nothing changes
    r2_overall = as_r2["rep_lead_conversion_rate"].iloc[0]
    assert as_r2["rep_industry_conversion_rate"].iloc[0] == pytest.approx((1 + 5 * r2_overall) / 6)  # R2's L4
    assert r2_overall != pytest.approx(as_r1["rep_lead_conversion_rate"].iloc[0])
    r2_alone = features(ds, "lead", [day(5)], "L4")  # R2's own lead, same cutoff: the same rep record
    assert as_r2["rep_lead_conversion_rate"].iloc[0] == pytest.approx(r2_alone["rep_lead_conversion_rate"].iloc[0])


def test_an_owner_override_counts_the_lead_in_that_reps_record() -> None:
    """Scored as if R2 owned L9, L9 is one of R2's leads (open, then converted on day 7), as in a history where R2
    owns it: every feature equals that history's, before and after L9 is resolved."""
    base = _fit_history()
    leads = base.tables["leads"].copy()
    leads.loc[leads["lead_id"] == "L9", "converted_at"] = day(7)
    ds = Dataset(base.manifest, {**base.tables, "leads": leads})
    r2_owns = leads.assign(owner_rep_id=leads["owner_rep_id"].mask(leads["lead_id"] == "L9", "R2"))
    frame = pd.DataFrame({"entity_id": ["L9"] * 3, "cutoff_time": [day(5), day(8), day(30)]})
    as_r2 = build_features(ds, "lead", frame.assign(owner_rep_id="R2"))
    truth = build_features(Dataset(ds.manifest, {**ds.tables, "leads": r2_owns}), "lead", frame)
    names = truth.attrs["features"]
    pd.testing.assert_frame_equal(as_r2[names], truth[names])
    assert truth["rep_open_leads_n"].tolist() == [1, 0, 0]  # L9 itself while open
    assert truth["rep_lead_conversion_rate"].iloc[1] > truth["rep_lead_conversion_rate"].iloc[0]  # L9 converted


# --- the routing rules on a simulated CRM ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def crm(small_data: Path) -> Dataset:
    return read_dataset(small_data)


def _new_lead(ds: Dataset, account: str | None = None) -> tuple[Dataset, str, pd.Timestamp]:
    """A brand-new lead at the export time (no account unless given), added to the history."""
    at = pd.Timestamp(ds.manifest.exported_at)
    leads = ds.tables["leads"]
    last = leads.iloc[-1]
    row = {"lead_id": "L-NEW", "created_at": at, "account_id": account}
    row |= {name: last[name] for name in ("source", "region", "industry", "company_size")}
    row = conform("leads", pd.DataFrame([row]))
    return Dataset(ds.manifest, {**ds.tables, "leads": pd.concat([leads, row], ignore_index=True)}), "L-NEW", at


def _route(ds: Dataset, lead: str, at: pd.Timestamp, **ask: object) -> Routing:
    cap = ask.pop("cap_factor", None)
    return route(ds, IndustryFit(), LeadToRoute(lead, at, **ask), cap_factor=cap, locale="en")  # type: ignore[arg-type]


def test_reps_who_left_or_are_inactive_are_never_chosen(crm: Dataset) -> None:
    ds, lead, at = _new_lead(crm)
    reps = ds.tables["reps"]
    gone = set(reps.loc[reps["left_at"].le(at).fillna(False), "rep_id"])
    inactive = set(reps.loc[reps["active"].eq(False).fillna(False), "rep_id"])
    assert gone and inactive - gone, "the simulator plants left reps and reps marked inactive who have not left"
    stale = gone - inactive
    assert stale, "some reps who left still show as active (stale HR status)"
    got = _route(ds, lead, at)
    ranked = {c.rep_id for c in got.candidates}
    assert ranked.isdisjoint(gone | inactive)
    assert got.decision not in gone | inactive and got.rule == "model"
    reasons = {e.rep_id: e.reason for e in got.excluded}
    assert all(reasons[r] == "left" for r in gone) and all(reasons[r] == "inactive" for r in inactive - gone)
    # even named as candidates or as the customer's choice, they are not chosen
    only_gone = _route(ds, lead, at, candidates=tuple(sorted(stale)), preferred_rep_id=sorted(stale)[0])
    assert only_gone.decision == MANUAL and only_gone.rule == "no_eligible_rep"
    assert any("not eligible" in note for note in only_gone.notes)


def test_the_customers_chosen_rep_wins(crm: Dataset) -> None:
    ds, lead, at = _new_lead(crm)
    plain = _route(ds, lead, at)
    last = plain.candidates[-1].rep_id
    chosen = _route(ds, lead, at, preferred_rep_id=last)
    assert (chosen.decision, chosen.rule) == (last, "preferred_rep")
    assert last in chosen.basis


def test_an_owned_account_stays_with_its_rep(crm: Dataset) -> None:
    eligible, _, _ = eligible_reps(crm, pd.Timestamp(crm.manifest.exported_at), None, "en")
    leads = crm.tables["leads"].sort_values("created_at")
    owned = leads[leads["owner_rep_id"].isin(eligible["rep_id"]) & leads["account_id"].notna()].iloc[-1]
    ds, lead, at = _new_lead(crm, account=owned["account_id"])
    got = _route(ds, lead, at)
    later = crm.tables["opportunities"]
    later = later[later["account_id"].eq(owned["account_id"]) & later["created_at"].gt(owned["created_at"])]
    owner = later.sort_values("created_at")["owner_rep_id"].iloc[-1] if len(later) else owned["owner_rep_id"]
    assert (got.decision, got.rule) == (owner, "account_owner")
    # the customer's choice comes first
    other = next(c.rep_id for c in got.candidates if c.rep_id != owner)
    assert _route(ds, lead, at, preferred_rep_id=other).decision == other


def test_after_three_failed_routings_a_person_decides(crm: Dataset) -> None:
    ds, lead, at = _new_lead(crm)
    assert _route(ds, lead, at, failed_routings=2).rule == "model"
    got = _route(ds, lead, at, failed_routings=3, preferred_rep_id=_route(ds, lead, at).decision)
    assert (got.decision, got.rule) == (MANUAL, "failed_routings")
    assert got.candidates, "the ranking is still shown to the person who decides"


def test_no_qualifying_rep_is_manual_not_a_guess(crm: Dataset) -> None:
    ds, lead, at = _new_lead(crm)
    got = _route(ds, lead, at, candidates=("R9999",))
    assert (got.decision, got.rule, got.candidates) == (MANUAL, "no_eligible_rep", [])
    assert [(e.rep_id, e.reason) for e in got.excluded] == [("R9999", "unknown_rep")]


def test_the_load_cap_skips_busy_reps(crm: Dataset) -> None:
    ds, lead, at = _new_lead(crm)
    got = _route(ds, lead, at, cap_factor=1.0)
    assert got.load_cap is not None
    busy = [c for c in got.candidates if c.open_leads >= got.load_cap]
    assert busy and all(c.model_rank is None for c in busy)
    assert got.candidates[-len(busy) :] == busy, "capped reps are listed last"
    chosen = next(c for c in got.candidates if c.rep_id == got.decision)
    assert chosen.open_leads < got.load_cap
    uncapped = _route(ds, lead, at)
    assert all(c.model_rank is not None for c in uncapped.candidates)


def test_region_comes_first_in_both_rankings(crm: Dataset) -> None:
    ds, lead, at = _new_lead(crm)
    got = _route(ds, lead, at)
    matches = [c.region_match for c in got.candidates]
    assert any(matches) and matches == sorted(matches, reverse=True)
    by_rule = sorted(got.candidates, key=lambda c: c.rule_rank)
    assert [c.region_match for c in by_rule] == sorted(matches, reverse=True)
    in_region = [c for c in by_rule if c.region_match]
    assert [c.won_customers_90d for c in in_region] == sorted((c.won_customers_90d for c in in_region), reverse=True)
    probabilities = [c.probability for c in got.candidates if c.region_match]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(c.reasons for c in got.candidates) and got.basis


def test_without_an_active_column_routing_goes_on_with_a_note(crm: Dataset) -> None:
    ds, lead, at = _new_lead(crm)
    reps = ds.tables["reps"].drop(columns="active")
    got = _route(replace(ds, tables={**ds.tables, "reps": reps}), lead, at)
    assert got.rule == "model" and any("reps.active" in note for note in got.notes)
    assert all(e.reason != "inactive" for e in got.excluded)


def test_the_simulator_plants_preferred_reps_and_an_hr_status(crm: Dataset) -> None:
    leads = crm.tables["leads"]
    named = leads["preferred_rep_id"].notna()
    assert 0.02 < named.mean() < 0.1
    honoured = leads.loc[named, "preferred_rep_id"] == leads.loc[named, "owner_rep_id"]
    assert honoured.mean() > 0.9  # routing honoured the choice (planted duplicates may sit with another rep)
    assert np.isfinite(crm.tables["reps"]["active"].astype(float)).all()
