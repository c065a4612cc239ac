"""Honest splits: by time with a label-horizon gap, every entity on one side.

A snapshot's label is known when its entity resolves or its horizon ends, so a snapshot belongs to a segment only
when its label was known before the next segment starts: the gap is at least the label horizon for horizon
labels, and a model never trains on outcomes from the period it is tested on. Data without event times falls
back to a seeded stratified split by entity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SEGMENTS: tuple[str, ...] = ("train", "valid", "calib", "test")


@dataclass(frozen=True)
class SplitPlan:
    """Shares of entities (by first snapshot time) in train, valid, calib and test."""

    fractions: tuple[float, float, float, float] = (0.6, 0.15, 0.1, 0.15)
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.fractions) != len(SEGMENTS) or not np.isclose(sum(self.fractions), 1.0):
            raise ValueError(f"split fractions must be {len(SEGMENTS)} shares summing to 1, got {self.fractions}")


def time_split(
    frame: pd.DataFrame,
    known_at: pd.Series,
    plan: SplitPlan = SplitPlan(),
    until: pd.Timestamp | None = None,
    settle_days: int | None = None,
) -> tuple[pd.Series, dict[str, pd.Timestamp]]:
    """Segment name per row (NA where the row falls in a gap) and the segment start times.

    Entities go to the segment where their first snapshot falls; a row stays only when its label was known
    (``known_at``: the end of its horizon, or the resolution of an eventual outcome) before the next segment
    starts, or, in the last segment, by ``until`` (the export). With ``settle_days``, a row of the last segment
    also needs its cutoff that many days before ``until``: otherwise its last weeks hold only the deals that
    resolved quickly, which (won deals sign, lost ones linger) win more often than the rest.
    """
    firsts = frame.groupby("entity_id", sort=False)["cutoff_time"].min().sort_values()
    edges = np.cumsum(plan.fractions)[:-1]
    past_all = until if until is not None else firsts.iloc[-1] + pd.Timedelta(days=1)  # no share: no entity
    bounds = [firsts.iloc[int(e * len(firsts))] if e < 1 else past_all for e in edges]
    starts = dict(zip(SEGMENTS, [firsts.iloc[0], *bounds], strict=True))
    return assign_segments(frame, known_at, starts, until, settle_days), starts


def assign_segments(
    frame: pd.DataFrame,
    known_at: pd.Series,
    starts: dict[str, pd.Timestamp],
    until: pd.Timestamp | None = None,
    settle_days: int | None = None,
) -> pd.Series:
    """``time_split``'s rows-to-segments rule for given segment starts (other labels of the same entities
    go to the same segments as the main label's)."""
    start = frame.groupby("entity_id", sort=False)["cutoff_time"].transform("min")
    segment = pd.Series(pd.NA, index=frame.index, dtype="string")
    settled = frame["cutoff_time"] + pd.Timedelta(days=settle_days or 0)
    ends = [*list(starts.values())[1:], until]
    for name, begin, end in zip(SEGMENTS, starts.values(), ends, strict=True):
        member = start >= begin
        if end is not None:
            member &= (start < end) & (known_at <= end)
        if settle_days and until is not None and end is not None and end >= until:
            member &= settled <= until
        segment[member.to_numpy(dtype=bool)] = name
    return segment


def stratified_split(frame: pd.DataFrame, label: str, plan: SplitPlan = SplitPlan()) -> pd.Series:
    """Seeded split of entities keeping each segment's positive rate (for data without event times)."""
    rng = np.random.default_rng(plan.seed)
    entity_label = frame.groupby("entity_id", sort=False)[label].max()
    segment = pd.Series(pd.NA, index=entity_label.index, dtype="string")
    for _, ids in entity_label.groupby(entity_label).groups.items():
        shuffled = rng.permutation(np.asarray(ids))
        cuts = np.round(np.cumsum(plan.fractions) * len(shuffled)).astype(int)
        for name, part in zip(SEGMENTS, np.split(shuffled, cuts[:-1]), strict=True):
            segment[part] = name
    return frame["entity_id"].map(segment).astype("string")
