"""The CRM history a request is scored against, and requests turned into canonical rows.

Features such as the owner's win rate or the account's past deals need the CRM's history, and a forecast needs
every deal open at its as-of time with its stages and activities, the wins before it and the targets; the service
keeps the whole dataset of the latest export (``salesml export``) for that, and its ``History`` (the rep and account
records) indexed once at start. A scoring request's own entities replace the export's rows for them: the history is
adjusted by those rows, and the dataset holds only what the request's features read (the request's leads and their
activities; for deals the export's other deals too, for the amount medians, and the originating leads'
activities). So ``features.pit.build`` runs on a small dataset and gives exactly what it gives on the whole export
(``tests/serving/test_serving_request.py`` proves it). A lead request small enough for the per-row families hands
them its activities as values (``features.pit.per_row.Activities``): they become a table only when something reads
the request's whole dataset (a larger batch's vectorised build, routing, what-if).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property, partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from features.crm.dataset import (
    STRING_DTYPE,
    Dataset,
    Manifest,
    aware_ns,
    conform,
    conform_values,
    read_dataset,
    values_frame,
    write_dataset,
)
from features.crm.schema import ACTIVITY_TYPES
from features.pit.activity_log import Raw
from features.pit.build import build_features
from features.pit.history import History
from features.pit.per_row import Activities, runs_per_row
from features.pit.timeline import column
from serving.schemas.columnar import TIME_FIELDS, ActivityColumns, activity_columns
from serving.schemas.scoring import (
    ACTIVITY_BLANK,
    ActivityIn,
    LeadIn,
    LeadScoreRequest,
    OpportunityIn,
    OpportunityScoreRequest,
    StageIn,
)

LEAD_FIELDS = ("lead_id", "created_at", "source", "region", "industry", "company_size", "owner_rep_id", "account_id")
DEAL_FIELDS = (
    "opportunity_id",
    "created_at",
    "account_id",
    "lead_id",
    "owner_rep_id",
    "product",
    "amount",
    "currency",
    "expected_close_at",
)
Warnings = list[list[str]]
#: The entity frame a request is built as: its items' ids and its time, as canonical text and time columns.
FRAME_KINDS = {"entity_id": "text", "cutoff_time": "time"}
#: An activity this long before its lead or deal was created is more likely a wrong date or a wrong entity than early
#: interest (the web visits before the form that created a lead are hours or days before it).
EARLY_ACTIVITY_DAYS = 30
#: What a request's references are counted against: the record each one has in the history, and the tables and
#: columns the features count it from. A reference in none of them is counted as having no record.
RECORDS = {
    "owner_rep_id": (
        "a rep record",
        (("reps", "rep_id"), ("leads", "owner_rep_id"), ("opportunities", "owner_rep_id")),
    ),
    "account_id": ("an account record", (("accounts", "account_id"), ("opportunities", "account_id"))),
}


@dataclass
class Prepared:
    """A request as the feature builder takes it: the tables (the request's activities aside), the (entity, as_of)
    frame, per-item warnings, the history its rep and account records are counted on, and the request's activities:
    as values for its own row-by-row build, and as a table built when something reads the whole ``dataset``."""

    entity: str
    manifest: Manifest
    tables: dict[str, pd.DataFrame]
    frame: pd.DataFrame
    warnings: Warnings
    history: History
    activity_table: Callable[[], pd.DataFrame]
    activities: Activities | None = None  # for a request the per-row families build; None: they read the table

    @cached_property
    def dataset(self) -> Dataset:
        """The tables with the request's activities: what routing, what-if and a vectorised build read."""
        return Dataset(self.manifest, {**self.tables, "activities": self.activity_table()})

    def features(self) -> pd.DataFrame:
        if self.activities is not None:
            own = Dataset(self.manifest, self.tables)  # the per-row families read the activities' values
            return build_features(own, self.entity, self.frame, history=self.history, activities=self.activities)
        return build_features(self.dataset, self.entity, self.frame, history=self.history)


class ServingContext:
    """The export's history, indexed once so that each request costs only its own rows."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self._by_lead = _lead_activity_rows(ds.get("activities"))
        self._funnel = {name: i for i, name in enumerate(ds.manifest.stage_names())}
        self._known = {field: _values(ds, sources) for field, (_, sources) in RECORDS.items()}
        self.history = History.of(ds).kept()  # forecasts and sweeps on ds reuse it too

    @classmethod
    def read(cls, path: Path) -> ServingContext:
        return cls(read_dataset(path))

    @staticmethod
    def write(ds: Dataset, out: Path) -> None:
        """Keep every table: scoring reads the history, a forecast also the deals' stages, activities and targets."""
        write_dataset(ds, out)

    def span(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The times a forecast can be made as of: from the first deal to the export (what happened since is not
        in the history)."""
        return self.ds.get("opportunities")["created_at"].min(), self.ds.manifest.exported_at

    def leads(self, *requests: LeadScoreRequest) -> Prepared:
        """One or more requests' leads, each row as of its request's time (their ids are distinct)."""
        items = [lead for request in requests for lead in request.leads]
        ids = [lead.lead_id for lead in items]
        rows = self._entity_rows("leads", items, LEAD_FIELDS)
        histories = [(lead.lead_id, lead.activities) for lead in items]
        values = _activity_values(histories)
        history = self._history_with("leads", "lead_id", [[x.lead_id for x in r.leads] for r in requests], rows)
        warnings = [self._warnings(lead, acts) for lead, acts in zip(items, activity_warnings(items), strict=True)]
        table = partial(_activity_rows, "lead", histories, values)
        # a larger batch's vectorised build reads the table
        own = _activities(values, [len(acts) for _, acts in histories]) if runs_per_row(len(items)) else None
        at = _cutoffs(requests, "leads")
        return self._prepared({"leads": rows}, table, "lead", ids, at, warnings, history, own)

    def with_leads(self, prepared: Prepared) -> Dataset:
        """The export with a prepared lead request's leads in place of its rows for them, and their activities:
        what routing and follow-up quality read (they look at other leads too)."""
        leads = prepared.dataset.get("leads")
        table = self._replace("leads", "lead_id", leads["lead_id"].tolist(), leads)
        return Dataset(prepared.dataset.manifest, {**prepared.dataset.tables, "leads": table})

    def opportunities(self, request: OpportunityScoreRequest) -> Prepared:
        """A request's deals (one request at a time: a deal's features read the other deals' amounts)."""
        items = request.opportunities
        ids = [deal.opportunity_id for deal in items]
        rows = self._entity_rows("opportunities", items, DEAL_FIELDS)
        origin = self._origin_activities([deal.lead_id for deal in items if deal.lead_id])
        acts = _activity_rows("opportunity", [(deal.opportunity_id, deal.activities) for deal in items])
        activities = pd.concat([origin, acts], ignore_index=True)
        history = self._history_with("opportunities", "opportunity_id", [ids], rows)
        tables = {
            "opportunities": self._replace("opportunities", "opportunity_id", ids, rows),
            "stage_changes": _stage_rows(items),
        }
        warnings = [self._warnings(deal, acts) for deal, acts in zip(items, activity_warnings(items), strict=True)]
        at = _cutoffs((request,), "opportunities")
        return self._prepared(tables, lambda: activities, "opportunity", ids, at, warnings, history)

    def _prepared(
        self,
        tables: dict[str, pd.DataFrame],
        activities: Callable[[], pd.DataFrame],
        entity: str,
        ids: list[str],
        at: list[datetime],
        warnings: Warnings,
        history: History,
        values: Activities | None = None,
    ) -> Prepared:
        """The request's tables in place of the export's, the export's activities and stage changes left out (the
        request brings its own: ``activities`` makes its activity table; ``values`` are them for a per-row build)."""
        frame = values_frame({"entity_id": ids, "cutoff_time": at}, FRAME_KINDS)
        merged = {name: df for name, df in self.ds.tables.items() if name not in ("activities", "stage_changes")}
        return Prepared(entity, self.ds.manifest, {**merged, **tables}, frame, warnings, history, activities, values)

    def _entity_rows(self, table: str, items: list[LeadIn] | list[OpportunityIn], fields: tuple[str, ...]):
        extras = self.ds.manifest.extras(table)
        columns = {f: [item.__dict__[f] for item in items] for f in fields}
        columns |= {e.name: [item.attributes.get(e.name) for item in items] for e in extras}
        return conform_values(table, columns, extras)

    def _replace(self, table: str, key: str, ids: list[str], rows: pd.DataFrame) -> pd.DataFrame:
        """The export's table with the request's rows in place of its own rows for those ids."""
        current = self.ds.get(table)
        return pd.concat([current[~current[key].isin(ids)], rows], ignore_index=True)

    def _history_with(self, table: str, key: str, calls: list[list[str]], rows: pd.DataFrame) -> History:
        """The export's history with each call's rows (``rows``, call after call) in place of the export's rows for
        its ids (ids are unique in a table: the import keeps the first of duplicates). Each call's rows see its own
        change alone, as if it were scored by itself."""
        history, start = self.history, 0
        for ids in calls:
            found = self.history.rows(table, key, ids)
            known = found[found >= 0]  # usually none: a new lead
            old = Dataset(self.ds.manifest, {table: self.ds.get(table).take(known)} if len(known) else {})
            own = rows if len(ids) == len(rows) else rows.iloc[start : start + len(ids)]  # one call: the rows whole
            new = Dataset(self.ds.manifest, {table: own})
            history = history.replaced(old, new, frozenset(ids) if len(calls) > 1 else None)
            start += len(ids)
        return history

    def _origin_activities(self, lead_ids: list[str]) -> pd.DataFrame:
        positions = [self._by_lead[i] for i in dict.fromkeys(lead_ids) if i in self._by_lead]
        return self.ds.get("activities").take(np.concatenate(positions) if positions else np.array([], dtype=int))

    def _warnings(self, item: LeadIn | OpportunityIn, activities: list[str]) -> list[str]:
        """What an item's answer says about its data: what was ignored or counted otherwise, and what is possible
        but suspicious (the item is scored either way)."""
        stages = self._stage_warnings(item.stages, item.created_at) if isinstance(item, OpportunityIn) else []
        return [
            *self._attribute_warnings(item),
            *self._record_warnings(item),
            *stages,
            *activities,
        ]

    def _attribute_warnings(self, item: LeadIn | OpportunityIn) -> list[str]:
        table = "opportunities" if isinstance(item, OpportunityIn) else "leads"
        known = {e.name for e in self.ds.manifest.extras(table)}
        return [
            f"attributes.{k}: not a column the model was trained with (ignored)"
            for k in item.attributes
            if k not in known
        ]

    def _record_warnings(self, item: LeadIn | OpportunityIn) -> list[str]:
        """References the history has no record of (a rep hired or an account entered since the export, or a wrong
        id): their features count nothing, as the batch counts a rep or account without other rows."""
        return [
            f"{field}: {value!r} is not in the CRM history (scored without {record})"
            for field, (record, _) in RECORDS.items()
            if (value := getattr(item, field)) is not None and value not in self._known[field]
        ]

    def _stage_warnings(self, stages: list[StageIn], created_at: datetime) -> list[str]:
        unknown = [
            f"stages[{j}].stage: unknown stage {s.stage!r} (known: {', '.join(sorted(self._funnel))})"
            for j, s in enumerate(stages)
            if s.stage not in self._funnel
        ]
        early = [
            f"stages[{j}].changed_at: before created_at" for j, s in enumerate(stages) if s.changed_at < created_at
        ]
        return unknown + early + self._regressions(stages)

    def _regressions(self, stages: list[StageIn]) -> list[str]:
        """Stages entered after a later one of the funnel, taken in time order as the features count regressions
        (changes at one time in funnel order; an unknown stage is no regression)."""
        ranks = [self._funnel.get(s.stage, -1) for s in stages]
        order = sorted(range(len(stages)), key=lambda j: (stages[j].changed_at, ranks[j]))
        return [
            f"stages[{j}].stage: {stages[j].stage!r} after {stages[i].stage!r} goes back in the funnel "
            "(counted as a regression)"
            for i, j in pairwise(order)
            if 0 <= ranks[j] < ranks[i]
        ]


def _cutoffs(
    requests: tuple[LeadScoreRequest, ...] | tuple[OpportunityScoreRequest, ...], items: str
) -> list[datetime]:
    """Per item, its request's time (one reading of the clock per request without one)."""
    return [at for request in requests for at in [request.at()] * len(getattr(request, items))]


def _lead_activity_rows(acts: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each lead's rows in the activities table: the history a deal's lead-origin features read (deal activities
    come per request). Positions, not a copy of the leads' activities: the table is the largest one held."""
    leads = acts["entity_id"].where(acts["entity_type"].eq("lead").fillna(False))
    return leads.groupby(leads, sort=False, observed=True, dropna=True).indices


KNOWN_TYPES = frozenset(ACTIVITY_TYPES)


def activity_warnings(items: list[LeadIn] | list[OpportunityIn]) -> list[list[str]]:
    """Per item, its activities' warnings (``_activity_warnings``); a request's columns checked all at once, the
    rows found worded one by one."""
    if not items or not all(isinstance(item.activities, ActivityColumns) for item in items):
        return [_activity_warnings(item.activities, item.created_at) for item in items]  # type: ignore[arg-type]
    histories: list[ActivityColumns] = [item.activities for item in items]  # type: ignore[misc]
    columns = activity_columns(histories)
    counts = [len(history) for history in histories]
    starts = np.cumsum([0, *counts])
    early = [item.created_at - timedelta(days=EARLY_ACTIVITY_DAYS) for item in items]
    early_rows = np.repeat(np.array([e.replace(tzinfo=None) for e in early], dtype="datetime64[us]"), counts)
    kinds, occurred, recorded = columns["type"], columns["occurred_at"], columns["recorded_at"]
    strange = set(kinds) - KNOWN_TYPES  # usually none: then no activity is looked at again
    unknown = (
        np.fromiter((kind in strange for kind in kinds), bool, len(kinds)) if strange else np.zeros(len(kinds), bool)
    )
    warnings: list[list[str]] = [[] for _ in items]
    for row in np.flatnonzero(unknown | (occurred < early_rows) | (recorded < occurred)).tolist():
        i = int(np.searchsorted(starts, row, side="right")) - 1
        worded = _warned(row - int(starts[i]), kinds[row], _utc(occurred[row]), _utc(recorded[row]), early[i])
        warnings[i] += worded
    return warnings


def _activity_warnings(activities: list[ActivityIn], created_at: datetime) -> list[str]:
    """Unknown types, and times that are possible but suspicious: long before the entity existed, or entered in the
    CRM before they happened (the features take an activity as known when it happened)."""
    early = created_at - timedelta(days=EARLY_ACTIVITY_DAYS)
    return [
        w
        for j, a in enumerate(activities)
        for w in _warned(j, a["type"], a["occurred_at"], a.get("recorded_at"), early)
    ]


def _utc(value: np.datetime64) -> datetime | None:
    return None if np.isnat(value) else pd.Timestamp(value, tz="UTC").to_pydatetime()


def _warned(j: int, kind: str, occurred: datetime, recorded: datetime | None, early: datetime) -> list[str]:
    """The warnings of the ``j``-th activity."""
    warnings = []
    if kind not in KNOWN_TYPES:
        warnings.append(f"activities[{j}].type: unknown type {kind!r} (counted as other)")
    if occurred < early:
        warnings.append(f"activities[{j}].occurred_at: more than {EARLY_ACTIVITY_DAYS} days before created_at")
    if recorded is not None and recorded < occurred:
        warnings.append(f"activities[{j}].recorded_at: before occurred_at (counted from occurred_at)")
    return warnings


def _values(ds: Dataset, sources: tuple[tuple[str, str], ...]) -> frozenset[str]:
    """The ids found in any of the tables' columns."""
    return frozenset(pd.concat([column(ds.get(t), c).astype(STRING_DTYPE) for t, c in sources]).dropna().unique())


def _activity_values(histories: list[tuple[str, list[ActivityIn] | ActivityColumns]]) -> dict[str, Any]:
    """The items' activities as columns, in order: every field of ``ActivityIn`` (None where not sent), recorded_at
    defaulted to occurred_at; times as UTC ``datetime64[us]`` arrays when the body was parsed to columns (a batch
    of 1,000 leads can carry 100,000 activities), else as aware datetimes."""
    if histories and all(isinstance(history, ActivityColumns) for _, history in histories):
        columns = activity_columns([history for _, history in histories])  # type: ignore[misc]
        recorded, occurred = columns["recorded_at"], columns["occurred_at"]
        columns["recorded_at"] = np.where(np.isnat(recorded), occurred, recorded)
        return columns
    values = [tuple({**ACTIVITY_BLANK, **act}.values()) for _, history in histories for act in history]  # type: ignore[dict-item]
    transposed = map(list, zip(*values, strict=True)) if values else ([] for _ in ACTIVITY_BLANK)
    columns = dict(zip(ACTIVITY_BLANK, transposed, strict=True))  # every field, in order; None where not sent
    columns["recorded_at"] = [r or o for r, o in zip(columns["recorded_at"], columns["occurred_at"], strict=True)]
    return columns


def _activity_rows(
    entity_type: str,
    histories: list[tuple[str, list[ActivityIn] | ActivityColumns]],
    columns: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Canonical activity rows of the items' activities (``columns``: their ``_activity_values`` when already
    read). They need no activity_id: no feature reads it."""
    # Each activity's entity taken from one Arrow array of the items' ids: a string per activity costs more
    rows = np.repeat(np.arange(len(histories)), [len(history) for _, history in histories])
    ids = pa.array([entity_id for entity_id, _ in histories], pa.large_string()).take(rows)
    columns = dict(_activity_values(histories) if columns is None else columns)
    for f in TIME_FIELDS:
        if isinstance(columns[f], np.ndarray):
            columns[f] = pd.DatetimeIndex(columns[f], tz="UTC")
    columns["entity_id"] = ids
    columns["entity_type"] = pa.array([entity_type], pa.large_string()).take(np.zeros(len(ids), dtype=np.int64))
    return conform_values("activities", columns)


def _activities(columns: dict[str, Any], counts: list[int]) -> Activities:
    """The items' activities (``_activity_values``) as the per-row families read them: the i-th item's are its
    entity's, the i-th row of the request's entity table."""
    occurred, recorded = (_ns(columns[f]) for f in TIME_FIELDS)
    durations = np.asarray(columns["duration_s"], dtype=np.float64)  # None: NaN
    raw = Raw.of_values(occurred, recorded, columns["type"], columns["direction"], durations, columns["contact_role"])
    return Activities(raw, list(columns["note"]), np.repeat(np.arange(len(counts)), counts))


def _ns(times: np.ndarray | list[datetime | None]) -> np.ndarray:
    """Times (``_activity_values``) as int64 ns, as the activities table holds them."""
    return times.astype("datetime64[ns]").view(np.int64) if isinstance(times, np.ndarray) else aware_ns(times)


def _stage_rows(deals: list[OpportunityIn]) -> pd.DataFrame:
    rows = [{"opportunity_id": deal.opportunity_id, **stage.model_dump()} for deal in deals for stage in deal.stages]
    return conform("stage_changes", pd.DataFrame.from_records(rows, columns=["opportunity_id", *StageIn.model_fields]))
