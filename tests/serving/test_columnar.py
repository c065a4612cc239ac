"""The columnar parse of scoring requests gives what the request models give, or leaves the body to them.

Every body is parsed three ways: by the columnar path alone, by the model's own pydantic validation alone, and by
``model_validate_json`` (what BentoML calls: the first, else the second). Where the columnar path takes a body, the
model takes it too, with the same fields, the same item JSON (the prediction log's ``input_hash``), the same
canonical activity rows and the same warnings; where the model refuses one, the columnar path has not taken it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from schemathesis import GenerationMode

from benchmarks.serve.payloads import Crm, batch_body, single_body
from features.crm.dataset import Dataset, read_dataset
from features.pit.activity_log import Raw
from serving.context import ServingContext, _activities, _activity_rows, _activity_values, activity_warnings
from serving.predlog import input_hash
from serving.schemas.columnar import MIN_BODY_BYTES, ActivityColumns, item_json
from serving.schemas.common import example
from serving.schemas.scoring import ACTIVITY_BLANK, LeadScoreRequest, OpportunityScoreRequest, _columnar
from tests.helpers import ROOT, deal_request, lead_request

MODELS = {"leads": LeadScoreRequest, "opportunities": OpportunityScoreRequest}
AS_OF = "2026-03-01T09:00:00Z"


def parsed_both_ways(model: type[BaseModel], body: bytes) -> tuple[Any, Any]:
    """(columnar path alone, the model's validation alone); None for a body refused or not taken."""
    try:
        alone = model.__pydantic_validator__.validate_json(body)
    except ValidationError:
        alone = None
    return _columnar(model).parse(body), alone


def assert_written_alike(items: list[BaseModel]) -> None:
    """A model's items' JSON (the prediction log's input hash) is the model's own however ``item_json`` writes it."""
    assert [item_json(i) for i in items] == [i.model_dump_json().encode() for i in items]


def assert_same(model: type[BaseModel], fast: Any, slow: Any) -> None:
    """The two parses hold the same request, as everything downstream reads it."""
    name, key = model.items_and_key
    assert (fast.as_of, fast.locale, fast.top) == (slow.as_of, slow.locale, slow.top)
    fast_items, slow_items = getattr(fast, name), getattr(slow, name)
    assert [item_json(i) for i in fast_items] == [i.model_dump_json().encode() for i in slow_items]
    assert [input_hash(i) for i in fast_items] == [input_hash(i) for i in slow_items]
    for f, s in zip(fast_items, slow_items, strict=True):
        assert isinstance(f.activities, ActivityColumns)
        assert f.model_dump(exclude={"activities"}) == s.model_dump(exclude={"activities"})
        assert list(f.activities) == [{**ACTIVITY_BLANK, **a} for a in s.activities]
    assert activity_warnings(fast_items) == activity_warnings(slow_items)
    histories = [[(getattr(i, key), i.activities) for i in items] for items in (fast_items, slow_items)]
    pd.testing.assert_frame_equal(*(_activity_rows("lead", h) for h in histories))
    fast_values, slow_values = (_activities(_activity_values(h), [len(a) for _, a in h]) for h in histories)
    assert fast_values.notes == slow_values.notes
    np.testing.assert_array_equal(fast_values.entity, slow_values.entity)
    for field in dataclasses.fields(Raw):  # what a request's per-row features read, either way
        np.testing.assert_array_equal(getattr(fast_values.raw, field.name), getattr(slow_values.raw, field.name))


def mostly(usual: st.SearchStrategy, odd: st.SearchStrategy) -> st.SearchStrategy:
    """``usual`` 49 times in 50, else ``odd``: about half the bodies valid, the others with a thing or two to
    refuse or to leave to the model."""
    return st.integers(0, 49).flatmap(lambda n: odd if n == 17 else usual)  # not 0: hypothesis favours the ends


CANONICAL = st.datetimes(
    min_value=pd.Timestamp("2025-01-01").to_pydatetime(), max_value=pd.Timestamp("2026-02-28").to_pydatetime()
).map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%S") + ("" if t.microsecond == 0 else f".{t.microsecond:06d}") + "Z")
# Times the columnar path leaves to the model (offsets, no zone, short fractions, odd dates) or the model refuses.
ODD_TIMES = st.one_of(
    st.sampled_from(
        [
            "2026-01-05T10:00:00+08:00",
            "2026-01-05T10:00:00",
            "2026-01-05T10:00:00.5Z",
            "2026-01-05T10:00:00.000000Z",
            "2026-01-05 10:00:00Z",
            "2026-02-30T10:00:00Z",
            "2026-01-05",
            "2026-01-05T24:00:00Z",
            "2026-04-05T10:00:00Z",  # after as_of
            "1899-12-31T23:59:59Z",
            "2026-01-05T10:00:00Z\x00",
            "2026-01-05T10:00:00Z ",
            "2026-01-05T10:00:00.123456Z0",
            "0001-01-01T00:00:00Z",
            "",
        ]
    ),
    st.integers(0, 2_000_000_000),
    st.none(),
)
TIMES = mostly(CANONICAL, ODD_TIMES)
WORDS = st.text(st.sampled_from('abc预算 é"\\\n\x01\x7f😀'), max_size=6)
TEXT = mostly(
    st.one_of(WORDS, st.sampled_from(["call", "email", "demo", "web_visit"])),
    st.one_of(st.just("x" * 201), st.integers(), st.booleans()),
)
NUMBER = mostly(
    st.one_of(st.floats(0, 1e6), st.integers(0, 10**6), st.sampled_from([9.5e15, 0.1, 0.0, 5e-324])),
    st.one_of(st.sampled_from([1e16, -1.0, -0.0, 1e300]), st.integers(-5, 10**20), st.booleans(), st.text(max_size=2)),
)
OPTIONAL = {
    "recorded_at": st.one_of(TIMES, st.none()),
    "direction": st.one_of(TEXT, st.none()),
    "duration_s": st.one_of(NUMBER, st.none()),
    "contact_role": st.one_of(TEXT, st.none()),
    "note": mostly(st.one_of(WORDS, st.none()), st.just("x" * 20_001)),
    "rep_id": st.one_of(TEXT, st.none()),
    "next_step": st.one_of(WORDS, st.none()),
    "attachment": mostly(st.one_of(st.booleans(), st.none()), st.integers(0, 1)),
}


@st.composite
def activity(draw: st.DrawFn) -> dict[str, Any]:
    act = {"occurred_at": draw(TIMES), "type": draw(TEXT)}
    for field in draw(st.lists(st.sampled_from(sorted(OPTIONAL)), unique=True, max_size=8)):
        act[field] = draw(OPTIONAL[field])
    if draw(st.integers(0, 40)) == 0:
        act[draw(st.sampled_from(["unknown_field", "occurred_at", "type"]))] = draw(st.one_of(st.integers(), WORDS))
    if draw(st.integers(0, 40)) == 0:
        act.pop(draw(st.sampled_from(["occurred_at", "type"])))
    return act


@st.composite
def item(draw: st.DrawFn, name: str, i: int) -> dict[str, Any]:
    key = "lead_id" if name == "leads" else "opportunity_id"
    out: dict[str, Any] = {
        key: draw(mostly(st.just(f"id-{i}"), st.sampled_from(["id-0", ""]))),
        "created_at": draw(TIMES),
    }
    out["activities"] = draw(st.lists(activity(), max_size=6))
    if draw(st.booleans()):
        out["attributes"] = draw(st.dictionaries(st.sampled_from(["a", "b"]), st.one_of(NUMBER, TEXT), max_size=2))
    if name == "opportunities" and draw(st.booleans()):
        out["stages"] = [{"stage": "demo", "changed_at": draw(TIMES)}]
        out["amount"] = draw(NUMBER)
    return out


@st.composite
def body(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(MODELS)))
    items = [draw(item(name, i)) for i in range(draw(mostly(st.integers(1, 3), st.just(0))))]
    request: dict[str, Any] = {name: items}
    if draw(st.integers(0, 4)) > 0:
        request["as_of"] = AS_OF
    options = (
        ("top", mostly(st.integers(1, 20), st.sampled_from([0, 21, 5.0, True]))),
        ("locale", mostly(st.just("en"), st.just("fr"))),
    )
    for option, values in options:
        if draw(st.booleans()):
            request[option] = draw(values)
    return name, json.dumps(request, ensure_ascii=draw(st.booleans())).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body())
def test_the_columnar_path_takes_only_what_the_model_takes_and_reads_it_the_same(case: tuple[str, bytes]) -> None:
    name, payload = case
    model = MODELS[name]
    fast, slow = parsed_both_ways(model, payload)
    if fast is not None:
        assert slow is not None, "the columnar path took a body the model refuses"
        if b'"as_of"' in payload:
            assert_same(model, fast, slow)
    try:
        either = model.model_validate_json(payload)
    except ValidationError:
        assert slow is None
    else:
        assert slow is not None and len(getattr(either, name)) == len(getattr(slow, name))
        assert [item_json(i) for i in getattr(either, name)] == [
            i.model_dump_json().encode() for i in getattr(either, name)
        ]


EDGE = (
    '{"as_of":"2026-03-01T09:00:00Z","leads":[{"lead_id":"a","created_at":"2026-01-01T00:00:00Z","activities":'
    '[{"occurred_at":"2026-01-02T00:00:00Z","type":"call","duration_s":DURATION}]}]}'
)
EDGES = {
    **{f"duration {d}": EDGE.replace("DURATION", d).encode() for d in ("-0", "-0.0", "1E3", "NaN", "1e400", "9" * 30)},
    "byte order mark": b"\xef\xbb\xbf" + EDGE.replace("DURATION", "1").encode(),
    "trailing text": EDGE.replace("DURATION", "1").encode() + b" x",
    # A body with a null is read with UNSET for what was not sent, one without as None (left out of the JSON alike)
    "fields not sent": EDGE.replace("DURATION", "1").encode(),
    "a field sent as null": EDGE.replace("DURATION", '1,"direction":null').encode(),
    "an empty time": EDGE.replace("DURATION", '1,"recorded_at":""').encode(),
    "an empty time beside a null": EDGE.replace(
        "DURATION", '1,"recorded_at":""},{"occurred_at":"2026-01-02T00:00:00Z","type":"call","recorded_at":null'
    ).encode(),
    "keys twice": EDGE.replace("DURATION", '1,"type":"email","note":null,"note":"x"')
    .replace('"as_of"', '"as_of":"2026-03-02T09:00:00Z","as_of"')
    .replace('"lead_id":"a"', '"lead_id":"a","lead_id":"b"')
    .encode(),
}


@pytest.mark.parametrize("payload", EDGES.values(), ids=list(EDGES))
def test_edge_bodies_read_the_same_or_go_to_the_model(payload: bytes) -> None:
    fast, slow = parsed_both_ways(LeadScoreRequest, payload)
    if slow is not None:
        assert_written_alike(slow.leads)
    if fast is not None:
        assert slow is not None
        assert_same(LeadScoreRequest, fast, slow)


def crm() -> Crm:
    reps, accounts = [f"R{i}" for i in range(20)], [f"A{i}" for i in range(50)]
    return Crm(
        pd.Timestamp(AS_OF),
        reps,
        accounts,
        {"source": ["web_form"], "region": ["east"], "industry": ["it"], "company_size": ["1-49"]},
    )


@pytest.mark.parametrize(
    ("payload", "columnar"), [(single_body(crm(), 100, 7), False), (batch_body(crm(), 50, 8), True)], ids=["1", "50"]
)
def test_large_bodies_take_the_columnar_path(payload: bytes, columnar: bool) -> None:
    """Both read the same either way; the request model takes the large one the columnar way, and parses the one of
    13 KiB itself (as fast for so few activities)."""
    fast, slow = parsed_both_ways(LeadScoreRequest, payload)
    assert fast is not None and slow is not None
    assert_same(LeadScoreRequest, fast, slow)
    parsed = LeadScoreRequest.model_validate_json(payload)
    assert isinstance(parsed.leads[0].activities, ActivityColumns) is columnar
    assert (len(payload) >= MIN_BODY_BYTES) is columnar


@pytest.mark.parametrize("name", ["score-lead", "score-opportunity"])
def test_the_examples_read_the_same_either_way(name: str) -> None:
    model = LeadScoreRequest if name == "score-lead" else OpportunityScoreRequest
    fast, slow = parsed_both_ways(model, json.dumps(example(name)).encode())
    assert slow is not None
    if fast is not None:
        assert_same(model, fast, slow)


@pytest.fixture(scope="module")
def context(small_data: Path) -> tuple[Dataset, ServingContext]:
    ds = read_dataset(small_data)
    return ds, ServingContext(ds)


def test_requests_from_the_history_give_the_same_features_and_warnings(context: tuple[Dataset, ServingContext]) -> None:
    """Leads and deals of the small export, sent as a CRM sends them: the columnar parse and the model's give the
    same features and warnings; leads also as two calls scored in one batch (two requests' columns at once)."""
    ds, served = context
    leads, deals = ds.get("leads"), ds.get("opportunities")
    as_of = leads["created_at"].quantile(0.8) + pd.Timedelta(days=3)
    lead_body = lead_request(
        ds, leads[leads["created_at"] <= as_of].sort_values("created_at")["lead_id"].tail(30).tolist(), as_of
    )
    deal_ids = deals[deals["created_at"] <= as_of].sort_values("created_at")["opportunity_id"].tail(20).tolist()
    deal_body = deal_request(ds, deal_ids, as_of).model_dump_json().encode()
    lead_bodies = [lead_body.model_dump_json().encode()]
    lead_bodies.append(lead_bodies[0].replace(b'"lead_id":"', b'"lead_id":"second-'))
    fast_leads, slow_leads = zip(*(parsed_both_ways(LeadScoreRequest, b) for b in lead_bodies), strict=True)
    fast_deal, slow_deal = parsed_both_ways(OpportunityScoreRequest, deal_body)
    assert None not in (*fast_leads, *slow_leads, fast_deal, slow_deal)
    assert sum(len(lead.activities) for lead in fast_leads[0].leads) > 30
    assert sum(len(deal.activities) for deal in fast_deal.opportunities) > 20
    for fast, slow in zip(fast_leads, slow_leads, strict=True):
        assert_same(LeadScoreRequest, fast, slow)
    assert_same(OpportunityScoreRequest, fast_deal, slow_deal)
    for fast, slow in (
        (served.leads(*fast_leads), served.leads(*slow_leads)),
        (served.leads(fast_leads[0], slow_leads[1]), served.leads(*slow_leads)),  # calls parsed both ways, batched
        (served.opportunities(fast_deal), served.opportunities(slow_deal)),
    ):
        pd.testing.assert_frame_equal(fast.features(), slow.features())
        assert fast.warnings == slow.warnings


def large(name: str) -> bytes:
    """The endpoint's example with its one item sent under new ids until the body is large enough to be parsed
    into columns."""
    request = example(name)
    items_name = "leads" if name == "score-lead" else "opportunities"
    key = "lead_id" if name == "score-lead" else "opportunity_id"
    (item,) = request[items_name]
    copies = MIN_BODY_BYTES // len(json.dumps(item)) + 1
    return json.dumps({**request, items_name: [{**item, key: f"{item[key]}-{i}"} for i in range(copies)]}).encode()


#: What BentoML parses each endpoint's body with: its input spec, built from the request model when the service is
#: declared. The scoring endpoints' items get ActivityColumns, the what-if deals plain lists (parsed by the model).
WIRING = (
    "import sys; from pathlib import Path; from serving.service import SalesML\n"
    "for api, path in zip(('score_leads', 'score_opportunities', 'whatif_opportunities'), sys.argv[1:], strict=True):\n"
    "    parsed = SalesML.apis[api].input_spec.model_validate_json(Path(path).read_bytes())\n"
    "    items = getattr(parsed, 'leads', None) or parsed.opportunities\n"
    "    print(api, type(items[0].activities).__name__)"
)


def test_the_service_parses_large_scoring_bodies_into_columns(tmp_path: Path) -> None:
    bodies = []
    for name in ("score-lead", "score-opportunity", "whatif-opportunity"):
        bodies.append(tmp_path / f"{name}.json")
        bodies[-1].write_bytes(large(name))
    env = os.environ | {"BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    done = subprocess.run(
        [sys.executable, "-c", WIRING, *map(str, bodies)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == [
        "score_leads ActivityColumns",
        "score_opportunities ActivityColumns",
        "whatif_opportunities list",
    ]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The service's /docs.json (as ``tests/serving/test_examples.py`` builds it), which the fuzz test reads."""
    script = (
        "import json; from serving.service import SalesML; from serving.openapi import documented; "
        "print(json.dumps(documented(SalesML.openapi_spec.asdict())))"
    )
    env = os.environ | {"BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml")), "BENTOML_DO_NOT_TRACK": "true"}
    built = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert built.returncode == 0, built.stderr
    return json.loads(built.stdout)


@pytest.mark.slow  # schemathesis generates a few hundred bodies from the document, as the fuzz test does
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("path", ["/v1/leads/score", "/v1/opportunities/score"])
def test_the_fuzz_bodies_read_the_same_either_way(document: dict[str, Any], path: str, mode: GenerationMode) -> None:
    """The bodies schemathesis sends the live service (``test_fuzz.py``), from the same document, parsed both ways."""
    model = LeadScoreRequest if path == "/v1/leads/score" else OpportunityScoreRequest
    operation = schemathesis.openapi.from_dict(document)[path]["POST"]
    taken = []

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(operation.as_strategy(generation_mode=mode))
    def read_the_same(case: Any) -> None:
        assume(isinstance(case.body, dict | list | str | int | float | bool) or case.body is None)
        fast, slow = parsed_both_ways(model, json.dumps(case.body).encode())
        if slow is not None:
            assert_written_alike(getattr(slow, model.items_and_key[0]))
        if fast is not None:
            assert slow is not None, "the columnar path took a body the model refuses"
            taken.append(fast)
            if b'"as_of"' in json.dumps(case.body).encode() and fast.as_of is not None:
                assert_same(model, fast, slow)

    read_the_same()
    assert taken, "no body took the columnar path: the test would check nothing"
