"""Every environment variable salesml reads, declared once: its name, type, default and what it is for.

Values are read when asked for (``SETTING.get()``), never at import, because the CLI sets some of them for the
service it starts and tests set them per test. An empty value counts as unset. A value that does not parse raises
``SettingError`` naming the variable, e.g. ``SALESML_MAX_BODY_MB='abc': not a number``. Switches take on/off,
true/false or 1/0, in any case.

``docs/settings.md`` is this table as markdown (``python -m features.settings > docs/settings.md``); a test keeps
the two equal.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from features.errors import DataError

T = TypeVar("T")
SWITCH_WORDS = {"on": True, "true": True, "1": True, "off": False, "false": False, "0": False}
LOCAL = "the local directory"
DOC_WIDTH = 116  # characters a line of docs prose, as in the other docs


class SettingError(DataError):
    """An environment variable whose value cannot be used: the CLI prints it as one line and exits with code 2."""


@dataclass(frozen=True)
class Kind(Generic[T]):
    """A type of value: how docs name it and how its text is parsed (``ValueError`` with the reason)."""

    label: str
    parse: Callable[[str], T]


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not value > 0 or value == float("inf"):
        raise ValueError("not a positive number")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("not a whole number") from None
    if value < 1:
        raise ValueError("not 1 or more")
    return value


def _switch(text: str) -> bool:
    try:
        return SWITCH_WORDS[text.lower()]
    except KeyError:
        raise ValueError("not a switch (on or off, true or false, 1 or 0)") from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("not a number") from None
    if not 0 <= value <= 1:
        raise ValueError("not a share from 0 to 1")
    return value


def _keys(text: str) -> tuple[str, ...]:
    return tuple(key.strip() for key in text.split(",") if key.strip())


PATH, TEXT = Kind("path", Path), Kind("text", str)
NUMBER, COUNT, SWITCH = Kind("number > 0", _number), Kind("whole number >= 1", _count), Kind("on/off", _switch)
KEYS, SHARE = Kind("comma-separated keys", _keys), Kind("share 0-1", _share)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One environment variable. ``shown`` describes a default computed at run time (docs print it)."""

    name: str
    kind: Kind[Any]
    default: T
    description: str
    shown: str | None = None

    def get(self) -> T:
        """The variable's value, or the default when unset or empty; SettingError when it does not parse."""
        raw = os.environ.get(self.name, "").strip()
        if not raw:
            return self.default
        try:
            return self.kind.parse(raw)
        except ValueError as exc:
            raise SettingError(f"{self.name}={raw!r}: {exc}") from None

    def default_text(self) -> str:
        if self.shown is not None:
            return self.shown
        if isinstance(self.default, bool):
            return "on" if self.default else "off"
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return str(self.default) if self.default not in (None, ()) else "(none)"


STORE: Setting[Path | None] = Setting(
    "SALESML_STORE",
    PATH,
    None,
    "The local store: MLflow's SQLite database and artifacts, the Optuna studies.",
    f"`.mlflow` in {LOCAL}",
)
TRACKING_URI: Setting[str | None] = Setting(
    "MLFLOW_TRACKING_URI",
    TEXT,
    None,
    "Another MLflow tracking store or server for runs and the model registry.",
    "the store's `mlflow.db` (SQLite)",
)
MLFLOW_LOG_LEVEL: Setting[str | None] = Setting(
    "MLFLOW_LOGGING_LEVEL",
    TEXT,
    None,
    "MLflow's own log level (DEBUG, INFO, ...); set, MLflow also shows its artifact progress bars again.",
    "WARNING: MLflow's warnings and errors only (salesml's commands say what they registered)",
)
BENTOML_HOME: Setting[Path | None] = Setting(
    "BENTOML_HOME",
    PATH,
    None,
    "BentoML's model and bento store: what `salesml export` writes and the service serves.",
    f"`.bentoml` in {LOCAL}",
)
REPORT_DIR: Setting[Path | None] = Setting(
    "SALESML_REPORT_DIR",
    PATH,
    None,
    "Where `salesml report` keeps the latest manager report per locale, for the service to serve.",
    f"`reports` in {LOCAL}",
)
PREDICTION_LOG: Setting[Path | None] = Setting(
    "SALESML_PREDICTION_LOG",
    PATH,
    None,
    "Where the service appends what it answered, one file a day.",
    f"`logs/predictions` in {LOCAL}",
)
LOG_HASH_KEY: Setting[str | None] = Setting(
    "SALESML_LOG_HASH_KEY",
    TEXT,
    None,
    "Secret (16 characters or more) keying the hashes that stand for phones, e-mails and notes in what the service"
    " writes; the same key gives the same hashes on every installation that shares it.",
    "a random key created once in the store (`log-hash.key`)",
)
LOG_FSYNC: Setting[bool] = Setting(
    "SALESML_LOG_FSYNC",
    SWITCH,
    False,
    "Wait for the disk after each prediction log write: survives power loss, slower.",
)
WORKERS: Setting[int] = Setting(
    "SALESML_WORKERS",
    COUNT,
    1,
    "Service worker processes, each with its own copy of the models (`salesml serve --workers` sets it).",
)
SHADOW_SHARE: Setting[float] = Setting(
    "SALESML_SHADOW_SHARE",
    SHARE,
    0.0,
    "Share of scoring calls also scored by the exported challenger, logged beside the champion's records and never"
    " answered (`salesml models compare` reads them); 0: off.",
)
AUTH: Setting[bool] = Setting(
    "SALESML_AUTH",
    SWITCH,
    True,
    "Require an API key on `/v1` and `/metrics` (`salesml serve --no-auth` turns it off).",
)
API_KEYS: Setting[tuple[str, ...]] = Setting(
    "SALESML_API_KEYS",
    KEYS,
    (),
    "API keys the service accepts, beside those of the key file.",
)
API_KEY_FILE: Setting[Path | None] = Setting(
    "SALESML_API_KEY_FILE",
    PATH,
    None,
    "A key file: one key a line, `revoked: KEY` withdraws one (`salesml keys create` makes one).",
)
PUBLIC_METRICS: Setting[bool] = Setting(
    "SALESML_PUBLIC_METRICS",
    SWITCH,
    False,
    "Serve `/metrics` without an API key.",
)
MAX_BODY_MB: Setting[float] = Setting(
    "SALESML_MAX_BODY_MB",
    NUMBER,
    32.0,
    "Largest request body in MiB; a larger one gets 413 before it is read in full.",
)
BODY_TIMEOUT_S: Setting[float] = Setting(
    "SALESML_BODY_TIMEOUT_S",
    NUMBER,
    10.0,
    "Longest pause in seconds between pieces of a request body; a slower sender gets 408.",
)
BODY_MIN_KIB_S: Setting[float] = Setting(
    "SALESML_BODY_MIN_KIB_S",
    NUMBER,
    16.0,
    "Slowest average pace of a request body in KiB/s, past `SALESML_BODY_TIMEOUT_S`; a slower sender gets 408.",
)
MAX_CONCURRENCY: Setting[int] = Setting(
    "SALESML_MAX_CONCURRENCY",
    COUNT,
    32,
    "Calls in progress at once, shared by the workers; past it callers get 429 at once.",
)
LOG_MAX_MB: Setting[float] = Setting(
    "SALESML_LOG_MAX_MB",
    NUMBER,
    10.0,
    "Size in MiB at which the background service's log rotates (3 older files kept).",
)
DASK_SCHEDULER: Setting[str | None] = Setting(
    "SALESML_DASK_SCHEDULER",
    TEXT,
    None,
    "A running Dask scheduler (`tcp://host:8786`) that `salesml features build --engine dask` sends its work to "
    "(`--scheduler` sets it per command).",
    "an embedded `LocalCluster` on 127.0.0.1",
)
DASK_CONNECT_S: Setting[float] = Setting(
    "SALESML_DASK_CONNECT_S",
    NUMBER,
    10.0,
    "Seconds to keep trying to reach the Dask scheduler `SALESML_DASK_SCHEDULER` (or `--scheduler`) names.",
)
#: Frames of at least this many rows run their feature families on ``FEATURE_THREADS`` threads; below, a thread pool
#: costs more than it saves, and the service's requests stay on its one scoring thread.
THREADED_ROWS = 100_000
FEATURE_THREADS: Setting[int] = Setting(
    "SALESML_FEATURE_THREADS",
    COUNT,
    2,
    f"Threads a local feature build of {THREADED_ROWS:,} (entity, cutoff) rows or more runs its feature families on "
    "at once (numpy and Arrow work outside Python's lock; at most the cores this process may use). Each adds its "
    "temporaries to the peak memory: 1 builds one family at a time.",
)
SERVICE: Setting[str | None] = Setting(
    "SALESML_SERVICE",
    TEXT,
    None,
    "Set by salesml on every process of the background service, to stop them all; not for users to set.",
)

SETTINGS: tuple[Setting, ...] = (
    STORE,
    TRACKING_URI,
    MLFLOW_LOG_LEVEL,
    BENTOML_HOME,
    REPORT_DIR,
    PREDICTION_LOG,
    LOG_HASH_KEY,
    LOG_FSYNC,
    WORKERS,
    SHADOW_SHARE,
    AUTH,
    API_KEYS,
    API_KEY_FILE,
    PUBLIC_METRICS,
    MAX_BODY_MB,
    BODY_TIMEOUT_S,
    BODY_MIN_KIB_S,
    MAX_CONCURRENCY,
    LOG_MAX_MB,
    DASK_SCHEDULER,
    DASK_CONNECT_S,
    FEATURE_THREADS,
    SERVICE,
)


def check_all() -> None:
    """SettingError for the first variable set to a value that does not parse, before a process relies on it."""
    for setting in SETTINGS:
        setting.get()


def markdown() -> str:
    """``docs/settings.md``: what the variables share, then the table of every variable."""
    intro = (
        "Environment variables salesml reads, all optional. An empty value counts as unset; switches take on/off,"
        " true/false or 1/0. A value that does not parse stops the command with one line naming the variable.",
        "The local directory, where stores, reports and logs go by default, is the checkout when salesml runs from"
        " one (`pip install -e .`), else `.salesml` in the current directory: salesml never writes inside an"
        " installed package.",
        "Generated from `features/settings.py` (`python -m features.settings > docs/settings.md`); a test keeps the"
        " two equal.",
    )
    rows = [f"| `{s.name}` | {s.kind.label} | {s.default_text()} | {s.description} |" for s in SETTINGS]
    table = ["| Variable | Type | Default | What for |", "| --- | --- | --- | --- |", *rows]
    return "\n\n".join(["# Settings", *(textwrap.fill(p, DOC_WIDTH) for p in intro), "\n".join(table)]) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
