"""An entity type's activities on a ``known_at`` timeline: what the activity-based families read."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property

import numpy as np
import pandas as pd

from features.crm.schema import ACTIVITY_TYPES, CONTACT_ROLES, DIRECTIONS
from features.pit.timeline import (
    NAT,
    Ranked,
    Subset,
    Timeline,
    column,
    dense_rank,
    fixed_strings,
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
_TYPES, _DIRECTIONS, _ROLES = (fixed_strings(values) for values in (ACTIVITY_TYPES, DIRECTIONS, CONTACT_ROLES))


def _small(codes: np.ndarray) -> np.ndarray:
    """Vocabulary codes (-1: none) as int8, so that moving them around is cheap."""
    return codes.astype(np.int8)


class ActivityLog:
    """One entity type's activities on a ``known_at`` timeline, with their attributes in timeline order."""

    def __init__(self, acts: pd.DataFrame, entity: str, ids: pd.Series) -> None:
        codes = np.where(flags(column(acts, "entity_type"), entity), lookup(column(acts, "entity_id"), ids), -1)
        occurred = times(acts, "occurred_at")
        known = np.where(occurred == NAT, NAT, np.maximum(occurred, times(acts, "recorded_at")))
        self.tl = tl = Timeline(codes, known)
        self._times, self._rank = dense_rank(tl.take(occurred))
        kind = tl.take(_small(lookup(column(acts, "type"), _TYPES)))
        self.type = np.where(kind < 0, ACTIVITY_TYPES.index("other"), kind)
        direction = tl.take(_small(lookup(column(acts, "direction"), _DIRECTIONS)))
        self.inbound = np.where(direction < 0, self.is_type(*INBOUND_TYPES), direction == DIRECTIONS.index("inbound"))
        duration = tl.take(numeric(column(acts, "duration_s")))
        self.effective = self.is_type(*EFFECTIVE_TYPES) | (self.is_type("call") & (duration >= MIN_EFFECTIVE_CALL_S))
        self.duration_s = np.where(np.isnan(duration), 0, np.rint(duration)).astype(np.int64)  # whole s: exact sums
        self.role = tl.take(_small(lookup(column(acts, "contact_role"), _ROLES)))
        self.notes = column(acts, "note")

    def is_type(self, *names: str) -> np.ndarray:
        """Whether each activity (in timeline order) has one of these types."""
        if len(names) == 1:  # a comparison: a fifth of the time of the table look-up below on 10 M activities
            return self.type == ACTIVITY_TYPES.index(names[0])
        wanted = np.zeros(len(ACTIVITY_TYPES), dtype=bool)
        wanted[[ACTIVITY_TYPES.index(name) for name in names]] = True
        return wanted[self.type]

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
