"""Forecasts and target attainment over real HTTP: the numbers ``features.insights.forecast`` gives on the same data
and model,
intervals in order, targets colored, errors a CRM can act on, keys, and the prediction log."""

from __future__ import annotations

import json
from typing import get_args

import httpx
import pandas as pd
import pytest

from features.crm.dataset import Dataset, read_dataset
from features.insights.forecast import GROUP_BYS, GroupBy, model_forecast
from features.insights.monitoring.outcomes import read_log
from features.insights.periods import PERIODS, Period
from features.insights.targets import LEVELS, attainment
from features.scoring.pyfunc import CHAMPION, load_registered
from features.scoring.scorer import Scorer
from serving.schemas.forecast import ATTAINMENT_EXAMPLE, FORECAST_EXAMPLE, Level
from tests.helpers import ROOT
from tests.serving.server import REVOKED, Server, Stores

ENDPOINTS = {"/v1/forecast": FORECAST_EXAMPLE, "/v1/targets/attainment": ATTAINMENT_EXAMPLE}
NUMBERS = ("won_to_date", "pipeline", "new_deals", "expected", "p10", "p50", "p90")
BOARD_NUMBERS = (
    "red",
    "yellow",
    "green",
    "won_to_date",
    "expected",
    "p10",
    "p50",
    "p90",
    "p_red",
    "p_yellow",
    "p_green",
)


@pytest.fixture(scope="module")
def exported(stores: Stores) -> tuple[Dataset, Scorer, str]:
    """The data and the champion the service was exported with, to call ``features.insights.forecast`` directly."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESML_STORE", stores.env["SALESML_STORE"])
        mp.setenv("MLFLOW_TRACKING_URI", stores.env["MLFLOW_TRACKING_URI"])
        scorer, version = load_registered("close_probability", CHAMPION)
    return read_dataset(stores.data), scorer, version


def _utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_the_request_choices_are_the_forecast_cores() -> None:
    assert get_args(Period) == tuple(PERIODS)
    assert get_args(GroupBy) == GROUP_BYS
    assert get_args(Level) == LEVELS


def test_the_forecast_example_file_is_the_documented_example() -> None:
    """docs/serving.md's curl sends examples/forecast.json: it must stay the example the OpenAPI document shows."""
    assert json.loads((ROOT / "examples" / "forecast.json").read_text(encoding="utf-8")) == FORECAST_EXAMPLE


def test_the_documented_examples_answer(server: Server) -> None:
    spec = httpx.get(f"{server.url}/docs.json").json()
    with server.client() as client:
        for path in ENDPOINTS:
            operation = spec["paths"][path]["post"]
            assert operation["description"] and operation["security"] == [{"bearer": []}]
            assert {"401", "403", "413", "422", "503"} <= set(operation["responses"])
            example = operation["requestBody"]["content"]["application/json"]["schema"]["example"]
            assert example == ENDPOINTS[path]
            answer = client.post(path, json=example)
            assert answer.status_code == 200, answer.text
            assert answer.json()["rows"]


@pytest.mark.parametrize(
    ("period", "by", "periods"),
    [("month", "team", 3), ("week", "rep", 2), ("quarter", "all", 1), ("month", "product", 12), ("week", "region", 5)],
)
def test_the_forecast_is_features_forecast_on_the_same_data_and_model(
    server: Server, exported: tuple[Dataset, Scorer, str], period: str, by: str, periods: int
) -> None:
    ds, scorer, version = exported
    body = {"as_of": "2025-11-20T08:00:00+08:00", "period": period, "by": by, "periods": periods}
    with server.client() as client:
        answer = client.post("/v1/forecast", json=body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert (got["model"], got["model_version"], got["period"], got["by"]) == ("close_probability", version, period, by)
    as_of = _utc(got["as_of"])
    assert as_of == pd.Timestamp("2025-11-20T00:00:00Z")

    table = model_forecast(ds, scorer, as_of, period, by, periods).table
    rows = pd.DataFrame(got["rows"])
    assert len(rows) == len(table) and rows["period"].nunique() == periods
    assert rows[["period", "group"]].to_numpy().tolist() == table[["period", "group"]].to_numpy().tolist()
    assert [_utc(t) for t in rows["start"]] == list(table["start"])
    assert [_utc(t) for t in rows["end"]] == list(table["end"])
    assert rows["open_deals"].tolist() == table["open_deals"].tolist()
    for column in NUMBERS:
        assert rows[column].tolist() == pytest.approx(table[column].tolist(), rel=1e-12, abs=1e-9), column
    assert (rows["p10"] <= rows["p50"]).all() and (rows["p50"] <= rows["p90"]).all()
    assert (rows["expected"] >= rows["won_to_date"]).all()
    assert rows["expected"].sum() > 0


def test_as_of_defaults_to_the_export_time_of_the_history(server: Server, exported) -> None:
    ds, _, _ = exported
    with server.client() as client:
        answer = client.post("/v1/forecast", json={})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert _utc(got["as_of"]) == ds.manifest.exported_at
    assert (got["period"], got["by"]) == ("month", "team")
    first = got["rows"][0]
    assert _utc(first["start"]) <= ds.manifest.exported_at < _utc(first["end"])
    assert len({row["period"] for row in got["rows"]}) == 3


def test_target_attainment_colors_each_team(server: Server, exported) -> None:
    ds, scorer, _ = exported
    with server.client() as client:
        answer = client.post("/v1/targets/attainment", json=ATTAINMENT_EXAMPLE)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert (got["level"], got["period"]) == ("team", "month")
    rows = pd.DataFrame(got["rows"])
    assert set(rows["period"]) == {"2025-12"} and set(rows["level"]) == {"team"}
    assert set(rows["color"]) <= {"red", "yellow", "green"}
    assert (rows["p_red"] >= rows["p_yellow"]).all() and (rows["p_yellow"] >= rows["p_green"]).all()
    assert (rows["p10"] <= rows["p50"]).all() and (rows["p50"] <= rows["p90"]).all()

    board = attainment(ds, model_forecast(ds, scorer, _utc(got["as_of"]), "month", "team", 1))
    assert rows["key"].tolist() == board["key"].tolist()
    assert rows["color"].tolist() == board["color"].tolist()
    assert rows["early_warning"].tolist() == board["early_warning"].tolist()
    for column in BOARD_NUMBERS:
        assert rows[column].tolist() == pytest.approx(board[column].tolist(), rel=1e-12, abs=1e-9), column


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/forecast", {"period": "fortnight"}, "period"),
        ("/v1/forecast", {"by": "planet"}, "by"),
        ("/v1/forecast", {"periods": 0}, "periods"),
        ("/v1/forecast", {"periods": 13}, "periods"),
        ("/v1/forecast", {"periods": "many"}, "periods"),
        ("/v1/forecast", {"as_of": "2026-01-15T00:00:00Z"}, "as_of: 2026-01-15T00:00:00+00:00 is after the export"),
        ("/v1/forecast", {"as_of": "2001-01-01"}, "as_of: 2001-01-01T00:00:00+00:00 is before the first deal"),
        ("/v1/forecast", {"as_of": "2300-01-01T00:00:00Z"}, "outside 1900-2200"),
        ("/v1/forecast", {"horizon": 3}, "horizon"),
        ("/v1/targets/attainment", {"level": "product"}, "level"),
        ("/v1/targets/attainment", {"as_of": "2026-01-15T00:00:00Z"}, "is after the export"),
        ("/v1/targets/attainment", {"as_of": "2025-12-15T00:00:00Z", "period": "quarter"}, "no team targets"),
        ("/v1/targets/attainment", {"as_of": "2025-12-15T00:00:00Z", "period": "week"}, "no team targets"),
    ],
)
def test_bad_forecast_requests_are_422_with_the_reason(server: Server, path: str, body: dict, fragment: str) -> None:
    with server.client() as client:
        answer = client.post(path, json=body)
    assert answer.status_code == 422, answer.text
    assert fragment in answer.json()["message"]


@pytest.mark.parametrize(("key", "status"), [(None, 401), ("not-a-key", 401), (REVOKED, 403)])
def test_keys_are_required(server: Server, key: str | None, status: int) -> None:
    with server.client(key) as client:
        for path, example in ENDPOINTS.items():
            assert client.post(path, json=example).status_code == status


def test_each_forecast_call_is_logged_with_its_parameters_and_rows(server: Server) -> None:
    with server.client() as client:
        answers = [client.post(path, json=example) for path, example in ENDPOINTS.items()]
    for (path, example), answer in zip(ENDPOINTS.items(), answers, strict=True):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == body["request_id"]]
        assert record["endpoint"] == path
        assert (record["model"], record["model_version"]) == (body["model"], body["model_version"])
        assert _utc(record["as_of"]) == _utc(example["as_of"])
        assert record["request"] == {k: v for k, v in example.items() if k != "as_of"}
        assert record["rows"] == body["rows"]
