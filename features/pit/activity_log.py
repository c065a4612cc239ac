"""An entity type's activities on a ``known_at`` timeline: what the activity-based families read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from features.crm.schema import ACTIVITY_TYPES, CONTACT_ROLES, DIRECTIONS
from features.pit.timeline import (
    NAT,
    Ranked,
    Subset,
    Timeline,
    Vocabulary,
    column,
    dense_rank,
    flags,
    gather,
    lookup,
    numeric,
    times,
)

#: Effective interactions: visits, meetings, demos, and calls that lasted a minute (field practice).
EFFECTIVE_TYPES = ("visit", "meeting", "demo")
MIN_EFFECTIVE_CALL_S = 60
#: Activity types taken as inbound when the direction is missing (everything else is outbound).
INBOUND_TYPES = ("web_visit", "download", "form")
#: Each fixed vocabulary's codes, for a table's columns (``Vocabulary.codes``) and a request's values (``positions``).
_TYPES, _DIRECTIONS, _ROLES = (
    Vocabulary(pd.Series(values, dtype="string")) for values in (ACTIVITY_TYPES, DIRECTIONS, CONTACT_ROLES)
)


def _small(codes: np.ndarray) -> np.ndarray:
    """Vocabulary codes (-1: none) as int8, so that moving them around is cheap."""
    return codes.astype(np.int8)


def entity_codes(acts: pd.DataFrame, entity: str, ids: pd.Series) -> np.ndarray:
    """Per activity, the position of its entity in ``ids`` (-1: another entity type, or no such entity)."""
    return np.where(flags(column(acts, "entity_type"), entity), lookup(column(acts, "entity_id"), ids), -1)


@dataclass(frozen=True)
class Raw:
    """Activity columns as the families read them, in the table's order: when each happened and became known (NAT:
    never), vocabulary codes (-1: none or unknown) and the duration (NaN: missing)."""

    occurred: np.ndarray
    known: np.ndarray
    kind: np.ndarray
    direction: np.ndarray
    duration: np.ndarray
    role: np.ndarray

    @classmethod
    def read(cls, acts: pd.DataFrame) -> Raw:
        return cls._of(
            times(acts, "occurred_at"),
            times(acts, "recorded_at"),
            _TYPES.codes(column(acts, "type")),
            _DIRECTIONS.codes(column(acts, "direction")),
            numeric(column(acts, "duration_s")),
            _ROLES.codes(column(acts, "contact_role")),
        )

    @classmethod
    def of_values(
        cls,
        occurred: np.ndarray,
        recorded: np.ndarray,
        kind: list[str | None],
        direction: list[str | None],
        duration: np.ndarray,
        role: list[str | None],
    ) -> Raw:
        """As ``read`` reads a table, from a request's values: times as int64 ns (``NAT``: none), the texts in
        Python (looked up in a dictionary each), durations as floats (NaN: none)."""
        return cls._of(
            occurred,
            recorded,
            _TYPES.positions(kind),
            _DIRECTIONS.positions(direction),
            duration,
            _ROLES.positions(role),
        )

    @classmethod
    def _of(
        cls,
        occurred: np.ndarray,
        recorded: np.ndarray,
        kind: np.ndarray,
        direction: np.ndarray,
        duration: np.ndarray,
        role: np.ndarray,
    ) -> Raw:
        known = np.where(occurred == NAT, NAT, np.maximum(occurred, recorded))
        return cls(occurred, known, _small(kind), _small(direction), duration, _small(role))


def kinds(kind: np.ndarray) -> np.ndarray:
    """Type codes with an unknown or missing type counted as ``other``."""
    return np.where(kind < 0, ACTIVITY_TYPES.index("other"), kind)


def is_type(kind: np.ndarray, *names: str) -> np.ndarray:
    """Whether each activity (of type codes ``kind``, from ``kinds``) has one of these types."""
    if len(names) == 1:  # a comparison: a fifth of the time of the table look-up below on 10 M activities
        return kind == ACTIVITY_TYPES.index(names[0])
    wanted = np.zeros(len(ACTIVITY_TYPES), dtype=bool)
    wanted[[ACTIVITY_TYPES.index(name) for name in names]] = True
    return wanted[kind]


def inbound(kind: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Whether each activity came from the customer: its direction, else its type."""
    return np.where(direction < 0, is_type(kind, *INBOUND_TYPES), direction == DIRECTIONS.index("inbound"))


def effective(kind: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Whether each activity was an effective interaction (``EFFECTIVE_TYPES``, or a call of a minute or more)."""
    return is_type(kind, *EFFECTIVE_TYPES) | (is_type(kind, "call") & (duration >= MIN_EFFECTIVE_CALL_S))


def whole_seconds(duration: np.ndarray) -> np.ndarray:
    """Durations in whole seconds (missing: 0), so that sums are exact."""
    return np.where(np.isnan(duration), 0, np.rint(duration)).astype(np.int64)


class ActivityLog:
    """One entity type's activities on a ``known_at`` timeline, with their attributes in timeline order."""

    def __init__(self, acts: pd.DataFrame, entity: str, ids: pd.Series) -> None:
        raw = Raw.read(acts)
        self.tl = tl = Timeline(entity_codes(acts, entity, ids), raw.known)
        self._times, self._rank = dense_rank(tl.take(raw.occurred))
        self.type = kinds(tl.take(raw.kind))
        self.inbound = inbound(self.type, tl.take(raw.direction))
        duration = tl.take(raw.duration)
        self.effective = effective(self.type, duration)
        self.duration_s = whole_seconds(duration)
        self.role = tl.take(raw.role)
        self.notes = column(acts, "note")

    def is_type(self, *names: str) -> np.ndarray:
        """Whether each activity (in timeline order) has one of these types."""
        return is_type(self.type, *names)

    def subset(self, mask: np.ndarray) -> Subset:
        return Subset(self.tl, mask)

    def subjects(self) -> Iterator[tuple[str, Subset]]:
        """The subsets named in ``catalog.ACTIVITY_SUBJECTS``."""
        yield "all", self.subset(np.ones(len(self.tl), dtype=bool))
        yield "inbound", self.subset(self.inbound)
        yield "outbound", self.subset(~self.inbound)
        for name in ACTIVITY_TYPES:
            yield name, self.subset(self.is_type(name))

    def latest(self, subset: Subset, start: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Per query, the latest occurred_at among its visible activities in ``subset`` (NAT: none)."""
        return gather(self._times, subset.latest(self._later, start, pos), NAT)

    def earliest(self, subset: Subset, start: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Per query, the earliest occurred_at among its visible activities in ``subset`` (NAT: none)."""
        flipped = subset.latest(self._earlier, start, pos)
        return gather(self._times, np.where(flipped >= 0, self._top - flipped, -1), NAT)

    @cached_property
    def _later(self) -> Ranked:
        return Ranked(self.tl, self._rank)

    @cached_property
    def _earlier(self) -> Ranked:
        """Ranks counted from the latest time back: the earliest time is the largest."""
        return Ranked(self.tl, self._top - self._rank)

    @property
    def _top(self) -> int:
        return len(self._times) - 1
