"""Honest splits: by time with a label-horizon gap, every entity on one side.

A snapshot's label is known when its entity resolves or its horizon ends, so a snapshot belongs to a segment only
when its label was known before the next segment starts: the gap is at least the label horizon for horizon
labels, and a model never trains on outcomes from the period it is tested on. Data without event times falls
back to a seeded stratified split by entity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from features.errors import NotEnoughData

SEGMENTS: tuple[str, ...] = ("train", "valid", "calib", "test")
EVALUATED: tuple[str, ...] = ("valid", "calib", "test")
#: Each of valid, calib and test needs this many positives and this many negatives.
MIN_EVAL_CLASS = 10
#: Shares of the settled entities tried for the test segment when the spec's share leaves too few positives.
FALLBACK_TEST_SHARES: tuple[float, ...] = (0.25, 0.35)


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


#: How a split was made, in words for the training report.
SPLIT_NOTES: dict[str, str] = {
    "time": "four segments by first snapshot time; a row's label is known before the next segment starts",
    "time-test": "the test segment by time, its labels unknown to every row before it; too thin for four time "
    "segments, so train, valid and calib are drawn at random by entity from the rows before it",
    "time-test-overlap": "the test segment by time; too thin for a label-horizon gap before it, so train, valid and "
    "calib are drawn at random by entity from every row that starts before it (some of their labels were learned "
    "during the test period)",
    "stratified": "the dataset has no event times: seeded stratified split by entity",
}


@dataclass(frozen=True)
class HonestSplit:
    """Where each row went, and how (``kind``, a key of ``SPLIT_NOTES``)."""

    segment: pd.Series
    starts: dict[str, pd.Timestamp]
    kind: str
    inner: pd.Series | None = None  # time-test kinds: entity_id -> train/valid/calib

    def assign(
        self, frame: pd.DataFrame, known_at: pd.Series, until: pd.Timestamp, settle_days: int | None = None
    ) -> pd.Series:
        """The same split for other rows of the same entities (a window label's rows)."""
        if self.kind == "time-test-overlap":
            known_at = _known_by_test(frame, known_at, self.starts["test"], until)
        segment = assign_segments(frame, known_at, self.starts, until, settle_days)
        if self.inner is not None:
            before = (segment == "train").to_numpy(dtype=bool, na_value=False)
            segment[before] = frame.loc[before, "entity_id"].map(self.inner).to_numpy()
        return segment


def honest_split(
    frame: pd.DataFrame,
    known_at: pd.Series,
    y: np.ndarray,
    plan: SplitPlan,
    until: pd.Timestamp,
    min_train: tuple[int, int],
    what: str,
    settle_days: int | None = None,
) -> HonestSplit:
    """The most out-of-time split the data affords, sized from the settled rows (labels known by ``until``).

    Tried in order, each with the plan's test share and then ``FALLBACK_TEST_SHARES``: four segments by time;
    then the test segment by time with train/valid/calib drawn at random (stratified, by entity) from the rows
    whose labels were known before it; then from every row that starts before it (a thin export with a long
    label horizon has almost no row whose label was known before its latest period began). A candidate holds
    when valid, calib and test have ``MIN_EVAL_CLASS`` positives and negatives and train has ``min_train``; the
    error names the cause and the knobs. ``settle_days`` as in ``time_split``.
    """
    settled = (known_at <= until).to_numpy(dtype=bool)
    firsts = frame[settled].groupby("entity_id", sort=False)["cutoff_time"].min().sort_values()
    if firsts.empty:
        raise NotEnoughData(f"{what}: no labelled row is settled by the export; export a longer history")
    shares = sorted({plan.fractions[-1], *(s for s in FALLBACK_TEST_SHARES if s > plan.fractions[-1])})
    rows = _Settled(frame, known_at, y, firsts, plan, until, settle_days)
    for make in CANDIDATES:
        for share in shares:
            split = make(rows, share)
            if _enough(split.segment, y, min_train):
                return split
    first = _four_segments(rows, plan.fractions[-1])  # the spec's own split, in the message
    raise NotEnoughData(_no_split_message(first.segment, y, min_train, what))


def _shares(plan: SplitPlan, test_share: float) -> np.ndarray:
    """The plan's fractions with the test share replaced and the others scaled to fill the rest."""
    head = np.asarray(plan.fractions[:-1], dtype=float)
    return np.append(head / head.sum() * (1.0 - test_share), test_share)


def _starts(firsts: pd.Series, fractions: np.ndarray, until: pd.Timestamp) -> dict[str, pd.Timestamp]:
    edges = np.cumsum(fractions)[:-1]
    bounds = [firsts.iloc[min(int(e * len(firsts)), len(firsts) - 1)] if e < 1 else until for e in edges]
    return dict(zip(SEGMENTS, [firsts.iloc[0], *bounds], strict=True))


@dataclass(frozen=True)
class _Settled:
    """What every split candidate is cut from: the rows, when their labels were known, the labels, each entity's
    first snapshot (settled rows only, sorted), the plan and the export time."""

    frame: pd.DataFrame
    known_at: pd.Series
    y: np.ndarray
    firsts: pd.Series
    plan: SplitPlan
    until: pd.Timestamp
    settle_days: int | None


def _four_segments(rows: _Settled, share: float) -> HonestSplit:
    starts = _starts(rows.firsts, _shares(rows.plan, share), rows.until)
    segment = assign_segments(rows.frame, rows.known_at, starts, rows.until, rows.settle_days)
    return HonestSplit(segment, starts, "time")


def _test_by_time(rows: _Settled, share: float, gap: bool) -> HonestSplit:
    """The test segment by time; train/valid/calib at random by entity from the rows before it, those whose
    labels were known before it began (``gap``), else every row that starts before it."""
    frame, plan = rows.frame, rows.plan
    test_start = _starts(rows.firsts, _shares(plan, share), rows.until)["test"]
    starts = {"train": rows.firsts.iloc[0], "valid": test_start, "calib": test_start, "test": test_start}
    known_at = rows.known_at if gap else _known_by_test(frame, rows.known_at, test_start, rows.until)
    segment = assign_segments(frame, known_at, starts, rows.until, rows.settle_days)
    before = (segment == "train").to_numpy(dtype=bool, na_value=False)
    earlier = frame[before].assign(label=rows.y[before])
    inner = stratified_split(earlier, "label", SplitPlan(tuple(_shares(plan, 0.0)), plan.seed))
    inner.index = earlier.index
    segment[before] = inner.to_numpy()
    kind = "time-test" if gap else "time-test-overlap"
    return HonestSplit(segment, starts, kind, inner.groupby(earlier["entity_id"]).first())


def _known_by_test(
    frame: pd.DataFrame, known_at: pd.Series, test_start: pd.Timestamp, until: pd.Timestamp
) -> pd.Series:
    """Labels of rows before the test (known by the export at all) counted as known when the test starts."""
    before = (frame["cutoff_time"] < test_start).to_numpy() & (known_at <= until).to_numpy()
    return known_at.where(~before, known_at.clip(upper=test_start))


#: The split candidates, most out-of-time first.
CANDIDATES: tuple[Callable[[_Settled, float], HonestSplit], ...] = (
    _four_segments,
    partial(_test_by_time, gap=True),
    partial(_test_by_time, gap=False),
)


def _class_counts(segment: pd.Series, y: np.ndarray, name: str) -> tuple[int, int]:
    member = (segment == name).to_numpy(dtype=bool, na_value=False)
    return int(y[member].sum()), int(member.sum() - y[member].sum())


def _enough(segment: pd.Series, y: np.ndarray, min_train: tuple[int, int]) -> bool:
    positives, negatives = _class_counts(segment, y, "train")
    if positives < min_train[0] or negatives < min_train[1]:
        return False
    return all(min(_class_counts(segment, y, name)) >= MIN_EVAL_CLASS for name in EVALUATED)


def _no_split_message(segment: pd.Series, y: np.ndarray, min_train: tuple[int, int], what: str) -> str:
    counts = ", ".join(
        "{} {} positives / {} negatives".format(name, *_class_counts(segment, y, name)) for name in SEGMENTS
    )
    return (
        f"{what}: no honest time split: the spec's split leaves {counts}; each of valid, calib and test needs "
        f"{MIN_EVAL_CLASS} of each and train {min_train[0]} / {min_train[1]} (spec min_data); a label horizon "
        "long against the export's history is the usual cause: set horizon_days lower in the model spec, change "
        "split.fractions or min_data, or export a longer history"
    )
