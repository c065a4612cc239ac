"""What-if actions on the small CRM's champions: the rules that keep done and impossible actions out, the refusals,
and ``salesml whatif`` as a user runs it."""

from __future__ import annotations

import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset, to_utc_scalar
from features.errors import DataError
from features.insights.whatif import STAGE_RULES, what_if
from features.scoring.pyfunc import CHAMPION, load_registered
from features.scoring.scorer import Scorer
from tests.helpers import Stores, assert_one_line_error, salesml


@pytest.fixture(scope="module")
def crm(small_crm: Stores) -> tuple[Dataset, dict[str, Scorer]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESML_STORE", small_crm.env["SALESML_STORE"])
        mp.setenv("MLFLOW_TRACKING_URI", small_crm.env["MLFLOW_TRACKING_URI"])
        scorers = {name: load_registered(name, CHAMPION)[0] for name in ("lead_score", "close_probability")}
    return read_dataset(small_crm.data), scorers


def _open(ds: Dataset, table: str, key: str, ends: tuple[str, ...]) -> list[str]:
    rows = ds.get(table)
    still_open = pd.concat([rows[end].isna() for end in ends], axis=1).all(axis=1)
    return rows.loc[still_open, key].astype(str).tolist()


def test_a_new_senior_meeting_shows_in_the_decision_chain(crm) -> None:
    ds, scorers = crm
    at = to_utc_scalar(ds.manifest.exported_at)
    answers = what_if(
        ds, scorers["close_probability"], _open(ds, "opportunities", "opportunity_id", ("closed_at",)), at
    )
    meetings = [o for a in answers for o in a.options if o.action in ("meet_ceo", "meet_cfo")]
    assert meetings
    assert all(o.occurs_at == at for o in meetings)
    assert any("decision_chain" in {m.factor for m in o.moved} for o in meetings)
    for o in (o for a in answers for o in a.options if abs(o.change) >= 0.01):
        assert o.moved and sum(m.change for m in o.moved) * o.change > 0  # the moved factors carry the change
    for a in answers:
        assert a.stage in STAGE_RULES["quote_revision"] or "quote_revision" not in {o.action for o in a.options}


def test_a_lead_gets_no_poc_or_quote_and_a_new_one_can_be_answered_within_the_hour(crm) -> None:
    ds, scorers = crm
    leads = ds.get("leads")
    lead = leads[leads["converted_at"].notna()].iloc[0]
    at = lead["created_at"] + pd.Timedelta(minutes=1)  # before anyone answered
    acts = ds.get("activities")
    assert not ((acts["entity_id"] == lead["lead_id"]) & (acts["occurred_at"] <= at)).any()
    ds_new = Dataset(ds.manifest, {**ds.tables, "activities": acts[acts["entity_id"] != lead["lead_id"]]})
    (answer,) = what_if(ds_new, scorers["lead_score"], [lead["lead_id"]], at, locale="en")
    skipped = {s.action: s.reason for s in answer.skipped}
    assert skipped["poc_start"] == skipped["quote_revision"] == "needs a deal (a lead has no POC or quote yet)"
    assert {"inbound_response", "follow_up", "meet_cto", "demo"} <= {o.action for o in answer.options}
    (later,) = what_if(ds_new, scorers["lead_score"], [lead["lead_id"]], at + pd.Timedelta(hours=2), locale="en")
    assert {s.action: s.reason for s in later.skipped}[
        "inbound_response"
    ] == "the latest inbound contact is more than 1 h old"


def test_closed_deals_and_unknown_actions_are_refused(crm) -> None:
    ds, scorers = crm
    deals = ds.get("opportunities")
    won = deals[deals["outcome"] == "won"].iloc[0]
    at = to_utc_scalar(ds.manifest.exported_at)
    with pytest.raises(DataError, match="is closed \\(won"):
        what_if(ds, scorers["close_probability"], [won["opportunity_id"]], at)
    with pytest.raises(DataError, match="unknown action 'fly'"):
        what_if(ds, scorers["close_probability"], [won["opportunity_id"]], at, ["fly"])


@pytest.mark.slow  # salesml processes
def test_the_command_ranks_a_deals_actions(small_crm: Stores, crm) -> None:
    ds, _ = crm
    deal_id = _open(ds, "opportunities", "opportunity_id", ("closed_at",))[0]
    done = salesml("whatif", "--data", small_crm.data, "--opportunity", deal_id, "--locale", "en", env=small_crm.env)
    assert done.returncode == 0, done.stderr
    assert f"What-if for {deal_id}" in done.stdout and "p with" in done.stdout
    lead_id = _open(ds, "leads", "lead_id", ("converted_at", "disqualified_at"))[0]
    lead = salesml("whatif", "--data", small_crm.data, "--lead", lead_id, "--locale", "en", env=small_crm.env)
    assert lead.returncode == 0, lead.stderr
    assert "lead_score" in lead.stdout and "needs a deal" in lead.stdout


@pytest.mark.slow  # salesml processes
def test_the_command_refuses_in_one_line(small_crm: Stores, crm) -> None:
    ds, _ = crm
    deals = ds.get("opportunities")
    closed = str(deals.loc[deals["outcome"] == "lost", "opportunity_id"].iloc[0])
    for args, fragment in (
        (("--opportunity", closed), "is closed (lost"),
        (("--opportunity", "O-nope"), "not in the data"),
        ((), "give one of --opportunity ID or --lead ID"),
        (("--opportunity", closed, "--action", "fly"), "unknown action 'fly'"),
        (("--opportunity", closed, "--as-of", "yesterday-ish"), "--as-of"),
    ):
        assert_one_line_error(salesml("whatif", "--data", small_crm.data, *args, env=small_crm.env), fragment)
