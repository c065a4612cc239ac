"""Segment champions used wherever the champion scores, not only by ``/v1/*/score``: what-if, trend and monitoring
through the real service, and ``salesml score``'s ``p_7d_ago``, ``salesml whatif`` and ``salesml monitor``. The
segment model is the global champion's copy whose calibration answers ``CONSTANT`` for every row, so a row's score
tells which model scored it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from features.crm.dataset import read_dataset, to_utc_scalar
from tests.helpers import lead_request, salesml
from tests.serving.server import Server, Stores
from tests.serving.test_segments_http import MODEL, register_segment_champion

pytestmark = pytest.mark.slow  # registers a segment champion, exports and serves it

CONSTANT = 0.9


@pytest.fixture(scope="module")
def routed(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> tuple[Stores, str, str]:
    stores = small_crm.copy(tmp_path_factory.mktemp("routed") / "stores")
    region = str(read_dataset(stores.data).get("leads")["region"].mode()[0])
    name = register_segment_champion(stores, region, constant=CONSTANT)
    exported = salesml("export", "--data", stores.data, env=stores.env)
    assert exported.returncode == 0, exported.stderr
    return stores, region, name


@pytest.fixture(scope="module")
def server(routed: tuple[Stores, str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(routed[0], tmp_path_factory.mktemp("routed-log") / "log").start()
    yield running
    running.stop()


def open_leads(stores: Stores, region: str) -> tuple[str, str]:
    """An open lead of the segment's region and one of another region, at the export."""
    leads = read_dataset(stores.data).get("leads")
    still = leads[leads["converted_at"].isna() & leads["disqualified_at"].isna()]
    mine = still["region"].astype(str).eq(region)
    return str(still.loc[mine, "lead_id"].iloc[-1]), str(still.loc[~mine, "lead_id"].iloc[-1])


def test_whatif_scores_each_lead_with_its_segments_champion(routed: tuple[Stores, str, str], server: Server) -> None:
    stores, region, _ = routed
    ds = read_dataset(stores.data)
    mine, other = open_leads(stores, region)
    body = lead_request(ds, [mine, other], to_utc_scalar(ds.manifest.exported_at)).model_dump(mode="json")
    with server.client() as client:
        answer = client.post("/v1/leads/whatif", json={**body, "actions": ["meet_ceo", "demo"]})
    assert answer.status_code == 200, answer.text
    got = {r["lead_id"]: r for r in answer.json()["results"]}
    assert got[mine]["probability"] == pytest.approx(CONSTANT)
    assert (got[mine]["segment"], got[other]["segment"]) == (region, None)
    assert got[other]["probability"] != pytest.approx(CONSTANT)
    for action in got[mine]["actions"]:
        assert action["probability_before"] == action["probability_after"] == pytest.approx(CONSTANT)
    assert any(a["probability_after"] != pytest.approx(CONSTANT) for a in got[other]["actions"])


def test_trend_scores_each_point_with_its_segments_champion(routed: tuple[Stores, str, str], server: Server) -> None:
    stores, region, _ = routed
    mine, other = open_leads(stores, region)
    with server.client() as client:
        ours, theirs = (client.get(f"/v1/leads/{lead}/trend") for lead in (mine, other))
    assert ours.status_code == theirs.status_code == 200, ours.text
    assert [p["probability"] for p in ours.json()["points"]] == pytest.approx([CONSTANT] * len(ours.json()["points"]))
    assert any(p["probability"] != pytest.approx(CONSTANT) for p in theirs.json()["points"])


def test_monitoring_judges_the_segment_champion_on_its_rows(routed: tuple[Stores, str, str], server: Server) -> None:
    stores, region, name = routed
    ds = read_dataset(stores.data)
    leads = ds.get("leads")
    as_of = leads["created_at"].quantile(0.5) + pd.Timedelta(days=1)
    ids = leads[leads["created_at"] <= as_of].sort_values("created_at")["lead_id"].tail(200).tolist()
    with server.client() as client:
        scored = client.post("/v1/leads/score", json=lead_request(ds, ids, as_of).model_dump(mode="json"))
        assert scored.status_code == 200, scored.text
        summary = client.get("/v1/monitoring").json()
    routed_to = sum(r["model"] == name for r in scored.json()["results"])
    models = {m["model"]: m for m in summary["models"]}
    assert 0 < routed_to < len(ids)
    assert models[name]["predictions"] >= routed_to
    assert models[MODEL]["predictions"] >= len(ids) - routed_to


def test_the_cli_routes_the_same_way(routed: tuple[Stores, str, str], tmp_path: Path) -> None:
    """``salesml score``'s probability a week back, ``salesml whatif`` and ``salesml monitor`` take the segment's
    champion for the segment's rows."""
    stores, region, name = routed
    out = tmp_path / "scores.csv"
    scored = salesml("score", "--model", MODEL, "--data", stores.data, "--out", out, env=stores.env)
    assert scored.returncode == 0, scored.stderr
    rows = pd.read_csv(out)
    mine = rows["segment"].eq(region)
    back = rows["p_7d_ago"].notna()
    assert (mine & back).any() and (~mine & back).any()
    assert rows.loc[mine & back, "p_7d_ago"].to_numpy() == pytest.approx(CONSTANT)
    assert (rows.loc[~mine & back, "p_7d_ago"] != CONSTANT).any()
    lead, _ = open_leads(stores, region)
    whatif = salesml("whatif", "--data", stores.data, "--lead", lead, "--locale", "en", env=stores.env)
    assert whatif.returncode == 0, whatif.stderr
    assert f"p now {CONSTANT:.1%}" in whatif.stdout
    assert f"scored by the {region} segment's model" in " ".join(whatif.stdout.split())
    log = tmp_path / "log"
    log.mkdir()
    monitored = salesml(
        "monitor", "--data", stores.data, "--log", log, "--out", tmp_path / "m.html", "--json", env=stores.env
    )
    assert monitored.returncode in (0, 1), monitored.stderr
    summary = json.loads(monitored.stdout[monitored.stdout.index("{") :])
    assert {MODEL, name} <= {m["model"] for m in summary["models"]}
