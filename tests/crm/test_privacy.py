"""Redaction of personal data (``features.crm.privacy``): phones and e-mails masked wherever they are typed, the
schema's personal fields replaced whole, ids, times and numbers left alone, and the installation's key kept secret."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.crm.dataset import Manifest
from features.crm.privacy import KEY_FILE, PERSONAL, Redactor, log_hash_key, personal_fields
from features.crm.schema import ExtraColumn
from features.errors import DataError

KEY = b"test-log-hash-key-0123456789"
PHONE = "13800138000"
SAME_PHONE = [
    "+86 138 0013 8000",
    "138-0013-8000",
    PHONE,
    "0086-13800138000",
    "(+86) 138-0013-8000",
    "138.0013.8000",
    "１３８００１３８０００",  # full width
]
KEPT = [
    "L-2026-0107",
    "L00019055",
    "O-2026-0042",
    "2026-01-05T09:00:00+00:00",
    "2026-01-05 09:00",
    "amount 2,600,000 is 7.3x the rep's average 356,219",
    "2600000",
    "3.14159265358",
    "0.1 0.2 0.3 0.4",
    "f3a9c2b81d0e4a7f9c2b81d0e4a7f9c2",
    "<phone:0123456789012345>",  # a token is kept as it is, whatever its hash looks like
]


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(KEY)


def _digit_runs(text: str) -> list[str]:
    return re.findall(r"\d{4,}", re.sub(r"[\s\-.()]", "", text))


@pytest.mark.parametrize("typed", SAME_PHONE)
@pytest.mark.parametrize("around", ["{}", "电话{}，尽快回电", "call me at {}.", "tel:{}", "Tel.{} (mobile)"])
def test_a_phone_however_typed_is_one_token_and_no_digits(redactor: Redactor, typed: str, around: str) -> None:
    masked = redactor.mask(around.format(typed))
    assert masked == around.format(redactor.token("phone", PHONE))
    assert not _digit_runs(masked.replace(redactor.token("phone", PHONE), ""))


def test_a_landline_and_a_date_before_a_phone(redactor: Redactor) -> None:
    assert redactor.mask("021-6543 2100") == redactor.token("phone", "+86 21 65432100")
    assert redactor.mask("2026-01-05 13800138000") == f"2026-01-05 {redactor.token('phone', PHONE)}"


def test_e_mails_are_masked_whatever_their_case(redactor: Redactor) -> None:
    masked = redactor.mask("写信给 Zhang.San@Example.com 或 zhang.san@example.com，或 13800138000@qq.com")
    first, second, qq = re.findall(r"<email:[0-9a-f]+>", masked)
    assert first == second != qq
    assert "@" not in masked and PHONE not in masked and "zhang" not in masked.lower()


@pytest.mark.parametrize("text", KEPT)
def test_ids_times_amounts_and_hashes_are_left_alone(redactor: Redactor, text: str) -> None:
    assert redactor.mask(text) == text


@given(
    number=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    cuts=st.lists(st.sampled_from(["", " ", "-", " - ", "."]), min_size=2, max_size=2),
    prefix=st.sampled_from(["", "+86 ", "0086-", "(+86) "]),
    before=st.sampled_from(["", "联系人手机", "mobile: ", "客户说 "]),
    after=st.sampled_from(["", "。", " 下周回访", ", thanks"]),
)
def test_any_mobile_number_in_any_note_is_masked(
    number: str, cuts: list[str], prefix: str, before: str, after: str
) -> None:
    if cuts.count(".") == 1:  # a single dot reads as a decimal number, which is kept
        cuts = ["-", "-"]
    typed = f"{prefix}{number[:3]}{cuts[0]}{number[3:7]}{cuts[1]}{number[7:]}"
    masked = Redactor(KEY).mask(f"{before}{typed}{after}")
    assert masked == f"{before}{Redactor(KEY).token('phone', number)}{after}"


def test_personal_fields_are_replaced_whole_and_the_rest_is_masked(redactor: Redactor) -> None:
    note = "客户关注预算审批流程。The secret sentence nobody may read."
    record = {
        "request": {
            "lead": {
                "lead_id": "L-2026-0001",
                "attributes": {"phone": 13800138000.0, "remark": "call zhang.san@example.com"},
                "activities": [{"type": "call", "note": note, "next_step": "周二回电", "duration_s": 420.0}],
            }
        },
        "answer": {"checks": {"note": False, "next_step": True}, "probability": 0.25},
        "warnings": ["attributes.x: 138-0013-8000 is no column"],
    }
    before = repr(record)
    redacted = redactor.redact(record)
    assert repr(record) == before  # what is written is a copy: scoring keeps the full inputs
    activity = redacted["request"]["lead"]["activities"][0]
    assert activity["note"] == f"<text:{len(note)}:{redactor.digest('text', note)}>"
    assert activity["next_step"].startswith("<text:4:") and activity["duration_s"] == 420.0
    attributes = redacted["request"]["lead"]["attributes"]
    assert attributes["phone"] == redactor.token("phone", PHONE)
    assert attributes["remark"] == f"call {redactor.token('email', 'zhang.san@example.com')}"
    assert redacted["answer"] == record["answer"]  # a flag named after a personal field is no personal data
    assert redacted["warnings"] == [f"attributes.x: {redactor.token('phone', PHONE)} is no column"]
    assert redactor.redact(redacted) == redacted  # redacting twice changes nothing


def test_a_string_met_again_is_redacted_as_where_it_was_first_met(redactor: Redactor) -> None:
    """Records redacted together share their masks: a text first met as a plain value is still a personal field's
    token where it stands under that field, and the same everywhere else."""
    text = "138-0013-8000"
    records = [{"warning": text, "note": text}, {"note": text, "warnings": [text, "ok"]}]
    redacted = redactor.redact(records)
    masked, token = redactor.mask(text), redactor.token("text", text)
    assert masked == redactor.token("phone", PHONE) and token != masked
    assert redacted == [{"warning": masked, "note": token}, {"note": token, "warnings": [masked, "ok"]}]
    assert redacted == [redactor.redact(r) for r in records]


def test_the_hash_depends_on_the_key(redactor: Redactor) -> None:
    other = Redactor(b"another-installation-key")
    assert redactor.token("phone", PHONE) != other.token("phone", PHONE)
    assert redactor.token("text", "a") != redactor.token("text", "b")


def test_personal_fields_come_from_the_schema_and_the_dataset_text_columns() -> None:
    assert PERSONAL == {"name": "name", "phone": "phone", "note": "text", "next_step": "text"}
    manifest = Manifest(
        source="test",
        exported_at=pd.Timestamp("2026-01-01", tz="UTC"),
        extra_columns={"leads": [ExtraColumn("remark", "text"), ExtraColumn("budget", "numeric")]},
    )
    assert personal_fields(manifest) == PERSONAL | {"remark": "text"}


@pytest.mark.parametrize(
    "hostile", [" ".join("1" * 10_000) + "a", "a" * 20_000 + "@", "a@" * 10_000, "1-" * 10_000 + "x"]
)
def test_masking_stays_linear_on_hostile_text(redactor: Redactor, hostile: str) -> None:
    started = time.perf_counter()
    redactor.mask(hostile)
    assert time.perf_counter() - started < 2  # quadratic backtracking would take minutes


def test_the_key_file_is_created_once_readable_by_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESML_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("SALESML_LOG_HASH_KEY", raising=False)
    key = log_hash_key()
    path = tmp_path / "store" / KEY_FILE
    assert path.read_bytes().strip() == key and len(key) == 64
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert log_hash_key() == key  # the same key on every start
    assert list(path.parent.iterdir()) == [path]  # no draft left behind


def test_the_key_setting_wins_and_a_short_one_is_refused_unquoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SALESML_STORE", str(tmp_path))
    monkeypatch.setenv("SALESML_LOG_HASH_KEY", "a-long-enough-secret-key")
    assert log_hash_key() == b"a-long-enough-secret-key" and not (tmp_path / KEY_FILE).exists()
    monkeypatch.setenv("SALESML_LOG_HASH_KEY", "short-secret")
    with pytest.raises(DataError) as refused:
        log_hash_key()
    assert "SALESML_LOG_HASH_KEY" in str(refused.value) and "short-secret" not in str(refused.value)


def test_lone_surrogates_a_client_sent_are_redacted_not_a_crash(redactor: Redactor) -> None:
    """JSON may carry unpaired surrogate escapes; they reach the redactor as they came."""
    record = {"phone": "\udbc6\udc27 138 0013 8000", "name": "\udbee\udf8eK", "note": "ok \ud8b9", "region": "\u000e"}
    redacted = redactor.redact(record)
    assert redacted["phone"].startswith("<phone:") and redacted["name"].startswith("<name:")
    assert redacted["note"].startswith("<text:4:")
    assert redacted["region"] == "\u000e"
