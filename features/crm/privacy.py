"""Personal data out of what salesml writes: phones, e-mails, names of persons and free-text notes never leave in
clear (the prediction log, the data checks' findings).

The canonical schema marks the personal columns (``Column.personal``); requests and log records use the same names.
A record about to be written has the values under those names replaced by a token, and every other string scanned
for what looks like an e-mail address or a phone number, each masked by its token:

- ``<phone:HASH>``, ``<email:HASH>``, ``<name:HASH>``: a keyed hash of the value, so an audit can tell that two lines
  name the same phone without seeing it. A phone is hashed by its digits as the duplicate check compares them
  (``+86 138 0013 8000`` and ``138-0013-8000`` are one phone), an e-mail or a name regardless of case.
- ``<text:LENGTH:HASH>``: a free-text note's length and hash, never its words (the features read it before).

The hash is HMAC-SHA-256 keyed by a secret of the installation (``SALESML_LOG_HASH_KEY``, by default a random key
created once in the store): without it nobody can test a guessed phone number against the log.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features import settings
from features.config import store_dir
from features.crm.dataset import Manifest
from features.crm.schema import TABLES, Personal
from features.errors import DataError

HASH_HEX = 16  # hex digits of the HMAC kept: 64 bits tell the phones of one installation apart
KEY_FILE = "log-hash.key"
MIN_KEY_CHARS = 16
MIN_PHONE_DIGITS = 7  # fewer digits are no phone (the duplicate check's rule)
MIN_BARE_PHONE_DIGITS = 11  # digits without separators that count as a phone (a mainland mobile; fewer: an amount)

#: Personal fields by name, as the schema marks its columns.
PERSONAL: dict[str, Personal] = {c.name: c.personal for t in TABLES.values() for c in t.columns if c.personal}

_COUNTRY_CODE = re.compile(r"^(?:00)?86(?=\d{10,})")
_NOT_DIGIT = re.compile(r"\D")
_SEPARATOR = r"\s\-－.()（）"  # what may stand between a phone's digits
_TOKEN = re.compile(r"<(?:phone|email|name|text):[0-9a-f:]+>")  # what stands for a value once redacted
#: What ``mask`` replaces, tried in this order at each position: a token (kept: masking twice changes nothing), an
#: e-mail address, or a run of 7 or more digits with separators (checked by ``_is_phone``). A run is taken whole from
#: its start or not at all (no backtracking: the search stays linear in the text), and not where it continues a word
#: or an id (``L-2026-0107``).
_FINDS = re.compile(
    rf"(?P<token>{_TOKEN.pattern})"
    r"|(?P<email>(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+[@＠][A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)"
    rf"|(?P<phone>(?<![A-Za-z0-9_+\-])(?<!\d[{_SEPARATOR}])(?<!\d[{_SEPARATOR}]{{2}})(?<!\d[{_SEPARATOR}]{{3}})"
    rf"(?>[(（]?[+＋]?\d(?:[{_SEPARATOR}]{{0,3}}\d){{{MIN_PHONE_DIGITS - 1},}})(?![A-Za-z0-9_]))"
)
#: What any phone starts with: a digit and 6 more digits or separators. Most strings lack it (and an @), and are
#: passed over without the slower search of ``_FINDS``.
_PHONE_START = re.compile(rf"\d[\d{_SEPARATOR}]{{{MIN_PHONE_DIGITS - 1}}}")
#: A date a digit run may start with (2026-01-05, 2026.1.5, 05.01.2026): kept, the rest of the run checked alone.
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}(?!\d)|\d{1,2}[-.]\d{1,2}[-.]\d{4}(?!\d)")
_DECIMAL = re.compile(r"\d+\.\d+")
_PLAIN = frozenset({float, int, bool, type(None)})  # values with nothing to mask, unless under a personal name


def phone_digits(text: str) -> str | None:
    """A phone as the duplicate check compares phones: half-width digits only, without the +86/0086 country code or
    trunk zeros; None for fewer than 7 digits (no phone)."""
    digits = _NOT_DIGIT.sub("", unicodedata.normalize("NFKC", text))
    digits = _COUNTRY_CODE.sub("", digits).lstrip("0")
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def personal_fields(manifest: Manifest | None = None) -> dict[str, Personal]:
    """The schema's personal fields, and a dataset's free-text attribute columns (notes a source adds)."""
    extras = [e for table in manifest.extra_columns.values() for e in table] if manifest is not None else []
    return PERSONAL | {extra.name: "text" for extra in extras if extra.kind == "text"}


def log_hash_key() -> bytes:
    """The installation's secret: ``SALESML_LOG_HASH_KEY``, else the store's key file, created by whichever process
    needs it first. Messages never quote it."""
    given = settings.LOG_HASH_KEY.get()
    if given is not None:
        if len(given) < MIN_KEY_CHARS:
            raise DataError(f"{settings.LOG_HASH_KEY.name} is shorter than {MIN_KEY_CHARS} characters")
        return given.encode("utf-8")
    path = store_dir() / KEY_FILE
    try:
        if not path.exists():
            _create_key(path)
        key = path.read_bytes().strip()
    except OSError as error:
        raise DataError(
            f"cannot read or create the log hash key {path} ({error.strerror}): set {settings.LOG_HASH_KEY.name}"
        ) from error
    if len(key) < MIN_KEY_CHARS:
        raise DataError(f"the log hash key {path} is shorter than {MIN_KEY_CHARS} characters: delete it for a new one")
    return key


def _create_key(path: Path) -> None:
    """A new random key at ``path``, readable by its owner only; a key another process made first is kept (the
    file appears whole, by a hard link, or not at all)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, f"{secrets.token_hex(32)}\n".encode("ascii"))
    finally:
        os.close(fd)
    try:
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()


@dataclass(frozen=True)
class Redactor:
    """Replaces personal data by tokens in what is about to be written; the values it is given stay as they were."""

    key: bytes = field(repr=False)
    fields: Mapping[str, Personal] = field(default_factory=lambda: dict(PERSONAL))

    @classmethod
    def from_settings(cls, manifest: Manifest | None = None) -> Redactor:
        """With the installation's key, for records about the dataset ``manifest`` describes."""
        return cls(log_hash_key(), personal_fields(manifest))

    def digest(self, kind: Personal, value: str) -> str:
        """The keyed hash of a value of ``kind``, as its token shows it."""
        message = f"{kind}:{value}".encode("utf-8", "surrogatepass")  # a lone surrogate a client sent hashes too
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:HASH_HEX]

    def token(self, kind: Personal, value: str) -> str:
        """What stands for ``value``, a value of ``kind``, in what is written."""
        if kind == "text":
            return f"<text:{len(value)}:{self.digest(kind, value)}>"
        if kind == "phone":
            same = phone_digits(value) or value.strip()
        else:  # an e-mail address or a name: the same whatever its case, width or spacing
            same = " ".join(unicodedata.normalize("NFKC", value).casefold().split())
        return f"<{kind}:{self.digest(kind, same)}>"

    def mask(self, text: str) -> str:
        """``text`` with every e-mail address and phone number in it replaced by its token."""
        if "@" in text or "＠" in text or _PHONE_START.search(text):
            return _FINDS.sub(self._masked, text)
        return text

    def redact(self, value: Any, name: str | None = None) -> Any:
        """A copy of a JSON-like ``value`` (dicts, lists, scalars) fit to write: strings and numbers under a personal
        field's name become tokens, and every other string is masked. ``name`` is the field ``value`` is under.
        Numbers elsewhere are passed over without a call: a batch's log lines hold a hundred thousand of them; a
        string met again is masked once (a batch's records repeat their ids, times and attribute values)."""
        return self._redact(value, name, {})

    def _redact(self, value: Any, name: str | None, masked: dict[str, str]) -> Any:
        fields = self.fields
        if isinstance(value, dict):  # copied whole, then the entries to redact replaced: most are plain numbers
            out = value.copy()
            for k, v in value.items():
                if k in fields:
                    out[k] = self._redact(v, k, masked)
                elif v.__class__ not in _PLAIN:
                    out[k] = masked[v] if v.__class__ is str and v in masked else self._redact(v, k, masked)
            return out
        if isinstance(value, list | tuple):
            return [v if v.__class__ in _PLAIN and name not in fields else self._redact(v, name, masked) for v in value]
        kind = fields.get(name) if name is not None else None
        if isinstance(value, str):
            if kind is not None and not _TOKEN.fullmatch(value):
                return self.token(kind, value)
            done = masked.get(value)
            if done is None:
                done = masked[value] = self.mask(value)
            return done
        if kind is not None and isinstance(value, int | float) and not isinstance(value, bool):
            return self.token(kind, f"{value:.0f}" if float(value).is_integer() else str(value))
        return value

    def _masked(self, found: re.Match[str]) -> str:
        if found.lastgroup == "email":
            return self.token("email", found.group())
        if found.lastgroup == "phone":
            return self._phone_run(found.group())
        return found.group()

    def _phone_run(self, run: str) -> str:
        """A run of digits and separators: a date it starts with kept, the rest masked when it is a phone."""
        date = _DATE.match(run)
        if date is not None:
            return date.group() + self.mask(run[date.end() :])
        return self.token("phone", run) if _is_phone(run) else run


def _is_phone(run: str) -> bool:
    """Whether a run of 7 or more digits is a phone: not a decimal number or a list of them, and with separators or a
    country code unless it is as long as a mobile number."""
    text = unicodedata.normalize("NFKC", run)
    if all(_DECIMAL.fullmatch(part) for part in text.split()):
        return False
    return not text.isdigit() or len(text) >= MIN_BARE_PHONE_DIGITS
