"""No personal data in clear in anything the service writes, over real HTTP: phones, e-mails and a secret sentence
planted in notes, attributes and checked records appear nowhere in the prediction log, the server's output or the
stores, nor in a ``/v1/checks`` answer; one phone has one hash in every line; and the scores still read the notes."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from features.crm.privacy import Redactor
from features.insights.monitoring.outcomes import read_log
from features.pit.catalog import note_name
from serving.predlog import PredictionLog
from serving.schemas.routing import ROUTE_EXAMPLE
from serving.schemas.scoring import LEAD_EXAMPLE
from serving.schemas.workflow import QUALITY_EXAMPLE
from tests.serving.server import Server, Stores

AS_OF = "2026-01-05T09:00:00Z"
PHONES = ("+86 139 1122 3344", "139-1122-3344")  # one mobile, typed two ways
NATIONAL = "13911223344"
EMAIL = "wang.planted@example.org"
SECRET = "董事长下周秘密访问苏州工厂 planted-secret-sentence"
KEYWORDS = "客户关注预算审批流程。"  # the budget_approval keyword: a note feature
NOTE = f"{KEYWORDS}{SECRET}，手机 {PHONES[0]}，邮箱 {EMAIL}"
PLANTED = (*PHONES, NATIONAL, EMAIL, SECRET)


def leaks(roots: Iterable[Path], planted: Iterable[str] = PLANTED) -> list[str]:
    """'file: text' for each planted text found in a file under ``roots``, as UTF-8, JSON-escaped, or (phones)
    as its digits alone."""
    forms = {text: {text, json.dumps(text)[1:-1]} for text in planted}
    for text in planted:
        if re.fullmatch(r"[+\d\s\-()]+", text):
            forms[text].add(re.sub(r"\D", "", text))
    found = []
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            data = path.read_bytes() if path.is_file() else b""
            found += [f"{path}: {text}" for text, seen in forms.items() if any(f.encode() in data for f in seen)]
    return found


def _lead(lead_id: str, note: str) -> dict[str, Any]:
    lead = copy.deepcopy(LEAD_EXAMPLE["leads"][0])
    lead["lead_id"] = lead_id
    lead["activities"][-1]["note"] = note
    return lead


def _deal(opportunity_id: str, note: str) -> dict[str, Any]:
    deal = copy.deepcopy(QUALITY_EXAMPLE["opportunity"])
    deal["opportunity_id"] = opportunity_id
    deal["activities"][1]["note"] = note
    return deal


def _post(server: Server, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    with server.client() as client:
        answer = client.post(path, json=body)
    assert answer.status_code == status, answer.text
    return answer.json()


def _checked_pair(server: Server, ids: tuple[str, str], phone: str) -> dict[str, Any]:
    """Two leads with one phone, one of them naming its contact's e-mail (any name similarity counts): a duplicate
    finding whose evidence quotes the phone and the names."""
    leads = [
        {"lead_id": ids[0], "created_at": AS_OF, "company_name": "苏州星河精工有限公司", "phone": phone},
        {"lead_id": ids[1], "created_at": AS_OF, "company_name": f"苏州星河精工 {EMAIL}", "phone": phone},
    ]
    return _post(server, "/v1/checks", {"as_of": AS_OF, "similarity": 0.01, "leads": leads})


@pytest.fixture(scope="module")
def planted(server: Server) -> dict[str, dict[str, Any]]:
    """Every endpoint that takes personal data called with it, and one refused call carrying it: the answers."""
    quality = copy.deepcopy(QUALITY_EXAMPLE)
    quality["opportunity"]["attributes"] = {"phone": PHONES[1], "联系人": EMAIL}
    quality["opportunity"]["activities"][1] |= {"note": NOTE, "next_step": f"打 {PHONES[1]} 确认"}
    route = copy.deepcopy(ROUTE_EXAMPLE) | {"lead": _lead("PRIVACY-ROUTE", NOTE)}
    lead = {**LEAD_EXAMPLE, "leads": [_lead("PRIVACY-LEAD", NOTE)]}
    deals = [_deal("PRIVACY-1", NOTE), _deal("PRIVACY-2", KEYWORDS), _deal("PRIVACY-3", "已沟通")]
    _post(server, "/v1/leads/score", {**lead, "as_of": "2020-01-01"}, 422)
    return {
        "lead": _post(server, "/v1/leads/score", lead),
        "score": _post(server, "/v1/opportunities/score", {"as_of": AS_OF, "opportunities": deals}),
        "quality": _post(server, "/v1/activities/quality", quality),
        "route": _post(server, "/v1/leads/route", route),
        "checks": _checked_pair(server, ("PRIVACY-L1", "PRIVACY-L2"), PHONES[0]),
        "checks again": _checked_pair(server, ("PRIVACY-L3", "PRIVACY-L4"), PHONES[1]),
    }


def test_nothing_planted_is_written_in_clear(planted: dict, server: Server, stores: Stores) -> None:
    assert len(read_log(server.log_dir)) >= len(planted) + 1  # the calls were logged (a scored call: a line a lead)
    assert leaks([server.log_dir, server.output_path(), stores.root]) == []


def test_the_key_is_in_the_store_only(planted: dict, server: Server) -> None:
    key = server.redactor().key.decode()
    assert leaks([server.log_dir, server.output_path()], [key]) == []


def test_the_checks_answer_quotes_no_phone_or_e_mail(planted: dict, server: Server) -> None:
    redactor = server.redactor()
    for name in ("checks", "checks again"):
        (finding,) = [f for f in planted[name]["findings"] if f["rule"] == "duplicate_lead"]
        assert redactor.token("phone", NATIONAL) in finding["evidence"]
        assert redactor.token("email", EMAIL) in finding["evidence"]
        answer = json.dumps(planted[name], ensure_ascii=False)
        assert [text for text in PLANTED if text in answer] == []


def test_one_phone_has_one_hash_in_every_line(planted: dict, server: Server) -> None:
    """However it was typed, and wherever it was: a finding's evidence, an attribute, a next step's text aside."""
    token = server.redactor().token("phone", NATIONAL)
    log = {r["request_id"]: r for r in read_log(server.log_dir)}
    evidence = [
        f["evidence"] for name in ("checks", "checks again") for f in log[planted[name]["request_id"]]["findings"]
    ]
    assert len(evidence) == 2 and all(token in e for e in evidence)
    quality = log[planted["quality"]["request_id"]]["request"]["opportunity"]
    assert quality["attributes"] == {"phone": token, "联系人": server.redactor().token("email", EMAIL)}
    assert quality["activities"][1]["note"] == f"<text:{len(NOTE)}:{server.redactor().digest('text', NOTE)}>"


def test_the_scores_read_the_notes_in_clear(planted: dict, server: Server) -> None:
    """Only what is written is redacted: a note's keyword counts, and its personal data changes no score."""
    results = {r["opportunity_id"]: r for r in planted["score"]["results"]}
    assert results["PRIVACY-1"]["probability"] == results["PRIVACY-2"]["probability"]
    records = {r["entity_id"]: r for r in read_log(server.log_dir) if r["request_id"] == planted["score"]["request_id"]}
    counted = {deal: record["inputs"][note_name("budget_approval")] for deal, record in records.items()}
    assert counted == {"PRIVACY-1": 1, "PRIVACY-2": 1, "PRIVACY-3": 0}
    quality = planted["quality"]["activities"]
    assert "budget_approval" in [k for a in quality for k in a["note_keywords"]]


def test_the_scan_finds_a_planted_leak(tmp_path: Path, server: Server) -> None:
    """The scan above can fail: a record written without redaction is caught, phones by their digits too; the same
    record through the prediction log is not."""
    record = {"note": NOTE, "evidence": f"phone {NATIONAL} on both leads"}
    (tmp_path / "clear").mkdir()
    (tmp_path / "clear" / "predictions.jsonl").write_text(json.dumps(record) + "\n", encoding="utf-8")
    found = leaks([tmp_path / "clear"])
    assert {line.split(": ", 1)[1] for line in found} == set(PLANTED)
    PredictionLog(tmp_path / "redacted", Redactor(b"a-key-for-this-test-only")).append([record])
    assert leaks([tmp_path / "redacted"]) == []


def test_a_logged_value_with_a_unicode_line_separator_reads_back_as_one_record(tmp_path: Path) -> None:
    odd = "a\u2028b\x85c\u2029d"  # str.splitlines splits at each; a client may send any of them
    PredictionLog(tmp_path, Redactor(b"a-key-for-this-test-only")).append([{"endpoint": odd}, {"endpoint": "next"}])
    assert [r["endpoint"] for r in read_log(tmp_path)] == [odd, "next"]


def test_each_day_has_its_own_log_file(tmp_path: Path) -> None:
    """The day's file is kept between appends; the next day (UTC) gets its own, and an earlier day its own again."""
    log = PredictionLog(tmp_path, Redactor(b"a-key-for-this-test-only"))
    days = [datetime(2026, 1, 1, 23, 59, tzinfo=UTC), datetime(2026, 1, 2, 0, 0, tzinfo=UTC)]
    names = [log.path(day).name for day in (*days, days[0])]
    assert names == ["predictions-2026-01-01.jsonl", "predictions-2026-01-02.jsonl", "predictions-2026-01-01.jsonl"]
    assert log.path(days[1]).parent == tmp_path
