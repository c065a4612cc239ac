"""API keys: ``Authorization: Bearer KEY`` on every ``/v1`` route.

Keys come from ``SALESML_API_KEYS`` (comma-separated) and the file named by ``SALESML_API_KEY_FILE`` (one key per
line, ``#`` comments, a line ``-KEY`` revokes KEY). Keys are kept and compared as SHA-256 digests with
``hmac.compare_digest`` against every known key, so the time taken says nothing about how close a guess was; the
keys themselves are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from features.errors import DataError

KEYS_ENV, KEY_FILE_ENV = "SALESML_API_KEYS", "SALESML_API_KEY_FILE"


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # 401: no bearer token
    UNKNOWN = "unknown"  # 401: not a key we know
    REVOKED = "revoked"  # 403: a key that was withdrawn


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class KeyRing:
    active: tuple[bytes, ...]
    revoked: tuple[bytes, ...]

    @classmethod
    def from_env(cls) -> KeyRing:
        active = [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]
        revoked: list[str] = []
        file = os.environ.get(KEY_FILE_ENV)
        if file:
            try:
                lines = Path(file).read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise DataError(f"{KEY_FILE_ENV}={file}: unreadable key file ({exc.strerror})") from exc
            for line in (raw.strip() for raw in lines):
                if line and not line.startswith("#"):
                    (revoked if line.startswith("-") else active).append(line.lstrip("-").strip())
        gone = {_digest(k) for k in revoked}
        return cls(tuple(d for d in map(_digest, active) if d not in gone), tuple(gone))

    def __bool__(self) -> bool:
        return bool(self.active)

    def check(self, authorization: str | None) -> Verdict:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Verdict.MISSING
        digest = _digest(token.strip())
        found = [hmac.compare_digest(digest, known) for known in self.active]  # every key, no early exit
        withdrawn = [hmac.compare_digest(digest, known) for known in self.revoked]
        if any(found):
            return Verdict.OK
        return Verdict.REVOKED if any(withdrawn) else Verdict.UNKNOWN
