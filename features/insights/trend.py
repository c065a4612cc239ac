"""Score trend: a lead's or deal's probability as of past days, and whether it is improving, stable or declining.

Every point is the champion's probability for one entity frame row ``(entity_id, cutoff_time)`` built by
``features.pit.build.build_features``, the code training and scoring run: the features of a past point are the
features as known then, and nothing here computes a feature of its own.

- The grid (``history_frame``): weekly cutoffs counted back from the entity's last point to its creation, and the
  creation itself. The last point is ``as_of`` for an open entity and one second before the close (a deal's close, a
  lead's conversion or disqualification) for a closed one, whose later points would see the outcome. Counting back
  from the last point puts the point ``TREND_DAYS`` before it on the grid, so the label reads the numbers the history
  shows; weekly keeps a 90-day deal at 14 points.
- The label (``trend_labels``): the probability at the last point against ``TREND_DAYS`` before, in probability
  points: up by ``TREND_POINTS`` or more ``improving``, down by that much ``declining``, else ``stable``; none for an
  entity younger than ``TREND_DAYS`` days.
- Batch scoring needs only the point ``TREND_DAYS`` back (``week_ago``): one extra cutoff per entity, not a history.

An export without event times is one snapshot: it has no past to go back to, so its history is the last point alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, time_ns, to_utc, to_utc_scalar
from features.errors import DataError, NotFound
from features.messages import Locale, text
from features.pit.build import build_features
from features.pit.frames import closed_at, entity_table, frame_codes
from features.pit.timeline import DAY_NS, NAT, lookup, to_time
from features.scoring.segments import AnyScorer

#: How far back the label looks, in days (also ``p_7d_ago``'s distance and the grid's step).
TREND_DAYS = 7
#: The change in probability points over ``TREND_DAYS`` days that makes a trend improving or declining.
TREND_POINTS = 5.0
LABELS = ("improving", "stable", "declining")
#: A closed entity's last point is this long before its close: a cutoff at the close would know the outcome.
BEFORE_CLOSE_NS = 1_000_000_000


def trend_labels(now: np.ndarray, before: np.ndarray) -> list[str | None]:
    """``improving``, ``stable`` or ``declining`` for each probability now against ``TREND_DAYS`` before (0-1); None
    where there is no earlier probability (NaN)."""
    change = np.round((np.asarray(now, dtype=float) - np.asarray(before, dtype=float)) * 100, 9)  # 5.0, not 4.99..
    return [
        None if np.isnan(c) else LABELS[0] if c >= TREND_POINTS else LABELS[2] if c <= -TREND_POINTS else LABELS[1]
        for c in change
    ]


def trend_rule(locale: Locale) -> str:
    """The labelling rule in words, with its figures."""
    return text("trend.rule", locale, days=TREND_DAYS, points=f"{TREND_POINTS:g}")


def week_ago(
    ds: Dataset,
    scorer: AnyScorer,
    frame: pd.DataFrame,
    probabilities: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> np.ndarray:
    """The probability of each frame row's entity ``TREND_DAYS`` before the row's cutoff; NaN where the entity was
    created after that, or the export has no event times. ``probabilities``: ``scorer``'s probability of each row of
    an entity frame (default: built by ``build_features`` here; a distributed build elsewhere)."""
    old, rows = week_ago_frame(ds, scorer.entity, frame)
    out = np.full(len(frame), np.nan)
    if old.any():
        out[old] = (
            probabilities(rows)
            if probabilities is not None
            else scorer.predict(build_features(ds, scorer.entity, rows))["probability"].to_numpy()
        )
    return out


def week_ago_frame(ds: Dataset, entity: str, frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Which frame rows have a point ``TREND_DAYS`` before their cutoff (their entity existed then and the export
    has event times), and the entity frame of those points, in the rows' order."""
    table, _ = entity_table(ds, entity)
    created = time_ns(table["created_at"])[frame_codes(ds, entity, frame)]
    before = time_ns(to_utc(frame["cutoff_time"])) - TREND_DAYS * DAY_NS
    old = (created <= before) & ds.manifest.has_event_times
    rows = pd.DataFrame({"entity_id": frame["entity_id"][old].to_numpy(), "cutoff_time": to_time(before[old])})
    return old, rows


def history_frame(ds: Dataset, entity: str, ids: Sequence[str], at: pd.Timestamp) -> pd.DataFrame:
    """The entity frame of the grid (see the module docstring) of each id, as of ``at``, by id then time; NotFound
    for an id that is not an entity of ``ds`` created by ``at``, DataError for one closed at its creation."""
    table, id_col = entity_table(ds, entity)
    codes = lookup(pd.Series(list(ids), dtype="string"), table[id_col])
    created = np.where(codes >= 0, time_ns(table["created_at"])[codes], NAT)
    cutoff = to_utc_scalar(at).value
    unknown = (codes < 0) | (created == NAT) | (created > cutoff)
    if unknown.any():
        raise NotFound(f"no {entity} {ids[int(np.argmax(unknown))]!r} in the history as of {at:%Y-%m-%d %H:%M}")
    closed = closed_at(ds, entity)[codes]
    end = np.where((closed != NAT) & (closed <= cutoff), closed - BEFORE_CLOSE_NS, cutoff)
    if (end < created).any():
        raise DataError(f"{entity} {ids[int(np.argmax(end < created))]!r} closed at its creation: it was never open")
    step = TREND_DAYS * DAY_NS
    n = (end - created) // step + 1 if ds.manifest.has_event_times else np.ones(len(codes), dtype=np.int64)
    row = np.repeat(np.arange(len(codes)), n)
    back = np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n)
    cuts = end[row] - back * step
    first = ((end - created) % step != 0) & ds.manifest.has_event_times  # the creation, when off the weekly grid
    row, cuts = np.concatenate([row, np.flatnonzero(first)]), np.concatenate([cuts, created[first]])
    order = np.lexsort((cuts, row))
    return pd.DataFrame(
        {"entity_id": table[id_col].iloc[codes[row[order]]].to_numpy(), "cutoff_time": to_time(cuts[order])}
    )


def score_history(ds: Dataset, scorer: AnyScorer, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the probability, score and grade of each row: its features as of its cutoff, scored."""
    scored = scorer.predict(build_features(ds, scorer.entity, frame))
    return frame.assign(**{c: scored[c].to_numpy() for c in ("probability", "score", "grade")})


@dataclass(frozen=True)
class Trend:
    """One entity's scored history (``cutoff_time``, ``probability``, ``score``, ``grade``; oldest first) and its
    close time when it closed by then."""

    entity: str
    entity_id: str
    created_at: pd.Timestamp
    closed_at: pd.Timestamp | None
    points: pd.DataFrame

    @property
    def probability(self) -> float:
        """At the last point."""
        return float(self.points["probability"].iloc[-1])

    @property
    def p_7d_ago(self) -> float:
        """``TREND_DAYS`` before the last point; NaN for an entity younger than that."""
        return _week_before_last(self.points)

    @property
    def label(self) -> str | None:
        return trend_labels(np.array([self.probability]), np.array([self.p_7d_ago]))[0]


def _week_before_last(points: pd.DataFrame) -> float:
    """The probability of the point ``TREND_DAYS`` before the last one of a scored history; NaN when none is."""
    cutoffs = points["cutoff_time"]
    match = points["probability"][cutoffs == cutoffs.iloc[-1] - pd.Timedelta(days=TREND_DAYS)]
    return float(match.iloc[0]) if len(match) else float("nan")


def entity_trend(ds: Dataset, scorer: AnyScorer, entity_id: str, at: pd.Timestamp) -> Trend:
    """One lead's or deal's scored history as of ``at``; NotFound for an id the history does not hold by then."""
    points = score_history(ds, scorer, history_frame(ds, scorer.entity, [entity_id], at))
    table, id_col = entity_table(ds, scorer.entity)
    code = frame_codes(ds, scorer.entity, points.iloc[:1])[0]
    closed = closed_at(ds, scorer.entity)[code]
    return Trend(
        scorer.entity,
        str(table[id_col].iloc[code]),
        pd.Timestamp(table["created_at"].iloc[code]),
        to_time(np.array([closed])).iloc[0] if closed != NAT and closed <= to_utc_scalar(at).value else None,
        points.drop(columns="entity_id"),
    )
