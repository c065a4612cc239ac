"""The benchmarks' random canonical export (seeded, vectorised): in memory, or written to disk a part at a time.

Two years of leads, deals and activities and a frame of lead cutoffs. The activities and the cutoffs are drawn
column by column from one generator, as the small tables are; to make them a part at a time, each of their
columns gets a generator of its own, started at the state the one generator had when that column's draw began
(found by drawing the column in chunks and throwing them away), so the parts together are the one-shot dataset
and no process holds more than a part of the large tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.crm.dataset import STRING_DTYPE, Dataset, Manifest, conform, part_file, write_manifest, write_parts
from features.crm.schema import ACTIVITY_TYPES, CONTACT_ROLES
from features.outputs import output_dir

START = pd.Timestamp("2024-01-01", tz="UTC").value // 10**9  # all times in whole seconds (DuckDB keeps µs)
DAY_S = 86_400
SPAN_S = 730 * DAY_S
NOTES = ("客户预算审批中", "已沟通", "客户在比价", "Customer also evaluating Nordtek", "讨论上线周期", "Sent quote")
#: Values drawn at a time while a generator is moved past a column: bounds the memory of skipping 100 M values.
SKIP_CHUNK = 1_000_000
#: Where the frame of cutoffs goes in a written export (a partitioned table beside the dataset's tables).
FRAME = "frame"

Draw = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class Size:
    activities: int
    cutoffs: int
    leads: int
    deals: int
    reps: int = 300
    accounts: int = 20_000


def _vocab(prefix: str, n: int, first: int = 0) -> pa.Array:
    """The ids ``prefix{first}`` .. ``prefix{first + n - 1}``, to take from (``_ids``)."""
    return pa.array([f"{prefix}{i}" for i in range(first, first + n)], type=pa.large_string())


def _ids(vocab: pa.Array, codes: np.ndarray) -> pd.Series:
    """Id strings for codes (-1: missing), built in Arrow so 10M of them take a second, not a minute."""
    return pd.Series(pd.array(vocab.take(pa.array(codes, mask=codes < 0)), dtype=STRING_DTYPE))


def _pick_codes(missing: np.ndarray, codes: np.ndarray, values: tuple[str, ...]) -> pd.Series:
    """``values[codes]``, missing where ``missing``."""
    vocab = pa.array(values, type=pa.large_string())
    codes = np.where(missing, -1, codes)
    return pd.Series(pd.array(vocab.take(pa.array(codes, mask=codes < 0)), dtype=STRING_DTYPE))


def _pick(rng: np.random.Generator, values: tuple[str, ...], n: int, missing: float = 0.0) -> pd.Series:
    return _pick_codes(rng.random(n) < missing, rng.integers(0, len(values), n), values)


def _times(seconds: np.ndarray) -> pd.Series:
    """Whole UTC seconds (NaN: missing) as canonical times."""
    ns = np.where(np.isnan(seconds), np.iinfo(np.int64).min, np.nan_to_num(seconds).astype(np.int64) * 10**9)
    return pd.Series(ns.view("datetime64[ns]")).dt.tz_localize("UTC")


def _picked_draws(name: str, values: tuple[str, ...]) -> dict[str, Draw]:
    """A ``_pick`` of ``values`` as its two draws: whether missing, then the code."""
    return {f"{name}_missing": lambda r, n: r.random(n), name: lambda r, n: r.integers(0, len(values), n)}


#: The draws of the activities' columns made before the small tables' (times), and after them (details).
TIME_DRAWS: dict[str, Callable[[Size], Draw]] = {
    "lead_of": lambda s: lambda r, n: r.integers(0, s.leads, n),
    "occurred": lambda s: lambda r, n: r.exponential(10 * DAY_S, n),
    "lagged": lambda s: lambda r, n: r.random(n),
    "lag": lambda s: lambda r, n: r.exponential(2 * DAY_S, n),
}
PICKED = {"entity_type": ("lead",), "type": ACTIVITY_TYPES, "direction": ("inbound", "outbound")}
LATE_PICKED = {"contact_role": CONTACT_ROLES, "note": NOTES}
MISSING = {"entity_type": 0.0, "type": 0.0, "direction": 0.1, "contact_role": 0.7, "note": 0.9}
DETAIL_DRAWS: dict[str, Draw] = {
    **{k: v for name, values in PICKED.items() for k, v in _picked_draws(name, values).items()},
    "has_duration": lambda r, n: r.random(n),
    "duration": lambda r, n: r.exponential(300, n),
    **{k: v for name, values in LATE_PICKED.items() for k, v in _picked_draws(name, values).items()},
}
CUTOFF_DRAWS: dict[str, Callable[[Size], Draw]] = {
    "row": lambda s: lambda r, n: r.integers(0, s.leads, n),
    "offset": lambda s: lambda r, n: r.uniform(0, 60 * DAY_S, n),
}


@dataclass
class Export:
    """A seeded random export: its small tables whole, and where each large column's draw begins."""

    size: Size
    ds: Dataset
    lead_created: np.ndarray
    lead_ids: pa.Array
    starts: dict[str, tuple[Draw, dict]]

    @classmethod
    def plan(cls, size: Size, seed: int = 0) -> Export:
        """Everything drawn in the one-shot order: large columns skipped, their generators' states kept."""
        rng = np.random.default_rng(seed)
        starts: dict[str, tuple[Draw, dict]] = {}

        def skip(draws: dict[str, Draw], n: int) -> None:
            for name, draw in draws.items():
                starts[name] = (draw, rng.bit_generator.state)
                for first in range(0, n, SKIP_CHUNK):
                    draw(rng, min(SKIP_CHUNK, n - first))

        lead_created = START + rng.integers(0, SPAN_S, size.leads).astype(float)
        deal_created = START + rng.integers(0, SPAN_S, size.deals).astype(float)
        converted = np.where(
            rng.random(size.leads) < 0.1, lead_created + rng.exponential(20 * DAY_S, size.leads), np.nan
        )
        closed = np.where(rng.random(size.deals) < 0.7, deal_created + rng.exponential(40 * DAY_S, size.deals), np.nan)
        skip({name: draw(size) for name, draw in TIME_DRAWS.items()}, size.activities)
        reps, accounts, lead_ids = _vocab("R", size.reps), _vocab("C", size.accounts), _vocab("L", size.leads)
        tables = {
            "reps": {"rep_id": _ids(reps, np.arange(size.reps)), "team": _pick(rng, ("east", "west"), size.reps)},
            "accounts": {
                "account_id": _ids(accounts, np.arange(size.accounts)),
                "industry": _pick(rng, ("saas", "medical", "manufacturing"), size.accounts),
                "employees": np.round(rng.lognormal(5, 1.5, size.accounts)),
            },
            "leads": {
                "lead_id": _ids(lead_ids, np.arange(size.leads)),
                "created_at": _times(lead_created),
                "source": _pick(rng, ("web", "referral", "cold_call", "event"), size.leads),
                "owner_rep_id": _ids(reps, rng.integers(0, size.reps, size.leads)),
                "account_id": _ids(accounts, rng.integers(-size.accounts, size.accounts, size.leads)),
                "converted_at": _times(np.round(converted)),
            },
            "opportunities": {
                "opportunity_id": _ids(_vocab("O", size.deals), np.arange(size.deals)),
                "owner_rep_id": _ids(reps, rng.integers(0, size.reps, size.deals)),
                "account_id": _ids(accounts, rng.integers(0, size.accounts, size.deals)),
                "amount": np.round(rng.lognormal(11, 1, size.deals)),
                "created_at": _times(deal_created),
                "closed_at": _times(np.round(closed)),
                "outcome": pd.Series(
                    np.where(np.isnan(closed), None, np.where(rng.random(size.deals) < 0.4, "won", "lost"))
                ),
            },
        }
        skip(DETAIL_DRAWS, size.activities)
        skip({name: draw(size) for name, draw in CUTOFF_DRAWS.items()}, size.cutoffs)
        manifest = Manifest(source="benchmark", exported_at=pd.Timestamp(START + SPAN_S, unit="s", tz="UTC"))
        ds = Dataset(manifest, {name: conform(name, pd.DataFrame(columns)) for name, columns in tables.items()})
        return cls(size, ds, lead_created, lead_ids, starts)

    def _generators(self, names: list[str]) -> dict[str, tuple[Draw, np.random.Generator]]:
        """Each named column's draw with a generator at the state its draw began in."""
        out = {}
        for name in names:
            draw, state = self.starts[name]
            rng = np.random.default_rng()
            rng.bit_generator.state = state
            out[name] = (draw, rng)
        return out

    def _parts(self, names: list[str], rows: int, part_rows: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Each part's first row and its values of the named columns, ``part_rows`` at a time (one part at least)."""
        generators = self._generators(names)
        for first in range(0, max(rows, 1), max(part_rows, 1)):
            n = min(part_rows, rows - first)
            yield first, {name: draw(rng, n) for name, (draw, rng) in generators.items()}

    def activities(self, part_rows: int) -> Iterator[pd.DataFrame]:
        """The activities, ``part_rows`` at a time."""
        for first, d in self._parts([*TIME_DRAWS, *DETAIL_DRAWS], self.size.activities, part_rows):
            occurred = np.round(self.lead_created[d["lead_of"]] + d["occurred"])
            lag = np.where(d["lagged"] < 0.3, np.round(d["lag"]), np.nan)
            picked = {
                name: _pick_codes(d[f"{name}_missing"] < MISSING[name], d[name], values)
                for name, values in {**PICKED, **LATE_PICKED}.items()
            }
            columns = {
                "activity_id": _ids(_vocab("A", len(occurred), first), np.arange(len(occurred))),
                "entity_type": picked["entity_type"],
                "entity_id": _ids(self.lead_ids, d["lead_of"]),
                "occurred_at": _times(occurred),
                "recorded_at": _times(occurred + lag),
                "type": picked["type"],
                "direction": picked["direction"],
                "duration_s": np.where(d["has_duration"] < 0.5, np.round(d["duration"]), np.nan),
                "contact_role": picked["contact_role"],
                "note": picked["note"],
            }
            yield conform("activities", pd.DataFrame(columns))

    def frames(self, part_rows: int) -> Iterator[pd.DataFrame]:
        """The frame of lead cutoffs (``entity_id``, ``cutoff_time``), ``part_rows`` at a time."""
        for _, d in self._parts(list(CUTOFF_DRAWS), self.size.cutoffs, part_rows):
            cutoffs = np.round(self.lead_created[d["row"]] + d["offset"])
            ids = self.ds.tables["leads"]["lead_id"].take(d["row"]).to_numpy()
            yield pd.DataFrame({"entity_id": ids, "cutoff_time": _times(cutoffs)})


def dataset(size: Size, seed: int = 0) -> tuple[Dataset, pd.DataFrame]:
    """A random canonical dataset (two years of leads, deals and activities) and a frame of lead cutoffs."""
    export = Export.plan(size, seed)
    ds = Dataset(export.ds.manifest, dict(export.ds.tables))
    ds.tables["activities"] = next(export.activities(size.activities))
    return ds, next(export.frames(size.cutoffs))


def write_export(size: Size, seed: int, data: Path, frame: Path, part_rows: int) -> None:
    """The dataset of ``dataset(size, seed)`` as a partitioned export in ``data`` and its frame as a partitioned
    table in ``frame``: the activities and the frame in parts of at most ``part_rows`` rows, made a part at a time so
    this process never holds them whole; the small tables one part each, as a distributed build's driver reads them
    whole and each of their parts costs its workers an array the size of the frame's cutoffs (everyone's counts)."""
    export = Export.plan(size, seed)
    output_dir(data)
    for name, table in export.ds.tables.items():
        write_parts(table, data / name, 1)
        export.ds.manifest.counts[name] = len(table)
    for directory, parts in ((data / "activities", export.activities(part_rows)), (frame, export.frames(part_rows))):
        output_dir(directory)
        for number, part in enumerate(parts):
            part.to_parquet(part_file(directory, number), index=False)
    export.ds.manifest.counts["activities"] = size.activities
    write_manifest(export.ds.manifest, data)
