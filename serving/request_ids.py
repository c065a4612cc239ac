"""Request ids in the prediction log: a caller's ``X-Request-ID`` names a call only when no other call has it.

A caller's id is taken as the call's ``request_id`` when it matches ``CALLER_ID`` (at most 64 letters, digits and
``._:-``) and no call of the log day (UTC) took it before; otherwise the call gets a server id (32 hex digits, as
``uuid4``) and the caller's value, cut to 64 characters with unsafe characters as ``?``, is logged as
``client_request_id``. The ids callers were given are claimed in ``request-ids-YYYY-MM-DD.txt`` beside the log,
under a file lock, so the rule holds across the workers of a service and across restarts. At most
``MAX_CALLER_IDS`` caller ids a day are taken; past that every call gets a server id (the memory and the file stay
bounded).
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from starlette.requests import Request

from features import settings
from features.config import prediction_log_dir

HEADER = "x-request-id"
CALLER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
UNSAFE = re.compile(r"[^A-Za-z0-9._:-]")
MAX_CALLER_ID = 64
MAX_CALLER_IDS = 100_000


class RequestIds:
    """The caller ids claimed in a log directory's day, as this process last read them."""

    def __init__(self, directory: Path, capacity: int = MAX_CALLER_IDS) -> None:
        self.directory = directory
        self.capacity = capacity
        self.day = ""
        self.seen: set[str] = set()
        self.offset = 0  # how far this process has read the day's file
        self.lock = threading.Lock()  # async endpoints and the thread of sync ones claim in one process

    def assign(self, asked: str | None) -> dict[str, str]:
        """The call's ``request_id``, and ``client_request_id`` when the caller sent an id it cannot have."""
        if asked and CALLER_ID.fullmatch(asked) and self.claim(asked):
            return {"request_id": asked}
        ids = {"request_id": uuid.uuid4().hex}
        if asked:
            ids["client_request_id"] = UNSAFE.sub("?", asked[:MAX_CALLER_ID])
        return ids

    def claim(self, asked: str) -> bool:
        """True when no call of the day took ``asked`` before (it is now taken); False when one did or the day is
        full."""
        day = f"{datetime.now(UTC):%Y-%m-%d}"
        with self.lock:
            if day != self.day:
                self.day, self.seen, self.offset = day, set(), 0
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / f"request-ids-{day}.txt", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released with the close
                self._catch_up(fd)
                if asked in self.seen or len(self.seen) >= self.capacity:
                    return False
                line = f"{asked}\n".encode("ascii")
                os.write(fd, line)
                self.offset += len(line)
                self.seen.add(asked)
                return True
            finally:
                os.close(fd)

    def _catch_up(self, fd: int) -> None:
        """Reads the ids other processes claimed since this one last read the file."""
        added = os.pread(fd, os.fstat(fd).st_size - self.offset, self.offset)
        self.offset += len(added)
        self.seen.update(added.decode("ascii").split())


@cache
def _day_ids(setting: Path | None, cwd: str) -> RequestIds:
    """The ids of the log directory that the setting names from this working directory: resolved once, not per call
    (a path's resolution reads the file system, 20 us, a hundredth of a lead's scoring)."""
    return RequestIds(prediction_log_dir())


def call_ids(request: Request) -> dict[str, str]:
    """The request's ids for the prediction log, decided at its first use and kept on the request."""
    state = request.state
    if not hasattr(state, "call_ids"):
        ids = _day_ids(settings.PREDICTION_LOG.get(), os.getcwd())
        state.call_ids = ids.assign(request.headers.get(HEADER))
    return state.call_ids
