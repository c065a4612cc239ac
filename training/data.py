"""From a canonical dataset to labelled, split training rows, built by the same feature code as serving."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc, to_utc_scalar
from features.crm.schema import ENTITIES
from features.errors import DataError, NotEnoughData
from features.pit.build import build_features
from features.pit.catalog import CUTOFF_CALENDAR, Feature, feature_catalog
from features.pit.frames import LEAD_HORIZON_DAYS, entity_frame, entity_table, label_known_at
from features.pit.timeline import DAY_NS, NAT, times
from training.spec import ModelSpec
from training.split import HonestSplit, SplitPlan, honest_split, stratified_split, time_split

#: A derived label horizon: this quantile of the export's delays from creation to the label event (each observed
#: delay weighted for the entities too recent to have shown one as long: ``delay_quantile``), ...
HORIZON_QUANTILE = 0.9
#: ... a weight at most 1 / this share (a delay almost as long as the history is seen on a few entities only) ...
MIN_SEEN_SHARE = 0.1
#: ... rounded up to whole steps (a retrain on a little more data keeps the same label) ...
HORIZON_STEP_DAYS = 15
#: ... within these bounds, and at most this share of the export's history (else no honest split is left) ...
HORIZON_BOUNDS_DAYS = (15, 180)
MAX_HORIZON_SHARE = 0.35
#: ... from at least this many observed delays (else the built-in default).
MIN_DELAYS = 20


@dataclass
class WindowRows:
    """A time-window label's own rows (every snapshot whose window has ended or resolved), with their segments
    (None: in a gap between segments, used only by the refit on all rows)."""

    table: pd.DataFrame
    segment: np.ndarray

    def rows(self, name: str) -> np.ndarray:
        return self.segment == name


@dataclass
class TrainingData:
    """Labelled snapshots with their segment (train/valid/calib/test; None: in a gap between segments, used only
    by the refit on all rows), the candidate features and provenance."""

    dataset: Dataset
    spec: ModelSpec  # with the label horizon resolved
    table: pd.DataFrame  # feature table rows that have a label
    y: np.ndarray
    segment: np.ndarray
    candidates: list[Feature]
    split_kind: str  # a key of training.split.SPLIT_NOTES
    segment_starts: dict[str, str]
    data_hash: str
    horizon_note: str = ""
    windows: dict[int, WindowRows] = field(default_factory=dict)  # window label rows by days (time splits only)

    def rows(self, name: str) -> np.ndarray:
        return self.segment == name

    def entity_ids(self, name: str) -> np.ndarray:
        """The entity of each row of a segment: its snapshots are not independent, so comparisons pair by it."""
        return self.table.loc[self.rows(name), "entity_id"].to_numpy()


def select_candidates(catalog: list[Feature], spec: ModelSpec) -> list[Feature]:
    """The catalog features the spec's families and exclusions leave in (the guards come later)."""
    chosen = spec.features
    families = None if chosen.families == "all" else set(chosen.families)
    excluded = {*chosen.exclude, *(() if chosen.cutoff_calendar else CUTOFF_CALENDAR)}
    return [
        f
        for f in catalog
        if (families is None or f.family in families)
        and f.family not in chosen.exclude_families
        and f.name not in excluded
    ]


def resolve_horizon(spec: ModelSpec, ds: Dataset) -> tuple[ModelSpec, str]:
    """The spec with ``horizon_days: auto`` replaced by the export's own delay to the label event, and how it
    was set (for the report and the model card).

    A fixed 30 days labels most conversions negative where deals take months; the 90th percentile of the
    delays (creation to conversion; to a won close for deals) keeps the label about "converts at all" while
    staying short enough for honest time splits.
    """
    if spec.horizon_days != "auto":
        return spec, f"{spec.horizon_days} days (set in the spec)"
    if not ds.manifest.has_event_times:
        return spec.model_copy(update={"horizon_days": LEAD_HORIZON_DAYS}), "the final outcome (no event times)"
    table, _ = entity_table(ds, spec.entity)
    event = times(table, "converted_at" if spec.entity == "lead" else "closed_at")
    if spec.entity == "opportunity" and "outcome" in table.columns:
        event = np.where(table["outcome"].eq("won").fillna(False).to_numpy(dtype=bool), event, NAT)
    created = times(table, "created_at")
    seen = (event != NAT) & (created != NAT) & (event >= created)
    if seen.sum() < MIN_DELAYS:
        note = f"{LEAD_HORIZON_DAYS} days (the default: only {int(seen.sum())} observed delays to derive it from)"
        return spec.model_copy(update={"horizon_days": LEAD_HORIZON_DAYS}), note
    exported = to_utc_scalar(ds.manifest.exported_at).value
    quantile = delay_quantile(created[created != NAT], created[seen], event[seen], exported, HORIZON_QUANTILE)
    span = (exported - created[created != NAT].min()) / DAY_NS
    low = HORIZON_BOUNDS_DAYS[0]
    high = max(low, min(HORIZON_BOUNDS_DAYS[1], span * MAX_HORIZON_SHARE // HORIZON_STEP_DAYS * HORIZON_STEP_DAYS))
    days = int(np.clip(np.ceil(quantile / HORIZON_STEP_DAYS) * HORIZON_STEP_DAYS, low, high))
    note = (
        f"{days} days (derived: the 90th percentile of delays to the label event, from {int(seen.sum()):,} observed"
        " and weighted for the recent entities that cannot have shown a long one yet, is"
        f" {quantile:.1f} days, rounded up to {HORIZON_STEP_DAYS} days within {low}-{high:.0f}: at most"
        f" {MAX_HORIZON_SHARE:.0%} of the {span:.0f}-day history)"
    )
    return spec.model_copy(update={"horizon_days": days}), note


def delay_quantile(created: np.ndarray, started: np.ndarray, ended: np.ndarray, exported: int, q: float) -> float:
    """The ``q`` quantile in days of the delays ``ended - started`` (ns), corrected for the export's cut.

    A delay of d days is seen only on entities created at least d days before the export: on a growing export or a
    slow sales cycle most recent entities have not had the time, so the observed delays are the short ones and
    their plain quantile runs low. Each observed delay is weighted by one over the share of all entities
    (``created``) old enough to have shown it (at least ``MIN_SEEN_SHARE``), the inverse-probability weighting for
    a right-truncated sample.
    """
    delays = (ended - started) / DAY_NS
    oldest = np.sort(created)
    seen_share = np.searchsorted(oldest, exported - (ended - started), side="right") / max(len(oldest), 1)
    weights = 1 / np.maximum(seen_share, MIN_SEEN_SHARE)
    return float(np.quantile(delays, q, weights=weights, method="inverted_cdf"))


def label_horizon_days(spec: ModelSpec) -> int | None:
    """The label's look-ahead in days: the lead horizon, ``label_90d`` -> 90, a deal's eventual win -> None
    (``spec`` with its horizon resolved)."""
    if spec.entity == "lead":
        return int(spec.horizon_days)
    match = re.fullmatch(r"label_(\d+)d", spec.label)
    return int(match[1]) if match else None


def table_hash(table: pd.DataFrame) -> str:
    """A content hash of the training rows (logged with the model, to tell what it was trained on)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def snapshot_frame(spec: ModelSpec, ds: Dataset) -> pd.DataFrame:
    """The spec's snapshots of the dataset with their labels (``spec`` with its horizon resolved): the rows a
    model of this spec is trained, tested and judged on."""
    frame = entity_frame(
        ds,
        spec.entity,
        lead_ages=[pd.Timedelta(a) for a in spec.snapshots.lead_ages],
        horizon_days=spec.horizon_days,
        every_days=spec.snapshots.every_days,
    )
    if spec.label not in frame.columns:
        source = ds.manifest.source
        raise DataError(f"{source}: no {spec.label!r} labels for {spec.entity}s (does the export have outcomes?)")
    return frame


class Build(Protocol):
    """How snapshot rows get their features: ``build_features``'s signature."""

    def __call__(self, ds: Dataset, entity: str, frame: pd.DataFrame, *, progress: bool) -> pd.DataFrame: ...


#: The column ``frame_only`` numbers the snapshot rows in: what matches a row of the main table or of a window
#: label's table to its features built elsewhere.
SNAPSHOT = "_snapshot"


def frame_only(ds: Dataset, entity: str, frame: pd.DataFrame, *, progress: bool) -> pd.DataFrame:
    """The snapshot rows without features, numbered (``SNAPSHOT``): for a run that builds them on a cluster."""
    return frame.assign(**{SNAPSHOT: np.arange(len(frame))})


@dataclass
class Labelled:
    """The spec's snapshots with point-in-time features (``rows``, ``built``: those with any label known, every
    snapshot when none is), and of them the rows whose main label is settled by the export (``table``, ``y``)."""

    dataset: Dataset
    spec: ModelSpec  # with the label horizon resolved
    horizon_note: str
    rows: pd.DataFrame
    built: pd.DataFrame
    table: pd.DataFrame
    y: np.ndarray
    known: pd.Series | None  # when each row of ``table`` was settled (exports with event times)
    resolved: pd.Series | None  # when each row of ``rows`` was resolved (exports with event times)
    window_labels: dict[int, str]

    @property
    def candidates(self) -> list[Feature]:
        return select_candidates(feature_catalog(self.dataset.manifest, self.spec.entity), self.spec)


#: Why a model cannot be trained on a dataset at all: not even a prior ranks entities against none.
NO_ENTITIES = "{model} scores {table}, and the dataset has none: nothing to train it on or rank against"


def require_entities(ds: Dataset, spec: ModelSpec) -> None:
    """DataError when ``ds`` has no entity of the kind ``spec`` scores (a leads-only export has no deals)."""
    table = ENTITIES[spec.entity][0]
    if not ds.has(table):
        raise DataError(NO_ENTITIES.format(model=spec.name, table=table))


def labelled_snapshots(spec: ModelSpec, ds: Dataset, progress: bool = False, build: Build = build_features) -> Labelled:
    """The spec's snapshots of ``ds``, their features (the serving code; ``build``: ``frame_only`` leaves them to
    be built elsewhere) and their settled labels."""
    spec, horizon_note = resolve_horizon(spec, ds)
    frame = snapshot_frame(spec, ds)
    main = frame[spec.label].notna().to_numpy(dtype=bool)
    window_labels = {d: f"label_{d}d" for d in spec.window_heads_days if f"label_{d}d" in frame.columns}
    with_window = ds.manifest.has_event_times and window_labels
    any_known = main | (frame[list(window_labels.values())].notna().any(axis=1).to_numpy() if with_window else False)
    rows = (frame[any_known] if any_known.any() else frame).reset_index(drop=True)
    built = build(ds, spec.entity, rows, progress=progress)
    main = rows[spec.label].notna().to_numpy(dtype=bool)
    table = built[main].reset_index(drop=True)
    y = table[spec.label].astype(int).to_numpy()
    known = resolved = None
    if ds.manifest.has_event_times:
        exported = to_utc_scalar(ds.manifest.exported_at)
        resolved = label_known_at(ds, spec.entity, rows, label_horizon_days(spec))
        known = resolved[main].reset_index(drop=True)
        settled = (known <= exported).to_numpy(dtype=bool)  # an early resolution alone would bias the rows kept
        table, y, known = table[settled].reset_index(drop=True), y[settled], known[settled].reset_index(drop=True)
    return Labelled(ds, spec, horizon_note, rows, built, table, y, known, resolved, window_labels)


def training_data(
    spec: ModelSpec,
    ds: Dataset,
    *,
    plan: SplitPlan | None = None,
    settle_days: int | None = None,
    progress: bool = False,
) -> TrainingData:
    """Snapshots by the spec's policy, point-in-time features, labels and an honest split of a dataset in memory
    (an export, or a backtest's export as of an origin), ``plan`` overriding the spec's split (exactly, no
    fallback); ``settle_days`` as in ``time_split``, the spec's ``split.settle_days`` when not given."""
    return split_snapshots(labelled_snapshots(spec, ds, progress), plan=plan, settle_days=settle_days)


def split_snapshots(
    labelled: Labelled, *, plan: SplitPlan | None = None, settle_days: int | None = None
) -> TrainingData:
    """The settled labelled snapshots split honestly (``training_data``); NotEnoughData below the spec's minimum."""
    ds, spec, table, y = labelled.dataset, labelled.spec, labelled.table, labelled.y
    horizon_note = labelled.horizon_note
    settle_days = settle_days or spec.split.settle_days
    if not len(table):
        raise NotEnoughData(f"{ds.manifest.source}: no labelled {spec.entity} snapshots to train on")
    windows: dict[int, WindowRows] = {}
    if labelled.known is not None and labelled.resolved is not None:
        exported = to_utc_scalar(ds.manifest.exported_at)
        if plan is not None:
            segment, bounds = time_split(table, labelled.known, plan, until=exported, settle_days=settle_days)
            split = HonestSplit(segment, bounds, "time")
        else:
            what = f"{spec.name} (label horizon {horizon_note})"
            minimum = (spec.min_data.positives, spec.min_data.negatives)
            plan = SplitPlan(fractions=spec.split.fractions, seed=spec.split.seed)
            split = honest_split(table, labelled.known, y, plan, exported, minimum, what, settle_days)
        segment, split_kind = split.segment, split.kind
        starts = {k: v.isoformat() for k, v in split.starts.items()}
        for days, label in labelled.window_labels.items():
            windows[days] = _window_rows(
                labelled.rows, labelled.built, labelled.resolved, label, days, split, exported, settle_days
            )
    else:
        plan = plan or SplitPlan(fractions=spec.split.fractions, seed=spec.split.seed)
        segment, split_kind, starts = stratified_split(table, spec.label, plan), "stratified", {}
    return TrainingData(
        dataset=ds,
        spec=spec,
        table=table,
        y=y,
        segment=segment.to_numpy(dtype=object, na_value=None),
        candidates=labelled.candidates,
        split_kind=split_kind,
        segment_starts=starts,
        data_hash=table_hash(table),
        horizon_note=horizon_note,
        windows=windows,
    )


def _window_rows(
    rows: pd.DataFrame,
    built: pd.DataFrame,
    resolved: pd.Series,
    label: str,
    days: int,
    split: HonestSplit,
    exported: pd.Timestamp,
    settle_days: int | None,
) -> WindowRows:
    """Snapshots whose ``label`` is known, in the main label's segments, known at the deal's resolution or the
    window's end, whichever comes first.

    A deal still open at the export has no eventual label, but its "won within N days" is known once N days have
    passed: keeping those rows lets the window heads learn that stale deals rarely close.
    """
    known = rows[label].notna().to_numpy(dtype=bool)
    frame = rows[known].reset_index(drop=True)
    window_end = to_utc(frame["cutoff_time"]) + pd.Timedelta(days=days)
    resolved = resolved[known].reset_index(drop=True)
    known_at = resolved.where(resolved.notna() & (resolved < window_end), window_end)
    segment = split.assign(frame, known_at, exported, settle_days)
    keep = (known_at <= exported).to_numpy(dtype=bool)  # settled by the export: usable by the refit
    return WindowRows(built[known][keep].reset_index(drop=True), segment[keep].to_numpy(dtype=object, na_value=None))
