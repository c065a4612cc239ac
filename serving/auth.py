"""API keys: ``Authorization: Bearer KEY`` on every ``/v1`` route.

Keys come from ``SALESML_API_KEYS`` (comma-separated) and the file named by ``SALESML_API_KEY_FILE``: one key per
line, ``#`` comments, and a line ``revoked: KEY`` withdraws exactly KEY (so does ``-KEY``, as older files have
it). A line ``admin: KEY`` is a key that may also call ``/v1/admin/`` (reload the models); only the key file holds
admin keys, so granting one takes access to the machine. Keys salesml makes start with ``sk_``, so none reads as a
comment, a revocation or an admin mark. Keys are kept and compared as SHA-256 digests with ``hmac.compare_digest``
against every known key, so the time taken says nothing about how close a guess was; the keys themselves are never
logged.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from features import settings
from features.errors import DataError

KEY_PREFIX, REVOKED_MARK, OLD_REVOKED_MARK, ADMIN_MARK, COMMENT = "sk_", "revoked:", "-", "admin:", "#"


class Verdict(Enum):
    OK = "ok"
    ADMIN = "admin"  # a key that may also call /v1/admin/
    MISSING = "missing"  # 401: no bearer token
    UNKNOWN = "unknown"  # 401: not a key we know
    REVOKED = "revoked"  # 403: a key that was withdrawn


def new_key() -> str:
    """A random 256-bit key whose first characters (``sk_``) no key file line reads as a comment or a revocation."""
    return KEY_PREFIX + secrets.token_hex(32)


def revocation(key: str) -> str:
    """The key file line that withdraws exactly ``key``; DataError for what cannot be a key."""
    if not key or any(c.isspace() or c == "," for c in key):
        raise DataError(f"{key!r} cannot be a key: keys are not empty and hold no spaces or commas")
    return f"{REVOKED_MARK} {key}"


class Keys(NamedTuple):
    active: list[str]  # every key in use, admin keys among them
    revoked: list[str]
    admin: list[str]


def read_keys() -> Keys:
    """The keys in use (the environment's and the key file's, in order, less those revoked), the revoked ones and
    the admin keys in use."""
    active = list(settings.API_KEYS.get())
    revoked: list[str] = []
    admin: list[str] = []
    file = settings.API_KEY_FILE.get()
    if file:
        try:
            lines = Path(file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DataError(f"{settings.API_KEY_FILE.name}={file}: unreadable key file ({exc.strerror})") from exc
        for line in (raw.strip() for raw in lines):
            if (key := _revoked(line)) is not None:
                revoked.append(key)
            elif line.startswith(ADMIN_MARK):
                admin.append(line.removeprefix(ADMIN_MARK).strip())
                active.append(admin[-1])
            elif line and not line.startswith(COMMENT):
                active.append(line)
    gone = set(revoked)
    return Keys([k for k in active if k not in gone], sorted(gone), [k for k in admin if k not in gone])


def admin_line(key: str) -> str:
    """The key file line that adds ``key`` as an admin key."""
    return f"{ADMIN_MARK} {key}"


def _revoked(line: str) -> str | None:
    """The key a revocation line withdraws; None for any other line."""
    for mark in (REVOKED_MARK, OLD_REVOKED_MARK):
        if line.startswith(mark):
            return line.removeprefix(mark).strip()
    return None


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True)
class KeyRing:
    active: tuple[bytes, ...]
    revoked: tuple[bytes, ...]
    admin: tuple[bytes, ...] = ()

    @classmethod
    def from_env(cls) -> KeyRing:
        keys = read_keys()
        return cls(*(tuple(map(_digest, found)) for found in keys))

    def __bool__(self) -> bool:
        return bool(self.active)

    def check(self, authorization: str | None) -> Verdict:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Verdict.MISSING
        digest = _digest(token.strip())
        found = [hmac.compare_digest(digest, known) for known in self.active]  # every key, no early exit
        withdrawn = [hmac.compare_digest(digest, known) for known in self.revoked]
        admin = [hmac.compare_digest(digest, known) for known in self.admin]
        if any(found):
            return Verdict.ADMIN if any(admin) else Verdict.OK
        return Verdict.REVOKED if any(withdrawn) else Verdict.UNKNOWN
