"""Moving ``champion`` by hand: promote any version, or roll back to the champion before it; and each version with
what an operator decides on (aliases, test figures, data window, gate note).

Rollback follows the alias history (``training.registry``): the champions in the order they were made, where each
rollback undoes the move before it, so that two rollbacks in a row go back two champions, not back and forth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from features.config import tracking_uri
from features.errors import DataError
from features.scoring.aliases import CHAMPION, GATE_TAG, alias_version
from features.store import open_store
from training.registry import PROMOTE, ROLLBACK, WINDOW_TAG, AliasMove, alias_history, set_alias

ROLLBACK_HINT = "promote a version instead: salesml models promote --model {name} --version V"


@dataclass(frozen=True)
class VersionRow:
    """One registered version as ``salesml models list`` shows it."""

    version: str
    aliases: tuple[str, ...]
    roc_auc: float | None
    ece: float | None
    data_window: str
    created: str
    gate_note: str


def registered_names() -> list[str]:
    """Every registered model in salesml's registry; DataError when nothing was trained yet."""
    _require_store()
    names = sorted(m.name for m in MlflowClient().search_registered_models())
    if not names:
        raise DataError(f"no registered model at {tracking_uri()}; train one first (salesml train)")
    return names


def model_versions(name: str) -> list[VersionRow]:
    """The versions of a registered model, newest first, with their test ROC AUC and ECE (from the training run)."""
    _require_model(name)
    client = MlflowClient()
    aliases: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for found in sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: -int(v.version)):
        metrics = client.get_run(found.run_id).data.metrics if found.run_id else {}
        rows.append(
            VersionRow(
                version=str(found.version),
                aliases=tuple(sorted(aliases.get(str(found.version), []))),
                roc_auc=metrics.get("test_roc_auc"),
                ece=metrics.get("test_ece"),
                data_window=found.tags.get(WINDOW_TAG, ""),
                created=datetime.fromtimestamp(found.creation_timestamp / 1000, UTC).isoformat(timespec="seconds"),
                gate_note=found.tags.get(GATE_TAG, ""),
            )
        )
    return rows


def promote(name: str, version: str, reason: str) -> AliasMove:
    """Make ``version`` champion, whatever its gate note says (the operator decides; the note stays with it)."""
    _require_version(name, version)
    if alias_version(name, CHAMPION) == version:
        raise DataError(f"{name} version {version} is champion already: nothing to promote")
    return set_alias(name, CHAMPION, version, reason, PROMOTE)


def rollback(name: str, reason: str) -> AliasMove:
    """Give ``champion`` back to the champion before the current one; DataError when none is recorded."""
    _require_model(name)
    current = alias_version(name, CHAMPION)
    if current is None:
        raise DataError(f"{name} has no champion to roll back; {ROLLBACK_HINT.format(name=name)}")
    line = champion_line(alias_history(name), current)
    if len(line) < 2:
        raise DataError(f"no champion before {name} version {current} is recorded; {ROLLBACK_HINT.format(name=name)}")
    _require_version(name, line[-2])
    return set_alias(name, CHAMPION, line[-2], reason, ROLLBACK)


def champion_line(history: list[AliasMove], current: str) -> list[str]:
    """The champions in the order they were made, each rollback undoing the one before, ending with ``current``
    (also when the alias was moved outside salesml, where the history does not see it)."""
    line: list[str] = []
    for move in (m for m in history if m.alias == CHAMPION):
        if move.command == ROLLBACK and line:
            line.pop()
        if not line or line[-1] != move.new:
            line.append(move.new)
    if not line or line[-1] != current:
        line.append(current)
    return line


def _require_store() -> None:
    if not open_store(create=False):
        raise DataError(f"no registry at {tracking_uri()}; train a model first (salesml train)")


def _require_model(name: str) -> None:
    """DataError naming the registered models when ``name`` is none of them."""
    known = registered_names()
    if name not in known:
        raise DataError(f"no registered model {name!r}; registered: {', '.join(known)}")


def _require_version(name: str, version: str) -> None:
    _require_model(name)
    try:
        MlflowClient().get_model_version(name, version)
    except MlflowException as exc:
        versions = ", ".join(row.version for row in reversed(model_versions(name)))
        raise DataError(f"no version {version!r} of {name}; its versions: {versions}") from exc
