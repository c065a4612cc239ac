"""The prediction log: one JSON line per scored item, written before the answer leaves the service.

Each call (or batch of calls scored together) appends its lines with a single ``os.write`` on a file opened with
``O_APPEND``, before any of its answers is sent: once the write returns the lines are in the operating system's page
cache and survive the service being killed (SIGKILL), so every answer a client received is in the log.
``SALESML_LOG_FSYNC=1`` also waits for the disk (survives power loss; slower).
Files roll over daily: ``predictions-YYYY-MM-DD.jsonl`` under ``SALESML_PREDICTION_LOG``. Every record is redacted
as it is written (``features.crm.privacy``): phones, e-mails and notes are in it as keyed hashes, never in clear.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import to_json

from features import settings
from features.crm.privacy import Redactor
from features.insights.monitoring.outcomes import LOG_FILE
from serving.schemas.columnar import item_json


def input_hash(item: BaseModel) -> str:
    """SHA-256 of the item as validated (its JSON in field order), so an audit can match a CRM record to its score."""
    return hashlib.sha256(item_json(item)).hexdigest()


class PredictionLog:
    def __init__(self, directory: Path, redactor: Redactor, fsync: bool | None = None) -> None:
        self.directory = directory
        self.redactor = redactor
        self.fsync = settings.LOG_FSYNC.get() if fsync is None else fsync
        directory.mkdir(parents=True, exist_ok=True)
        self._day_file: tuple[date, Path] | None = None  # the latest day's file, made once a day

    def path(self, when: datetime) -> Path:
        """The file of ``when``'s day. Kept for the day: its name and path cost more than the append."""
        day, kept = when.date(), self._day_file  # one read: the loop and the scoring thread both append
        if kept is None or kept[0] != day:
            kept = self._day_file = (day, self.directory / LOG_FILE.format(when))
        return kept[1]

    def append(self, records: list[dict[str, Any]]) -> None:
        """All records of one call, redacted, in one append; raises OSError when they could not be written."""
        if not records:
            return
        redacted = self.redactor.redact(records)  # all at once: a string the records share is masked once
        data = b"".join(to_json(r, fallback=str) + b"\n" for r in redacted)  # UTF-8 JSON, in pydantic's core
        fd = os.open(self.path(datetime.now(UTC)), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
