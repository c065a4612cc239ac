"""Arrow columns for the canonical tables and the truth, and the writers that stream them to Parquet.

Streamed tables carry the schema (with pandas metadata) that ``conform`` gives, so ``pd.read_parquet``
and ``read_dataset`` return exactly the canonical dtypes without a cast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.crm.dataset import conform, part_file
from features.crm.schema import ACTIVITY_TYPES, CONTACT_ROLES, DIRECTIONS, ENTITY_TYPES, OUTCOMES, TABLES, ExtraColumn
from features.synth.deals import CURRENCY, PRODUCTS, STAGES, Deals, StageChanges
from features.synth.events import (
    ATTACHMENT_OTHER,
    ATTACHMENT_SHARE,
    EFFECTIVE_CALL_S,
    LONG,
    NEXT_STEP_SHARE,
    NEXT_STEPS,
    NOTE_GROUPS,
    NOTES,
    OUTBOUND,
    TYPE,
    Events,
)
from features.synth.leads import Leads
from features.synth.world import COMPANY_SIZES, INDUSTRIES, REGIONS, SOURCES, World

TRUTH_DIR = "_truth"
ID_WIDTH = {"R": 4, "C": 7, "L": 8, "O": 8, "A": 10}  # prefix: reps, companies, leads, opportunities, activities
EXTRAS = {"opportunities": [ExtraColumn("discount_pct", "numeric", display="折扣率 (%)")]}
STREAMED = ("leads", "opportunities", "stage_changes", "activities")
TIME = pa.timestamp("ns", tz="UTC")
TRUTH_SCHEMAS = {
    "leads": pa.schema(
        [
            ("lead_id", pa.string()),
            ("p_convert", pa.float64()),
            ("converted_drawn", pa.bool_()),
            ("first_response_days", pa.float64()),
        ]
    ),
    "opportunities": pa.schema(
        [
            ("opportunity_id", pa.string()),
            ("p_win", pa.float64()),
            ("won_drawn", pa.bool_()),
            ("true_closed_at", TIME),
            ("won_at", TIME),
        ]
    ),
}

Columns = dict[str, pa.Array]


def ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    """Zero-padded ids counted from 1 (``R0001``); negative numbers become nulls."""
    numbers = np.asarray(numbers)
    digits = pa.array(numbers + 1, mask=numbers < 0).cast(pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(digits, ID_WIDTH[prefix], "0"), "")


def coded(vocabulary: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Strings from codes into ``vocabulary``; negative codes become nulls."""
    codes = np.asarray(codes)
    return pa.array(vocabulary, pa.string()).take(pa.array(codes, mask=codes < 0))


def times(world: World, days: np.ndarray) -> pa.Array:
    """UTC timestamps, to the second, from days since the window start; NaN becomes null."""
    seconds = np.round(np.nan_to_num(days) * 86_400).astype(np.int64)
    return pa.array(world.start.value + seconds * 1_000_000_000, type=TIME, mask=np.isnan(days))


def floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.float64(), from_pandas=True)


def canonical_schema(name: str) -> pa.Schema:
    extras = EXTRAS.get(name, [])
    empty = pd.DataFrame(columns=TABLES[name].names + [e.name for e in extras])
    return pa.Schema.from_pandas(conform(name, empty, extras), preserve_index=False)


def lead_columns(world: World, leads: Leads) -> Columns:
    converted, disqualified = leads.converted_by(world.horizon), leads.disqualified_by(world.horizon)
    return {
        "lead_id": ids("L", leads.number),
        "created_at": times(world, leads.created),
        "source": coded(SOURCES, leads.source),
        "region": coded(REGIONS, leads.region),
        "industry": coded(INDUSTRIES, leads.industry),
        "company_size": coded(COMPANY_SIZES, leads.size),
        "owner_rep_id": ids("R", leads.owner),
        "account_id": ids("C", leads.account),
        "preferred_rep_id": ids("R", leads.preferred),
        "converted_at": times(world, np.where(converted, leads.end, np.nan)),
        "disqualified_at": times(world, np.where(disqualified, leads.end, np.nan)),
    }


def deal_columns(world: World, deals: Deals) -> Columns:
    closed = deals.close <= world.horizon
    return {
        "opportunity_id": ids("O", deals.number),
        "account_id": ids("C", deals.account),
        "lead_id": ids("L", deals.number),
        "owner_rep_id": ids("R", deals.owner),
        "product": coded(PRODUCTS, deals.product),
        "amount": floats(deals.amount),
        "currency": coded((CURRENCY,), np.zeros(len(deals), dtype=np.int64)),
        "created_at": times(world, deals.created),
        "expected_close_at": times(world, deals.expected_close),
        "closed_at": times(world, np.where(closed, deals.close, np.nan)),
        "outcome": coded(
            OUTCOMES, np.where(closed, np.where(deals.won, OUTCOMES.index("won"), OUTCOMES.index("lost")), -1)
        ),
        "discount_pct": floats(deals.discount),
    }


def stage_columns(world: World, deals: Deals, stages: StageChanges) -> Columns:
    return {
        "opportunity_id": ids("O", deals.number[stages.row]),
        "stage": coded(STAGES, stages.stage),
        "changed_at": times(world, stages.at),
    }


def activity_columns(world: World, ev: Events, first_id: int) -> Columns:
    return {
        "activity_id": ids("A", first_id + np.arange(len(ev))),
        "entity_type": coded(ENTITY_TYPES, np.where(ev.on_deal, ENTITY_TYPES.index("opportunity"), 0)),
        "entity_id": pc.if_else(pa.array(ev.on_deal), ids("O", ev.row), ids("L", ev.row)),
        "rep_id": ids("R", ev.rep),
        "occurred_at": times(world, ev.occurred),
        "recorded_at": times(world, ev.recorded),
        "type": coded(ACTIVITY_TYPES, ev.kind),
        "direction": coded(DIRECTIONS, ev.direction),
        "duration_s": floats(ev.duration),
        "contact_role": coded(CONTACT_ROLES, ev.role),
        "note": coded(NOTES, ev.note),
    }


def follow_up_details(rng: np.random.Generator, ev: Events) -> Columns:
    """Each rep action's next step (a share of them, mostly effective ones) and whether a document or meeting note is
    attached (meetings, demos, documents, quotes more often); the customer's own actions have neither."""
    n = len(ev)
    rep_action = ev.direction == OUTBOUND
    timed = np.isin(ev.kind, LONG) | ((ev.kind == TYPE["call"]) & (np.nan_to_num(ev.duration) >= EFFECTIVE_CALL_S))
    effective = timed | np.isin(ev.kind, [TYPE[t] for t in ("quote_sent", "poc_start", "poc_end", "contract_revision")])
    vague = np.isin(ev.note, [NOTES.index(note) for note in NOTE_GROUPS["vague"]])
    share = np.where(
        vague, NEXT_STEP_SHARE["vague"], np.where(effective, NEXT_STEP_SHARE["effective"], NEXT_STEP_SHARE["other"])
    )
    step = np.where(rep_action & (rng.random(n) < share), rng.integers(0, len(NEXT_STEPS), n), -1)
    attach_share = np.full(n, ATTACHMENT_OTHER)
    for kind, value in ATTACHMENT_SHARE.items():
        attach_share[ev.kind == TYPE[kind]] = value
    attached = rep_action & (rng.random(n) < np.where(vague, ATTACHMENT_OTHER, attach_share))
    return {"next_step": coded(NEXT_STEPS, step), "attachment": pa.array(attached)}


def lead_truth(leads: Leads) -> Columns:
    return {
        "lead_id": ids("L", leads.number),
        "p_convert": floats(leads.p),
        "converted_drawn": pa.array(leads.converted),
        "first_response_days": floats(leads.latency),
    }


def deal_truth(world: World, deals: Deals) -> Columns:
    return {
        "opportunity_id": ids("O", deals.number),
        "p_win": floats(deals.p),
        "won_drawn": pa.array(deals.won),
        "true_closed_at": times(world, deals.close),
        "won_at": times(world, deals.won_at),
    }


class Streams:
    """The streamed files (name: (path, schema)), fed a chunk at a time and closed together: one ParquetWriter
    per file, or with ``slices`` a directory per table into which each chunk goes as ``slices`` parts of
    consecutive rows (parts named in row order, so the table reads as the one file would)."""

    def __init__(self, files: dict[str, tuple[Path, pa.Schema]], slices: int | None = None) -> None:
        self.files, self.slices = files, slices
        self.writers = {} if slices else {name: pq.ParquetWriter(*file) for name, file in files.items()}
        self.rows = dict.fromkeys(files, 0)
        self.parts = dict.fromkeys(files, 0)

    def write(self, name: str, columns: Columns) -> None:
        path, schema = self.files[name]
        rows = len(next(iter(columns.values())))
        # optional canonical columns the simulator does not fill are written empty
        arrays = [columns.get(field.name, pa.nulls(rows)).cast(field.type) for field in schema]
        table = pa.Table.from_arrays(arrays, schema=schema)
        if self.slices is None:
            self.writers[name].write_table(table)
        else:
            bounds = np.linspace(0, rows, self.slices + 1).astype(int)
            for first, last in zip(bounds[:-1], bounds[1:], strict=True):
                if last > first:
                    self._write_part(name, table.slice(first, last - first))
        self.rows[name] += rows

    def _write_part(self, name: str, table: pa.Table) -> None:
        path, _ = self.files[name]
        path.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, part_file(path, self.parts[name]))
        self.parts[name] += 1

    def __enter__(self) -> Streams:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for writer in self.writers.values():
            writer.close()
        for name, count in self.parts.items():
            if self.slices and not count:  # a table without rows still has its (empty) part
                self._write_part(name, self.files[name][1].empty_table())
