"""Point-in-time entity frames, snapshot policies and labels.

An entity frame has one row per ``(entity_id, cutoff_time)``, as in Feast's get_historical_features:
the features of a row use only what was known at its cutoff, its labels only what happened strictly after.
What is known when (UTC; an event at exactly the cutoff is known):

- an activity at ``known_at = max(occurred_at, recorded_at)`` (reps back-fill; no recorded_at: occurred_at);
- a stage change at ``changed_at``; a deal's close and outcome at ``closed_at``;
- a lead's conversion at ``converted_at`` and disqualification at ``disqualified_at``;
- a lead's or deal's own attributes (source, region, industry, company_size, amount, extras...) at creation;
- an event without a time never.

Training frames come from a snapshot policy, scoring frames from ``scoring_frame`` (cutoff = now) or a
CSV of cutoffs; ``dataset_as_of`` cuts a whole export back to what was known at one time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.crm.dataset import STRING_DTYPE, TIME_DTYPE, Dataset, time_ns, to_utc, to_utc_scalar
from features.crm.schema import ENTITIES
from features.errors import DataError
from features.pit.timeline import DAY_NS, NAT, column_array, earliest, lookup, times, to_time

LEAD_AGES: tuple[pd.Timedelta, ...] = tuple(pd.Timedelta(a) for a in ("1h", "1D", "3D", "7D", "14D"))
LEAD_HORIZON_DAYS = 30
OPPORTUNITY_EVERY_DAYS = 7
OPPORTUNITY_HORIZONS_DAYS: tuple[int, ...] = (30, 60, 90)
POLICIES = ("default",)


def entity_table(ds: Dataset, entity: str) -> tuple[pd.DataFrame, str]:
    """The entity's table and id column."""
    if entity not in ENTITIES:
        raise DataError(f"unknown entity {entity!r}; use one of: {', '.join(ENTITIES)}")
    name, id_col = ENTITIES[entity]
    return ds.get(name), id_col


def frame_codes(ds: Dataset, entity: str, frame: pd.DataFrame, what: str = "entity frame") -> np.ndarray:
    """Row of each frame row's entity in its table; DataError for unknown ids, missing or too early cutoffs."""
    return frame_codes_and_cutoffs(ds, entity, frame, what)[0]


def frame_codes_and_cutoffs(
    ds: Dataset, entity: str, frame: pd.DataFrame, what: str = "entity frame"
) -> tuple[np.ndarray, np.ndarray]:
    """``frame_codes``, and each row's cutoff as int64 ns (read once for both)."""
    missing = [c for c in ("entity_id", "cutoff_time") if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)}; expected entity_id,cutoff_time[,label...]")
    table, id_col = entity_table(ds, entity)
    codes = lookup(column_array(frame, "entity_id"), column_array(table, id_col))
    if (codes < 0).any():
        bad = frame["entity_id"][codes < 0]
        raise DataError(
            f"{what}: {len(bad)} entity_id value(s) are not {entity} ids in this dataset (first: {bad.iloc[0]!r})"
        )
    given = column_array(frame, "cutoff_time")  # canonical times (a request's) are read without their Series
    cutoffs = time_ns(given if given.dtype == TIME_DTYPE else to_utc(frame["cutoff_time"]))
    if (cutoffs == NAT).any():
        raise DataError(f"{what}: {int((cutoffs == NAT).sum())} row(s) have no readable cutoff_time")
    created = times(table, "created_at")[codes]
    early = (created == NAT) | (cutoffs < created)
    if early.any():
        i = int(np.argmax(early))
        raise DataError(
            f"{what}: {int(early.sum())} row(s) have a cutoff_time before the {entity} was created or the {entity} "
            f"has no created_at (first: {frame['entity_id'].iloc[i]} at {to_time(cutoffs[i : i + 1]).iloc[0]})"
        )
    return codes, cutoffs


def read_cutoffs(path: Path, ds: Dataset, entity: str) -> pd.DataFrame:
    """Read ``entity_id,cutoff_time[,label...]``; extra columns (labels) are kept as read."""
    try:
        raw = pd.read_csv(path, dtype={"entity_id": "string"}, skipinitialspace=True)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: unreadable cutoffs CSV ({str(exc).splitlines()[0]})") from exc
    if "cutoff_time" in raw.columns:
        parsed = to_utc(raw["cutoff_time"])
        if parsed.isna().any():
            i = int(np.argmax(parsed.isna().to_numpy()))
            raise DataError(f"{path}: line {i + 2}: unreadable cutoff_time {raw['cutoff_time'].iloc[i]!r}")
        raw["cutoff_time"] = parsed
    frame_codes(ds, entity, raw, what=str(path))
    raw = raw.drop(columns="static_snapshot", errors="ignore")  # it describes the dataset, not the file
    raw.insert(2, "static_snapshot", not ds.manifest.has_event_times)
    return raw


def entity_frame(
    ds: Dataset,
    entity: str,
    cutoffs_csv: Path | None = None,
    policy: str = "default",
    *,
    lead_ages: Sequence[pd.Timedelta] = LEAD_AGES,
    horizon_days: int = LEAD_HORIZON_DAYS,
    every_days: int = OPPORTUNITY_EVERY_DAYS,
    horizons_days: Sequence[int] = OPPORTUNITY_HORIZONS_DAYS,
) -> pd.DataFrame:
    """The rows to build features for: read from ``cutoffs_csv``, else a labelled snapshot policy.

    Policy ``default``: leads at ``lead_ages`` after creation while still open (labels via ``label_frame``);
    deals every ``every_days`` from creation while open. A dataset without event times (one snapshot at
    export) gives one row per entity at its creation, labelled with its final outcome, and the column
    ``static_snapshot`` is True so training knows the rows are not a history.
    """
    entity_table(ds, entity)  # an unknown entity is a DataError before anything is read
    if cutoffs_csv is not None:
        return read_cutoffs(cutoffs_csv, ds, entity)
    if policy not in POLICIES:
        raise DataError(f"unknown snapshot policy {policy!r}; known: {', '.join(POLICIES)}")
    if not ds.manifest.has_event_times:
        frame = _creation_frame(ds, entity)
    elif entity == "lead":
        frame = _lead_snapshots(ds, lead_ages)
    else:
        frame = _opportunity_snapshots(ds, every_days)
    return label_frame(ds, entity, frame, horizon_days=horizon_days, horizons_days=horizons_days)


def scoring_frame(ds: Dataset, entity: str, at: pd.Timestamp | None = None) -> pd.DataFrame:
    """Batch scoring rows: every entity created by ``at`` and still open then (default: the export time)."""
    table, id_col = entity_table(ds, entity)
    cutoff = to_utc_scalar(at if at is not None else ds.manifest.exported_at).value
    created = time_ns(table["created_at"])
    keep = (created != NAT) & (created <= cutoff) & _open(ds, entity, np.full(len(table), cutoff))
    return _frame(ds, table[id_col][keep], np.full(int(keep.sum()), cutoff))


def closed_at(ds: Dataset, entity: str) -> np.ndarray:
    """When each entity of its table stopped being open (int64 ns; ``NAT``: open at the export): a deal's close, a
    lead's conversion or disqualification, whichever came first."""
    table, _ = entity_table(ds, entity)
    first, *rest = ("converted_at", "disqualified_at") if entity == "lead" else ("closed_at",)
    out = times(table, first)
    for column in rest:
        out = earliest(out, times(table, column))
    return out


def _open(ds: Dataset, entity: str, cutoffs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Whether each entity (``rows`` of its table, default all) is still open at its cutoff."""
    closed = closed_at(ds, entity)
    closed = closed if rows is None else closed[rows]
    return (closed == NAT) | (closed > cutoffs)


def _frame(ds: Dataset, ids: pd.Series, cutoffs: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "entity_id": ids.astype(STRING_DTYPE).reset_index(drop=True),
            "cutoff_time": to_time(cutoffs),
            "static_snapshot": not ds.manifest.has_event_times,
        }
    )


def _creation_frame(ds: Dataset, entity: str) -> pd.DataFrame:
    table, id_col = entity_table(ds, entity)
    created = time_ns(table["created_at"])
    keep = created != NAT
    return _frame(ds, table[id_col][keep], created[keep])


def _lead_snapshots(ds: Dataset, ages: Sequence[pd.Timedelta]) -> pd.DataFrame:
    """Leads at each age after creation, while not converted or disqualified and not after the export."""
    table, id_col = entity_table(ds, "lead")
    created = time_ns(table["created_at"])
    cut = created[:, None] + np.array([pd.Timedelta(a).value for a in ages], dtype=np.int64)[None, :]
    ok = (created != NAT)[:, None] & (cut <= _exported(ds))
    row, age = np.nonzero(ok)  # row-major: by lead, then age
    cutoffs = cut[row, age]
    keep = _open(ds, "lead", cutoffs, row)
    return _frame(ds, table[id_col].iloc[row[keep]], cutoffs[keep])


def _opportunity_snapshots(ds: Dataset, every_days: int) -> pd.DataFrame:
    """Deals every ``every_days`` from creation (k = 0, 1, ...) while open and not after the export."""
    table, id_col = entity_table(ds, "opportunity")
    created, closed = time_ns(table["created_at"]), times(table, "closed_at")
    step, exported = every_days * DAY_NS, _exported(ds)
    until = np.where(closed == NAT, exported, np.minimum(exported, closed - 1))  # open: cutoff < closed_at
    n = np.where(created == NAT, 0, np.maximum((until - created) // step + 1, 0))
    row = np.repeat(np.arange(len(table)), n)
    k = np.arange(len(row)) - np.repeat(np.cumsum(n) - n, n)
    return _frame(ds, table[id_col].iloc[row], created[row] + k * step)


def label_frame(
    ds: Dataset,
    entity: str,
    frame: pd.DataFrame,
    *,
    horizon_days: int = LEAD_HORIZON_DAYS,
    horizons_days: Sequence[int] = OPPORTUNITY_HORIZONS_DAYS,
) -> pd.DataFrame:
    """``frame`` plus labels from strictly after each cutoff and ``censored`` (the main label is unknown).

    Leads: ``label`` = converts in (cutoff, cutoff + horizon]. Deals: ``label`` = won after the cutoff
    (eventually), ``label_{N}d`` = won in (cutoff, cutoff + N days]. A label whose horizon runs past the export
    with no resolution in it (conversion or disqualification; a close) is NA, not negative. Entities resolved
    at or before their cutoff are negatives (policies never snapshot them). Without event times the labels
    are the final outcomes (converted; won). Sources lacking the outcome columns get no labels.
    """
    table, _ = entity_table(ds, entity)
    needed = {"converted_at"} if entity == "lead" else {"closed_at", "outcome"}
    if not needed <= set(table.columns):
        return frame
    codes, cutoffs = frame_codes_and_cutoffs(ds, entity, frame)
    if entity == "lead":
        positive_at = times(table, "converted_at")[codes]
        resolved_at = earliest(positive_at, times(table, "disqualified_at")[codes])
        final, settled = positive_at != NAT, np.ones(len(codes), dtype=bool)  # not converted by export: negative
        horizons = {"label": horizon_days}
    else:
        final = table["outcome"].eq("won").fillna(False).to_numpy(dtype=bool)[codes]
        settled = table["outcome"].notna().to_numpy(dtype=bool)[codes]
        closed = times(table, "closed_at")[codes]
        positive_at = np.where(final, closed, NAT)
        resolved_at = np.where(settled, closed, NAT)
        horizons = {"label": None, **{f"label_{n}d": n for n in horizons_days}}
    out = frame.copy()
    if not ds.manifest.has_event_times:  # one snapshot: only the final outcome is known
        out["label"] = _label(final, settled)
    else:
        for name, days in horizons.items():
            end = np.full(len(cutoffs), np.iinfo(np.int64).max) if days is None else cutoffs + days * DAY_NS
            observed = ((resolved_at != NAT) & (resolved_at <= end)) | (end <= _exported(ds))
            out[name] = _label((positive_at != NAT) & (positive_at > cutoffs) & (positive_at <= end), observed)
    out["censored"] = out["label"].isna().to_numpy()
    return out


def label_known_at(ds: Dataset, entity: str, frame: pd.DataFrame, days: int | None) -> pd.Series:
    """When each row's label is known whatever the outcome: the end of its ``days`` horizon, or (``None``: an
    eventual outcome) its entity's resolution.

    Keeping a row only once its horizon has ended, not as soon as its entity resolved, keeps the outcome from
    choosing which rows sit next to a boundary: quick conversions would otherwise crowd out the open leads whose
    horizon is still running, and the rates near the boundary would run high.
    """
    if days is not None:
        known = time_ns(to_utc(frame["cutoff_time"])) + days * DAY_NS
    else:
        table, _ = entity_table(ds, entity)
        column = "closed_at" if entity == "opportunity" else "converted_at"
        known = times(table, column)[frame_codes(ds, entity, frame)]
    return pd.Series(to_time(known).array, index=frame.index)  # UTC even when empty


def _exported(ds: Dataset) -> int:
    return to_utc_scalar(ds.manifest.exported_at).value


def _label(positive: np.ndarray, observed: np.ndarray) -> pd.arrays.BooleanArray:
    """True where positive, False where otherwise observed, NA where censored."""
    return pd.arrays.BooleanArray(positive, ~(positive | observed))


def dataset_as_of(ds: Dataset, at: pd.Timestamp) -> Dataset:
    """The export as it would have looked at ``at``: what a rolling-origin backtest may use at that origin.

    Entities created after ``at`` are gone, closes, conversions and disqualifications after ``at`` are undone
    (the entity is open again), stage changes and activities not yet known are dropped, and a rep who leaves
    later is still employed. Reps, accounts and targets are reference data and stay whole: a deal created before
    ``at`` may be owned by a later hire in the export, and targets are set ahead of their periods.
    """
    cut = to_utc_scalar(at).value
    tables = dict(ds.tables)

    def keep(name: str, rows: np.ndarray) -> pd.DataFrame:
        return tables[name][rows].reset_index(drop=True)

    def undo(df: pd.DataFrame, columns: Sequence[str], also: Sequence[str] = ()) -> pd.DataFrame:
        df = df.copy()
        for column in columns:
            if column in df.columns:
                later = times(df, column) > cut
                df.loc[later, column] = pd.NaT
                for other in also:
                    if other in df.columns:
                        df.loc[later, other] = pd.NA
        return df

    for name, column in (("leads", "created_at"), ("opportunities", "created_at"), ("stage_changes", "changed_at")):
        if name in tables:
            t = times(tables[name], column)
            tables[name] = keep(name, (t != NAT) & (t <= cut))
    if "activities" in tables:
        acts = tables["activities"]
        occurred = times(acts, "occurred_at")
        known = np.maximum(occurred, times(acts, "recorded_at"))
        tables["activities"] = keep("activities", (occurred != NAT) & (known <= cut))
    if "reps" in tables:
        tables["reps"] = undo(tables["reps"], ["left_at"])
    if "leads" in tables:
        tables["leads"] = undo(tables["leads"], ["converted_at", "disqualified_at"])
    if "opportunities" in tables:
        tables["opportunities"] = undo(tables["opportunities"], ["closed_at"], also=["outcome"])
    manifest = replace(ds.manifest, exported_at=to_utc_scalar(at), counts={k: len(v) for k, v in tables.items()})
    return Dataset(manifest, tables)
