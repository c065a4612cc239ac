"""A scoring request's entities and histories give exactly the features batch scoring builds (no serving skew)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from features.crm.dataset import Dataset, read_dataset
from features.insights.forecast import scoring_frame
from features.pit.build import build_features
from features.pit.history import History
from serving.context import ServingContext
from serving.schemas.scoring import (
    ActivityIn,
    LeadIn,
    LeadScoreRequest,
    OpportunityIn,
    OpportunityScoreRequest,
    StageIn,
)
from tests.helpers import deal_request, lead_request


@pytest.fixture(scope="module")
def ds(small_data: Path) -> Dataset:
    return read_dataset(small_data)


@pytest.fixture(scope="module")
def context(ds: Dataset, tmp_path_factory: pytest.TempPathFactory) -> ServingContext:
    """The context as the service has it: written by the export and read back."""
    out = tmp_path_factory.mktemp("context") / "context"
    ServingContext.write(ds, out)
    return ServingContext.read(out)


def test_request_features_equal_batch_features(ds: Dataset, context: ServingContext) -> None:
    leads = ds.get("leads")
    as_of = leads["created_at"].quantile(0.8) + pd.Timedelta(days=3)
    open_then = leads[
        (leads["created_at"] <= as_of) & ~(leads["converted_at"] <= as_of) & ~(leads["disqualified_at"] <= as_of)
    ]
    ids = open_then.sort_values("created_at")["lead_id"].tail(40).tolist()
    request = lead_request(ds, ids, as_of)
    assert sum(len(lead.activities) for lead in request.leads) > 40
    prepared = context.leads(request)
    batch = build_features(ds, "lead", prepared.frame)
    online = prepared.features()
    pd.testing.assert_frame_equal(online, batch, check_dtype=False)
    assert len(prepared.dataset.get("activities")) < len(ds.get("activities")) / 10  # only what the rows read


def test_the_indexed_history_counts_what_the_request_changes(ds: Dataset, context: ServingContext) -> None:
    """Leads the export resolved, sent again with another owner and no outcome, beside brand-new leads: the
    export's indexed history adjusted by the request counts exactly what the export holds with the request's leads
    in place of its rows for them."""
    leads = ds.get("leads")
    as_of = leads["created_at"].max()
    resolved = leads[leads["converted_at"].notna() & leads["owner_rep_id"].notna()].head(20)
    request = lead_request(ds, resolved["lead_id"].tolist(), as_of)
    reps = sorted(leads["owner_rep_id"].dropna().unique())
    moved = [lead.model_copy(update={"owner_rep_id": reps[i % len(reps)]}) for i, lead in enumerate(request.leads)]
    new = [lead.model_copy(update={"lead_id": f"new-{lead.lead_id}"}) for lead in request.leads[:5]]
    prepared = context.leads(request.model_copy(update={"leads": moved + new}))
    indexed = prepared.features()
    counted = build_features(context.with_leads(prepared), "lead", prepared.frame)
    pd.testing.assert_frame_equal(indexed, counted)
    export = build_features(ds, "lead", prepared.frame.head(len(moved)))
    assert (indexed["rep_open_leads_n"].head(len(moved)) != export["rep_open_leads_n"]).any()  # the request counted


def test_requests_prepared_together_give_each_its_own_features(ds: Dataset, context: ServingContext) -> None:
    """Calls batched together (serving.batching): each row is built as of its own request's time, as if alone."""
    leads = ds.get("leads").sort_values("created_at")
    ats = [leads["created_at"].quantile(q) + pd.Timedelta(days=2) for q in (0.5, 0.8)]
    requests = [
        lead_request(ds, leads[leads["created_at"] <= at]["lead_id"].tail(n).tolist(), at)
        for at, n in zip(ats, (3, 4), strict=True)
    ]
    requests[1] = requests[1].model_copy(
        update={
            "leads": [lead for lead in requests[1].leads if lead.lead_id not in {x.lead_id for x in requests[0].leads}]
        }
    )
    together = context.leads(*requests).features()
    alone = pd.concat([context.leads(r).features() for r in requests], ignore_index=True)
    pd.testing.assert_frame_equal(together, alone)
    assert together["cutoff_time"].nunique() == 2


def test_deal_request_features_equal_batch_features(ds: Dataset, context: ServingContext) -> None:
    deals = ds.get("opportunities")
    as_of = deals["created_at"].quantile(0.7)
    open_then = deals[(deals["created_at"] <= as_of - pd.Timedelta(days=20)) & ~(deals["closed_at"] <= as_of)]
    ids = open_then["opportunity_id"].head(30).tolist()
    request = deal_request(ds, ids, as_of)
    assert sum(len(d.stages) for d in request.opportunities) > 30
    assert sum(len(d.activities) for d in request.opportunities) > 30
    prepared = context.opportunities(request)
    batch = build_features(ds, "opportunity", prepared.frame)
    online = prepared.features()
    assert online["lead_first_response_h"].notna().any()  # the originating leads' histories came from the context
    pd.testing.assert_frame_equal(online, batch, check_dtype=False)


def test_a_brand_new_lead_with_no_history_is_valid(context: ServingContext) -> None:
    now = pd.Timestamp("2026-01-05T09:00:00Z")
    request = LeadScoreRequest(leads=[LeadIn(lead_id="new-1", created_at=now.to_pydatetime())], as_of=now)
    prepared = context.leads(request)
    table = prepared.features()
    assert table.loc[0, "no_response_yet"] == 1
    assert table.loc[0, "act_all_n_total"] == 0


def test_times_without_a_zone_are_utc() -> None:
    lead = LeadIn(lead_id="a", created_at="2025-03-01T08:00:00")
    assert lead.created_at.utcoffset().total_seconds() == 0
    shifted = LeadIn(lead_id="b", created_at="2025-03-01T16:00:00+08:00")
    assert shifted.created_at == lead.created_at


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (
            {"leads": [{"lead_id": "a", "created_at": "2025-03-02T00:00:00Z"}], "as_of": "2025-03-01T00:00:00Z"},
            "leads[0].created_at is after as_of",
        ),
        (
            {
                "leads": [
                    {
                        "lead_id": "a",
                        "created_at": "2025-03-01T00:00:00Z",
                        "activities": [{"occurred_at": "2025-03-03T00:00:00Z", "type": "call"}],
                    }
                ],
                "as_of": "2025-03-02T00:00:00Z",
            },
            "leads[0].activities[0].occurred_at is after as_of",
        ),
        (
            {
                "leads": [
                    {
                        "lead_id": "a",
                        "created_at": "2025-03-01T00:00:00Z",
                        "activities": [
                            {"occurred_at": "2025-03-01T01:00:00Z", "type": "call", "duration_s": float("nan")}
                        ],
                    }
                ]
            },
            "finite",
        ),
        *(
            (
                {
                    "leads": [
                        {
                            "lead_id": "a",
                            "created_at": "2025-03-01T00:00:00Z",
                            "activities": [{"occurred_at": "2025-03-01T01:00:00Z", "type": "call", "duration_s": v}],
                        }
                    ]
                },
                "valid number",
            )
            for v in ("NaN", True, "60")  # strict: text and booleans are not numbers
        ),
        *(
            (
                {
                    "leads": [
                        {
                            "lead_id": "a",
                            "created_at": "2025-03-01T00:00:00Z",
                            "activities": [{"occurred_at": "2025-03-01T01:00:00Z", "type": "call", "recorded_at": t}],
                        }
                    ]
                },
                "not a number",
            )
            for t in (0, 1_740_000_000, 1.5)  # a number would be read as seconds since 1970
        ),
        ({"leads": [{"lead_id": "a", "created_at": 1_740_000_000}]}, "not a number"),
        ({"leads": []}, "at least 1"),
        ({"leads": [{"lead_id": str(i), "created_at": "2025-03-01T00:00:00Z"} for i in range(1001)]}, "at most 1000"),
        ({"leads": [{"lead_id": "a", "created_at": "2025-03-01T00:00:00Z"}], "locale": "fr"}, "locale"),
        ({"leads": [{"lead_id": "a", "created_at": "2025-03-01T00:00:00Z"}] * 2}, "leads[1].lead_id repeats leads[0]"),
        ({"leads": [{"lead_id": "a", "created_at": "2025-03-01T00:00:00Z", "sorce": "ads"}]}, "sorce"),
    ],
)
def test_bad_requests_name_the_field(payload: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        LeadScoreRequest.model_validate(payload)
    assert fragment in str(err.value)


def test_request_rows_replace_the_contexts_rows_for_that_lead(ds: Dataset, context: ServingContext) -> None:
    lead = ds.get("leads").iloc[0]
    as_of = lead["created_at"] + pd.Timedelta(days=1)
    request = LeadScoreRequest(
        leads=[LeadIn(lead_id=lead["lead_id"], created_at=lead["created_at"].to_pydatetime())], as_of=as_of
    )
    prepared = context.leads(request)
    assert prepared.dataset.get("leads")["lead_id"].tolist() == [lead["lead_id"]]  # the request's lead alone
    served = context.with_leads(prepared)
    acts = served.get("activities")
    assert not (acts["entity_id"] == lead["lead_id"]).any()
    assert (served.get("leads")["lead_id"] == lead["lead_id"]).sum() == 1
    assert len(served.get("leads")) == len(ds.get("leads"))


def test_unknown_attributes_stages_and_types_are_warned_not_refused(context: ServingContext) -> None:
    now = pd.Timestamp("2026-01-05T09:00:00Z").to_pydatetime()
    deal = OpportunityIn(
        opportunity_id="o-new",
        created_at=now,
        attributes={"colour": "red"},
        stages=[StageIn(stage="haggling", changed_at=now)],
        activities=[ActivityIn(occurred_at=now, type="carrier_pigeon")],
    )
    prepared = context.opportunities(OpportunityScoreRequest(opportunities=[deal], as_of=now))
    (warnings,) = prepared.warnings
    assert any("attributes.colour" in w for w in warnings)
    assert any("'haggling'" in w for w in warnings)
    assert any("'carrier_pigeon'" in w for w in warnings)
    table = prepared.features()
    assert table.loc[0, "act_other_n_total"] == 1


def test_the_history_indexed_at_start_serves_its_dataset_alone(context: ServingContext) -> None:
    """Forecasts, sweeps and quality checks on the export the service holds count on the index made at start, and
    count what a fresh index counts; another dataset object, even with the same tables, is indexed on its own."""
    held = context.ds
    assert History.of(held)._base is context.history._base
    twin = Dataset(held.manifest, dict(held.tables))
    assert History.of(twin)._base is not context.history._base
    assert History.of(replace(held, tables={**held.tables}))._base is not context.history._base
    frame = scoring_frame(held, "opportunity", held.manifest.exported_at - pd.Timedelta(days=30))
    assert len(frame) > 10
    reused, fresh = build_features(held, "opportunity", frame), build_features(twin, "opportunity", frame)
    pd.testing.assert_frame_equal(reused, fresh)


def _with_values(ds: Dataset, table: str, key: str, entity_id: str, **values: str) -> Dataset:
    """``ds`` with one entity's columns set to ``values``: the history as the CRM would hold it then."""
    rows = ds.get(table).copy()
    for name, value in values.items():
        rows.loc[rows[key] == entity_id, name] = value
    return Dataset(ds.manifest, {**ds.tables, table: rows})


def _open_lead(ds: Dataset, as_of: pd.Timestamp) -> str:
    leads = ds.get("leads")
    open_then = (
        (leads["created_at"] <= as_of) & ~(leads["converted_at"] <= as_of) & ~(leads["disqualified_at"] <= as_of)
    )
    return leads[open_then & leads["owner_rep_id"].notna()].sort_values("created_at")["lead_id"].iloc[-1]


def test_an_unknown_owner_is_scored_as_a_rep_without_a_record(ds: Dataset, context: ServingContext) -> None:
    """A lead whose owner has no reps row and owns nothing in the history gets the features the batch builds with
    the lead in the history under a rep without other records (no closed deals, everyone's rates, its own lead as
    its only open one, no tenure or team), and the answer says so."""
    as_of = ds.get("leads")["created_at"].quantile(0.8) + pd.Timedelta(days=3)
    lead_id = _open_lead(ds, as_of)
    history = _with_values(ds, "leads", "lead_id", lead_id, owner_rep_id="R-nobody")
    prepared = context.leads(lead_request(history, [lead_id], as_of))
    online = prepared.features()
    pd.testing.assert_frame_equal(online, build_features(history, "lead", prepared.frame), check_dtype=False)
    row = online.iloc[0]
    assert (row["rep_deals_closed_n"], row["rep_open_leads_n"]) == (0, 1)
    assert pd.isna(row["rep_tenure_days"]) and pd.isna(row["rep_team"])
    assert prepared.warnings == [["owner_rep_id: 'R-nobody' is not in the CRM history (scored without a rep record)"]]


def test_an_unknown_deal_owner_and_account_are_scored_without_records(ds: Dataset, context: ServingContext) -> None:
    deals = ds.get("opportunities")
    as_of = deals["created_at"].quantile(0.8)
    open_then = (deals["created_at"] <= as_of) & ~(deals["closed_at"] <= as_of) & deals["owner_rep_id"].notna()
    deal_id = deals[open_then & deals["account_id"].notna()]["opportunity_id"].iloc[-1]
    history = _with_values(
        ds, "opportunities", "opportunity_id", deal_id, owner_rep_id="R-nobody", account_id="C-nobody"
    )
    prepared = context.opportunities(deal_request(history, [deal_id], as_of))
    online = prepared.features()
    pd.testing.assert_frame_equal(online, build_features(history, "opportunity", prepared.frame), check_dtype=False)
    row = online.iloc[0]
    assert (row["rep_deals_closed_n"], row["account_deals_closed_n"]) == (0, 0)
    assert pd.isna(row["account_employees"]) and pd.isna(row["rep_tenure_days"])
    (warnings,) = prepared.warnings
    assert "owner_rep_id: 'R-nobody' is not in the CRM history (scored without a rep record)" in warnings
    assert "account_id: 'C-nobody' is not in the CRM history (scored without an account record)" in warnings


def test_suspicious_times_are_warned_naming_the_field(context: ServingContext) -> None:
    """Possible but suspicious times are scored, each with a warning naming the item's field."""
    created = pd.Timestamp("2025-12-01T10:00:00Z").to_pydatetime()
    day = pd.Timedelta(days=1).to_pytimedelta()
    lead = LeadIn(
        lead_id="l-odd",
        created_at=created,
        activities=[
            ActivityIn(occurred_at=created - 2 * day, type="web_visit"),  # shortly before: usual
            ActivityIn(occurred_at=created - 800 * day, type="call"),
            ActivityIn(occurred_at=created + day, recorded_at=created, type="call"),
        ],
    )
    deal = OpportunityIn(
        opportunity_id="o-odd",
        created_at=created,
        stages=[
            StageIn(stage="lead", changed_at=created - day),
            StageIn(stage="needs_confirmed", changed_at=created + 9 * day),  # listed out of time order
            StageIn(stage="demo", changed_at=created + 5 * day),
        ],
    )
    at = created + 20 * day
    (lead_warnings,) = context.leads(LeadScoreRequest(leads=[lead], as_of=at)).warnings
    assert lead_warnings == [
        "activities[1].occurred_at: more than 30 days before created_at",
        "activities[2].recorded_at: before occurred_at (counted from occurred_at)",
    ]
    prepared = context.opportunities(OpportunityScoreRequest(opportunities=[deal], as_of=at))
    (deal_warnings,) = prepared.warnings
    assert deal_warnings == [
        "stages[0].changed_at: before created_at",
        "stages[1].stage: 'needs_confirmed' after 'demo' goes back in the funnel (counted as a regression)",
    ]
    assert prepared.features().loc[0, "stage_regressions_n"] == 1  # the regression the warning names


@pytest.mark.slow  # 2,000 requests, each scored alone: about 20 s
@pytest.mark.parametrize("entity", ["lead", "opportunity"])
def test_a_thousand_random_requests_each_get_the_batch_features(
    ds: Dataset, context: ServingContext, entity: str
) -> None:
    """Requests of one to three open leads or deals at random times, each prepared and built as the service does
    (the per-row execution, on the request's rows and the indexed history), equal the export's batch build."""
    rng = np.random.default_rng(23)
    created = ds.get("leads" if entity == "lead" else "opportunities")["created_at"]
    frames, online = [], []
    while sum(len(f) for f in frames) < 1_000:
        as_of = created.quantile(rng.uniform(0.3, 0.98)).ceil("h")
        open_then = scoring_frame(ds, entity, as_of)["entity_id"]  # created by then and still open: what a CRM scores
        ids = open_then.sample(int(rng.integers(1, 4)), random_state=rng).tolist()
        request = (lead_request if entity == "lead" else deal_request)(ds, ids, as_of)
        prepared = context.leads(request) if entity == "lead" else context.opportunities(request)
        frames.append(prepared.frame)
        online.append(prepared.features())
    batch = build_features(ds, entity, pd.concat(frames, ignore_index=True), execution="vectorised")
    pd.testing.assert_frame_equal(pd.concat(online, ignore_index=True), batch, check_dtype=False, check_exact=True)
    assert (batch["act_all_n_total"] > 0).mean() > 0.5
