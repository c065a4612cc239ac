"""The manager report: written by ``salesml report`` from the test service's trained store, opened in headless
Chromium (every section there, every picture loaded) in zh-CN and en, and served at ``GET /v1/report``.

The first test runs before any report exists (404); the module's fixture then writes both locales.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from features.insights.monitoring.outcomes import read_log
from features.insights.trend import TREND_POINTS
from tests.helpers import salesml
from tests.serving.server import Server, Stores
from training.report.browser import browser_paths, images, opened
from training.report.sections.trend import BARS, FALLING_DEALS
from training.report.text import report_words

HEADINGS = {
    "zh-CN": [
        "模型卡片",
        "关键成交因素",
        "各因素取值的转化率与赢单率",
        "销售过程健康度(按销售人员)",
        "业绩预测与目标看板",
        "预测变动原因",
        "赢单概率下降最多的在途商机",
        "跟进备注关键词热力图",
    ],
    "en": [
        "Model card",
        "Key deal factors",
        "Conversion and win rate by value",
        "Process health per rep",
        "Forecast and target board",
        "Forecast drivers",
        "Open deals whose win probability fell most",
        "Note keyword heat maps",
    ],
}
#: Pictures every report of the test data holds: per model calibration and grades; factor bars and beeswarm; the
#: health chart; the fan chart; the two keyword heat maps.
MIN_PICTURES = 9


def test_before_any_report_the_service_answers_404_behind_the_keys(server: Server) -> None:
    with server.client(key=None) as anonymous:
        assert anonymous.get("/v1/report").status_code == 401
    with server.client() as client:
        missing = client.get("/v1/report", params={"locale": "en"})
        assert missing.status_code == 404
        assert "salesml report" in missing.json()["message"]
        bad = client.get("/v1/report", params={"locale": "fr"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["query", "locale"] and bad.json()["message"]


@pytest.fixture(scope="module")
def reports(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("report")
    written = {}
    for locale in HEADINGS:
        out = folder / f"report.{locale}.html"
        done = salesml("report", "--data", stores.data, "--out", out, "--locale", locale, env=stores.env)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "Glyph" not in done.stderr, done.stderr
        written[locale] = out
    return written


def test_the_service_serves_the_latest_report_and_logs_it(server: Server, reports: dict[str, Path]) -> None:
    with server.client() as client:
        for locale, params in (("zh-CN", {}), ("en", {"locale": "en"})):
            answer = client.get("/v1/report", params=params, headers={"X-Request-ID": f"report-{locale}"})
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/html")
            assert answer.content == reports[locale].read_bytes()
    logged = {r["request_id"]: r for r in read_log(server.log_dir) if r.get("endpoint") == "/v1/report"}
    for locale in HEADINGS:
        record = logged[f"report-{locale}"]
        assert record["status"] == 200 and record["request"] == {"locale": locale}
        assert record["report_sha256"] == hashlib.sha256(reports[locale].read_bytes()).hexdigest()


@pytest.mark.parametrize("locale", list(HEADINGS))
def test_the_report_is_self_contained(reports: dict[str, Path], locale: str) -> None:
    html = reports[locale].read_text(encoding="utf-8")
    links = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert links and all(link.startswith(("data:image/png;base64,", "#")) for link in links), links[:5]
    assert "http://" not in html and "https://" not in html
    assert f'<html lang="{locale}">' in html
    assert f"lead_score: {report_words(locale)['confusion']}" in html  # the model card's table at the grade cuts


@pytest.mark.parametrize("locale", list(HEADINGS))
def test_the_report_in_headless_chromium(reports: dict[str, Path], locale: str) -> None:
    if browser_paths() is None:
        pytest.skip("chromium and chromedriver are not installed (make browser installs them)")
    with opened(reports[locale]) as driver:
        headings = driver.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        pictures = images(driver)
    assert headings == HEADINGS[locale]
    assert len(pictures) >= MIN_PICTURES, pictures
    broken = [p["alt"] for p in pictures if not p["complete"] or p["width"] == 0]
    assert not broken, broken


def test_the_falling_deals_fell_most_first_each_with_its_weekly_sparkline(reports: dict[str, Path]) -> None:
    html = reports["en"].read_text(encoding="utf-8")
    section = re.search(r'<section id="trend">(.*?)</section>', html, re.S)
    assert section is not None
    rows = re.findall(r"<tr>((?:<td.*?</td>)+)</tr>", section[1])
    cells = [re.findall(r'<td class="([^"]*)">([^<]*)</td>', row) for row in rows]
    assert 0 < len(cells) <= FALLING_DEALS
    changes = [float(row[4][1]) for row in cells]
    assert all(c < 0 for c in changes) and changes == sorted(changes)
    for row, change in zip(cells, changes, strict=True):
        label, spark = row[5], row[6]
        if abs(change + TREND_POINTS) > 0.05:  # the cell is rounded to 0.1 point: not at the cut itself
            assert label[1] == ("declining" if change < -TREND_POINTS else "stable")
        assert spark[0] == "spark" and spark[1] and set(spark[1]) <= set(BARS)
    assert f"up {TREND_POINTS:g} probability points" in section[1]
