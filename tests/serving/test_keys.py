"""API keys as ``salesml keys`` writes them and the service reads them: no key can be misread as a revocation."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.errors import DataError
from features.settings import API_KEY_FILE, API_KEYS
from serving.auth import KeyRing, Verdict, new_key, read_keys, revocation
from tests.helpers import assert_one_line_error, salesml


def _ring(monkeypatch: pytest.MonkeyPatch, file: Path) -> KeyRing:
    monkeypatch.setenv(API_KEY_FILE.name, str(file))
    monkeypatch.setenv(API_KEYS.name, "")
    return KeyRing.from_env()


def test_two_thousand_new_keys_all_read_back_active(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [new_key() for _ in range(2000)]
    file = tmp_path / "api-keys"
    file.write_text("".join(f"{key}\n" for key in keys), encoding="utf-8")
    monkeypatch.setenv(API_KEY_FILE.name, str(file))
    monkeypatch.setenv(API_KEYS.name, "")
    active, revoked, admin = read_keys()
    assert active == keys
    assert revoked == admin == []
    ring = KeyRing.from_env()
    assert all(ring.check(f"Bearer {key}") is Verdict.OK for key in keys[:50])


def test_created_keys_are_printed_as_written_and_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "secrets" / "api-keys"
    printed = [salesml("keys", "create", "--file", file).stdout.strip() for _ in range(2)]
    ring = _ring(monkeypatch, file)
    assert [ring.check(f"Bearer {key}") for key in printed] == [Verdict.OK, Verdict.OK]
    assert file.read_text(encoding="utf-8").splitlines() == printed


def test_revoke_withdraws_exactly_the_given_string(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file, other = tmp_path / "api-keys", new_key()
    tricky = ["-starts-with-a-dash", "revoked-looking:key", "#hash-first", "--two-dashes"]
    file.write_text("".join(f"{line}\n" for line in [other, *(key.lstrip("-#") for key in tricky)]), encoding="utf-8")
    done = salesml("keys", "revoke", "--file", file, "--", tricky[0])
    assert done.returncode == 0, done.stderr
    with open(file, "a", encoding="utf-8") as out:
        out.writelines(f"{revocation(key)}\n" for key in tricky[1:])
    ring = _ring(monkeypatch, file)
    assert [ring.check(f"Bearer {key}") for key in tricky] == [Verdict.REVOKED] * len(tricky)
    assert ring.check(f"Bearer {other}") is Verdict.OK
    alike = [key.lstrip("-#") for key in tricky if key.lstrip("-#") != key]  # other strings that look alike
    assert [ring.check(f"Bearer {key}") for key in alike] == [Verdict.OK] * len(alike)


def test_older_dash_lines_still_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "api-keys"
    file.write_text("# keys\nkept\nold\n-old\n\n", encoding="utf-8")
    ring = _ring(monkeypatch, file)
    assert ring.check("Bearer kept") is Verdict.OK
    assert ring.check("Bearer old") is Verdict.REVOKED


def test_revoke_into_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(salesml("keys", "revoke", "--file", tmp_path / "no" / "such" / "keys", "k1"), "key file")


def test_revoke_refuses_what_cannot_be_a_key(tmp_path: Path) -> None:
    file = tmp_path / "api-keys"
    assert_one_line_error(salesml("keys", "revoke", "--file", file, "--", "two words"), "cannot be a key")
    assert not file.exists()
    for key in ("", "a,b", "tab\there"):
        with pytest.raises(DataError, match="cannot be a key"):
            revocation(key)


def test_admin_keys_are_marked_and_revocable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "api-keys"
    admin = salesml("keys", "create", "--admin", "--file", file).stdout.strip()
    plain = salesml("keys", "create", "--file", file).stdout.strip()
    assert file.read_text(encoding="utf-8").splitlines() == [f"admin: {admin}", plain]
    ring = _ring(monkeypatch, file)
    assert [ring.check(f"Bearer {key}") for key in (admin, plain)] == [Verdict.ADMIN, Verdict.OK]
    assert salesml("keys", "revoke", "--file", file, admin).returncode == 0
    assert read_keys().admin == []
    assert _ring(monkeypatch, file).check(f"Bearer {admin}") is Verdict.REVOKED
