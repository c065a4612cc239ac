"""Simulate chunk after chunk of leads and stream every table to Parquet, then write the small tables."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table

from features.crm.dataset import Dataset, Manifest, remove_table, to_utc_scalar, write_dataset
from features.crm.schema import TABLE_ORDER
from features.errors import DataError
from features.progress import progress_bar
from features.synth.anomalies import OUTLIER_SHARE, Plants
from features.synth.deals import Deals, StageChanges, simulate_deals
from features.synth.drift import Drift
from features.synth.events import Events, record
from features.synth.fit import write_rep_truth
from features.synth.leads import PLANTED, Leads, segment_truth, simulate_leads
from features.synth.org import org_tables
from features.synth.output import (
    EXTRAS,
    STREAMED,
    TRUTH_DIR,
    TRUTH_SCHEMAS,
    Columns,
    Streams,
    activity_columns,
    canonical_schema,
    deal_columns,
    deal_truth,
    follow_up_details,
    lead_columns,
    lead_truth,
    stage_columns,
)
from features.synth.truth import oracle, write_truth_meta
from features.synth.world import World, build_world

CHUNK_LEADS = 50_000
FOLLOW_UP_SEED = 4404  # seeds the activities' next steps and attachments apart from every other draw
STAGING = "_staging"
MIN_WINDOW_DAYS = 60


@dataclass(frozen=True)
class Chunk:
    leads: Leads
    deals: Deals
    stages: StageChanges
    activities: Events


def simulate_chunk(
    world: World,
    rng: np.random.Generator,
    first: int,
    count: int,
    drift: Drift | None = None,
    segment_drivers: bool = False,
) -> Chunk:
    """Leads ``first .. first+count-1`` with everything that follows from them, cut at the export."""
    leads, lead_events = simulate_leads(world, rng, first, count, drift, segment_drivers)
    deals, stages, deal_events = simulate_deals(world, rng, leads)
    ev = record(rng, world, Events.concat([lead_events, deal_events]))
    known = np.flatnonzero(ev.recorded <= world.horizon)
    order = np.lexsort((ev.occurred[known], ev.row[known], ev.on_deal[known]))
    return Chunk(leads, deals, stages, ev.take(known[order]))


@dataclass(frozen=True)
class SynthResult:
    out: Path
    counts: dict[str, int]
    oracle: dict[str, dict[str, float | int]]
    seconds: float

    def summary_table(self) -> Table:
        table = Table(title=f"Synthetic CRM in {self.out} ({self.seconds:.1f} s)")
        table.add_column("what")
        table.add_column("value", justify="right")
        for name, rows in self.counts.items():
            table.add_row(name, f"{rows:,}")
        leads, deals = self.oracle["leads"], self.oracle["opportunities"]
        table.add_row("lead conversion (drawn)", f"{leads['conversion_rate']:.1%}")
        table.add_row("win rate (closed deals)", f"{deals['win_rate']:.1%}")
        table.add_row("open deals at export", f"{deals['n_open']:,}")
        table.add_row("oracle ROC AUC leads / deals", f"{leads['roc_auc']:.3f} / {deals['roc_auc']:.3f}")
        table.add_row("ground truth", f"{self.out / TRUTH_DIR} (never read it in features or training)")
        return table


def synthesize(
    out: Path,
    leads: int = 20_000,
    seed: int = 0,
    start: str = "2024-01-01",
    end: str = "2025-12-31",
    progress: bool = False,
    chunk_size: int = CHUNK_LEADS,
    outlier_share: float = OUTLIER_SHARE,
    drift: str | None = None,
    drift_strength: float = 1.0,
    segment_drivers: bool = False,
    partitions: int | None = None,
) -> SynthResult:
    """Write a canonical dataset of a simulated sales organisation to ``out`` and its truth to ``out/_truth``.

    Each chunk draws from its own seed (``seed``, chunk index), so a seed always gives the same bytes.
    ``outlier_share``: the share of deals given an outlier amount for the data guard to find (0: none, for tests
    that measure something else; the other columns are the same either way). ``drift``: a date (ISO) after which
    the lead-source mix and buyer intent change, at ``drift_strength`` (0-1; ``features.synth.drift``).
    ``segment_drivers``: lead conversion drivers differ by region (``features.synth.leads.segment_logit``), as
    ``_truth/drivers.yaml`` records under ``segments``. ``partitions``: write the streamed tables (and the lead and
    deal truth) as directories of at least that many parts, each chunk cut into parts of consecutive rows, so
    memory stays one chunk's whatever the size; the rows are the same as without it.
    """
    began = time.perf_counter()
    start_ts, end_ts = _window(start, end)
    if leads < 1:
        raise DataError(f"--leads must be at least 1, got {leads}")
    if partitions is not None and partitions < 1:
        raise DataError(f"--partitions must be at least 1, got {partitions}")
    shift = _drift(drift, drift_strength, start_ts, end_ts)
    world = build_world(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))), leads, start_ts, end_ts)
    out = Path(out)
    staging, truth = out / STAGING, out / TRUTH_DIR
    staging.mkdir(parents=True, exist_ok=True)
    truth.mkdir(exist_ok=True)
    suffix = ".parquet" if partitions is None else ""
    files = {name: (staging / f"{name}{suffix}", canonical_schema(name)) for name in STREAMED}
    for name in TRUTH_SCHEMAS:
        remove_table(truth, name)
    files |= {f"truth_{name}": (truth / f"{name}{suffix}", schema) for name, schema in TRUTH_SCHEMAS.items()}
    chunks = -(-leads // chunk_size)
    slices = None if partitions is None else -(-partitions // chunks)
    scores: list[tuple[np.ndarray, ...]] = []
    plants = Plants(world, seed, outlier_share)  # the data anomaly guard's duplicates, outliers and discounts
    bar_opened = progress_bar("simulating leads", leads, progress, transient=False, counts=True)
    with Streams(files, slices) as streams, bar_opened as bar:
        for index, first in enumerate(range(0, leads, chunk_size)):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, index)))
            chunk = simulate_chunk(world, rng, first, min(chunk_size, leads - first), shift, segment_drivers)
            details = np.random.default_rng([seed, index, FOLLOW_UP_SEED])  # new columns: a generator of their own
            tables = plants.apply(index, chunk.leads, _columns(world, chunk, streams.rows["activities"], details))
            for name, columns in tables.items():
                streams.write(name, columns)
            scores.append(_scores(world, chunk))
            bar.advance(len(chunk.leads))
    counts = {name: streams.rows.get(name, 0) for name in TABLE_ORDER}
    figures = oracle(*(np.concatenate(column) for column in zip(*scores, strict=True)))
    _finish(world, out, staging, counts, seed, plants)
    plants.write_truth(truth)
    write_truth_meta(truth, figures, segment_truth() if segment_drivers else None)
    write_rep_truth(truth, world)
    if shift is not None:
        shift.write_truth(truth)
    return SynthResult(out, counts, figures, time.perf_counter() - began)


def _window(start: str, end: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    try:
        start_ts, end_ts = to_utc_scalar(start), to_utc_scalar(end)
    except ValueError as exc:
        raise DataError(f"--start/--end must be dates (YYYY-MM-DD): {exc}") from exc
    if (end_ts - start_ts).days < MIN_WINDOW_DAYS:
        raise DataError(f"--end must be at least {MIN_WINDOW_DAYS} days after --start, got {start} .. {end}")
    return start_ts, end_ts


def _drift(date: str | None, strength: float, start: pd.Timestamp, end: pd.Timestamp) -> Drift | None:
    """The drift asked for (none without a date); its date must fall inside the window."""
    if date is None:
        return None
    try:
        at = to_utc_scalar(date)
    except ValueError as exc:
        raise DataError(f"--drift must be a date (YYYY-MM-DD): {exc}") from exc
    if not start < at < end:
        raise DataError(f"--drift {date} must fall between --start and --end ({start:%Y-%m-%d} .. {end:%Y-%m-%d})")
    if not 0.0 <= strength <= 1.0:
        raise DataError(f"--drift-strength must be between 0 and 1, got {strength}")
    return Drift(at, (at - start).total_seconds() / 86_400, strength, PLANTED)


def _columns(world: World, chunk: Chunk, first_id: int, details: np.random.Generator) -> dict[str, Columns]:
    """The chunk's rows for every streamed file; activity ids continue from ``first_id``; ``details`` draws the
    activities' next steps and attachments."""
    return {
        "leads": lead_columns(world, chunk.leads),
        "opportunities": deal_columns(world, chunk.deals),
        "stage_changes": stage_columns(world, chunk.deals, chunk.stages),
        "activities": activity_columns(world, chunk.activities, first_id)
        | follow_up_details(details, chunk.activities),
        "truth_leads": lead_truth(chunk.leads),
        "truth_opportunities": deal_truth(world, chunk.deals),
    }


def _scores(world: World, chunk: Chunk) -> tuple[np.ndarray, ...]:
    """What the oracle figures need from a chunk, in ``truth.oracle``'s argument order."""
    leads, deals = chunk.leads, chunk.deals
    closed = deals.close <= world.horizon
    return leads.p, leads.converted, leads.converted_by(world.horizon), deals.p, deals.won, closed


def _finish(world: World, out: Path, staging: Path, counts: dict[str, int], seed: int, plants: Plants) -> None:
    """Small tables and the manifest through the dataset module, then the streamed tables moved in."""
    tables = plants.org(org_tables(world))
    counts |= {name: len(frame) for name, frame in tables.items()}
    manifest = Manifest(
        source="salesml-synth",
        exported_at=world.start + pd.Timedelta(days=world.horizon),
        extra_columns=EXTRAS,
        counts=dict(counts),
        notes=[
            f"simulated by salesml data synth: {world.n_leads} leads, seed {seed}",
            f"ground truth (true probabilities, drawn outcomes, planted drivers) is in {TRUTH_DIR}/: "
            "never read it in features or training",
            "activities.recorded_at is when a row was entered; back-filled rows are entered days after occurred_at",
            "opportunities.expected_close_at is the guess entered at creation (never updated, so point-in-time safe)",
        ],
    )
    write_dataset(Dataset(manifest, tables), out)
    for path in staging.iterdir():
        path.replace(out / path.name)
    shutil.rmtree(staging)
