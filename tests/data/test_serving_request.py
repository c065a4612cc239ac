"""A scoring request's lead and history give exactly the features batch scoring builds (no serving skew)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from features.build import build_features
from features.dataset import Dataset, read_dataset
from features.synth import synthesize
from serving.request import ActivityIn, LeadIn, LeadScoreRequest, lead_request_dataset

ACTIVITY_FIELDS = ("occurred_at", "recorded_at", "type", "direction", "duration_s", "contact_role", "note", "rep_id")


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out: Path = tmp_path_factory.mktemp("serving") / "data"
    synthesize(out, leads=3000, seed=17)
    return read_dataset(out)


def _value(v: object) -> object:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def _as_request(ds: Dataset, lead_ids: list[str], as_of: pd.Timestamp) -> LeadScoreRequest:
    """What a CRM would send for these leads as of ``as_of``: attributes and the history entered by then."""
    leads = ds.get("leads").set_index("lead_id")
    acts = ds.get("activities")
    known = acts[acts["entity_type"].eq("lead") & (acts["recorded_at"] <= as_of) & (acts["occurred_at"] <= as_of)]
    items = []
    for lead_id in lead_ids:
        row = leads.loc[lead_id]
        history = known[known["entity_id"] == lead_id]
        items.append(
            LeadIn(
                lead_id=lead_id,
                **{k: _value(row[k]) for k in ("source", "region", "industry", "company_size", "owner_rep_id")},
                account_id=_value(row["account_id"]),
                created_at=row["created_at"].to_pydatetime(),
                activities=[ActivityIn(**{k: _value(a[k]) for k in ACTIVITY_FIELDS}) for _, a in history.iterrows()],
            )
        )
    return LeadScoreRequest(leads=items, as_of=as_of.to_pydatetime())


def test_request_features_equal_batch_features(ds: Dataset) -> None:
    leads = ds.get("leads")
    as_of = leads["created_at"].quantile(0.8) + pd.Timedelta(days=3)
    open_then = leads[
        (leads["created_at"] <= as_of) & ~(leads["converted_at"] <= as_of) & ~(leads["disqualified_at"] <= as_of)
    ]
    ids = open_then.sort_values("created_at")["lead_id"].tail(40).tolist()
    request = _as_request(ds, ids, as_of)
    assert sum(len(lead.activities) for lead in request.leads) > 40
    served, frame = lead_request_dataset(ds, request)
    batch = build_features(ds, "lead", frame)
    online = build_features(served, "lead", frame)
    pd.testing.assert_frame_equal(online, batch, check_dtype=False)


def test_a_brand_new_lead_with_no_history_is_valid(ds: Dataset) -> None:
    now = pd.Timestamp("2026-01-05T09:00:00Z")
    request = LeadScoreRequest(leads=[LeadIn(lead_id="new-1", created_at=now.to_pydatetime())], as_of=now)
    served, frame = lead_request_dataset(ds, request)
    table = build_features(served, "lead", frame)
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
                        "activities": [{"occurred_at": "2025-03-01T01:00:00Z", "type": "call", "duration_s": "NaN"}],
                    }
                ]
            },
            "finite",
        ),
        ({"leads": []}, "at least 1"),
        ({"leads": [{"lead_id": str(i), "created_at": "2025-03-01T00:00:00Z"} for i in range(1001)]}, "at most 1000"),
        ({"leads": [{"lead_id": "a", "created_at": "2025-03-01T00:00:00Z"}], "locale": "fr"}, "locale"),
    ],
)
def test_bad_requests_name_the_field(payload: dict, fragment: str) -> None:
    with pytest.raises(ValidationError) as err:
        LeadScoreRequest.model_validate(payload)
    assert fragment in str(err.value)


def test_request_rows_replace_the_contexts_rows_for_that_lead(ds: Dataset) -> None:
    lead = ds.get("leads").iloc[0]
    as_of = lead["created_at"] + pd.Timedelta(days=1)
    request = LeadScoreRequest(
        leads=[LeadIn(lead_id=lead["lead_id"], created_at=lead["created_at"].to_pydatetime())], as_of=as_of
    )
    served, _ = lead_request_dataset(ds, request)
    acts = served.get("activities")
    assert not (acts["entity_id"] == lead["lead_id"]).any()
    assert (served.get("leads")["lead_id"] == lead["lead_id"]).sum() == 1
    assert len(served.get("leads")) == len(ds.get("leads"))
