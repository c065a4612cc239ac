"""Point-in-time features on Dask: the point-in-time join of Feast's Spark and Dask offline stores, key by key.

For each ``features.pit.joins.Join`` of the entity, the frame rows are shuffled by their key's bucket and so is
every table the join's families read (by the column holding that key), so that each partition holds its keys'
frame rows and all of their records; ``joins.build_partition`` then runs the local path's family code on it.
Each join's columns go back to their frame rows by row number, and the table comes out in the frame's order,
partition by partition. Everyone's counts at each cutoff (what rep and account rates are smoothed towards) are
summed over the tables' parts first and travel with the frame rows.

This process reads the manifest, the lead and deal tables (to make and check the frame) and the frame, and
scatters the frame (with each join's bucket) and the entity records some joins need to the workers; the
activities and stage changes are read by the workers only, part by part.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from distributed import get_client

from features.crm.dataset import (
    Dataset,
    Manifest,
    conform,
    read_dataset,
    read_manifest,
    read_part,
    table_parts,
    table_path,
)
from features.crm.schema import ENTITIES, TABLE_ORDER
from features.pit import catalog
from features.pit.build import OVERRIDABLE
from features.pit.frames import frame_codes
from features.pit.history import STREAMS
from features.pit.joins import (
    BUCKET,
    JOINS,
    ROW,
    Join,
    add_counts,
    bucket,
    build_partition,
    count_events,
    cutoff_times,
    frame_keys,
    with_totals,
)
from features.pit.keywords import DEFAULT_LEXICON, Lexicon
from features.pit.timeline import column

#: Tables the driver reads whole: the frame is made from them and checked against them.
DRIVER_TABLES = ("leads", "opportunities")
DEFAULT_PARTITIONS = 16
#: Rows of each piece a frame is sent to the cluster in (``_sent``) when nothing else sets the cut.
PIECE_ROWS = 100_000


@dataclass(frozen=True)
class Tables:
    """A dataset as a distributed build reads it: the manifest, the lead and deal tables here (``local``), and
    every table as a Dask DataFrame whose rows carry their position in the table (``ROW``)."""

    manifest: Manifest
    local: Dataset
    lazy: dict[str, dd.DataFrame]

    @classmethod
    def read(cls, path: Path) -> Tables:
        """A dataset directory; each part of a partitioned table is one Dask partition."""
        manifest = read_manifest(path)
        lazy = {}
        with _dtypes_kept():
            for name in TABLE_ORDER:
                found = table_path(path, name)
                if found is not None:
                    lazy[name] = _read_lazy(found, name, manifest)
        return cls(manifest, read_dataset(path, DRIVER_TABLES), lazy)

    @classmethod
    def of(cls, ds: Dataset, partitions: int) -> Tables:
        """A dataset in memory, each table cut into ``partitions`` Dask partitions."""
        with _dtypes_kept():
            lazy = {
                name: dd.from_pandas(_numbered(table, 0), npartitions=max(1, min(partitions, len(table))), sort=False)
                for name, table in ds.tables.items()
            }
        return cls(ds.manifest, ds, lazy)


def _dtypes_kept() -> Any:
    """Dask left from turning text columns into its own string type: the tables and the frame keep the dtypes the
    local path sees, so both paths give the same table."""
    return dask.config.set({"dataframe.convert-string": False})


def _numbered(table: pd.DataFrame, first: int) -> pd.DataFrame:
    return table.assign(**{ROW: np.arange(first, first + len(table), dtype=np.int64)})


def _read_numbered(part: Path, first: int, table: Path, name: str, manifest: Manifest) -> pd.DataFrame:
    return _numbered(conform(name, read_part(part, table), manifest.extras(name)), first)


def _read_lazy(path: Path, name: str, manifest: Manifest) -> dd.DataFrame:
    parts = table_parts(path)
    sizes = [pq.read_metadata(part).num_rows for part in parts]
    firsts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int).tolist()
    extras = manifest.extras(name)
    meta = _numbered(conform(name, pd.DataFrame(columns=_columns(parts[0], path)), extras), 0)
    read = partial(_read_numbered, table=path, name=name, manifest=manifest)
    return dd.from_map(read, parts, firsts, meta=meta, label=f"read-{name}", enforce_metadata=False)


def _columns(part: Path, table: Path) -> list[str]:
    """The columns a part of ``table`` holds (every part holds the same, ``table_parts``): its own and the keys of
    its hive-style folders. A canonical column the export lacks stays absent, as in ``conform``."""
    folders = part.relative_to(table).parent.parts if part != table else ()
    return [*pq.read_schema(part).names, *(folder.split("=", 1)[0] for folder in folders if "=" in folder)]


def distributed_features(
    tables: Tables,
    entity: str,
    frame: pd.DataFrame,
    partitions: int = DEFAULT_PARTITIONS,
    *,
    lexicon: Lexicon = DEFAULT_LEXICON,
) -> dd.DataFrame:
    """``features.pit.build.build_features`` on Dask: the same table (the frame's columns, then the features in
    catalog order), as a Dask DataFrame in the frame's row order, ``partitions`` partitions of consecutive rows,
    indexed by row number. Computes everyone's counts at the frame's cutoffs before it returns. Hold the result while
    its parts are computed (``to_delayed`` included): the frame pieces it scattered to the workers live as long as it.

    Raises:
        DataError: as ``build_features`` for a bad frame (checked here, before anything is sent to the cluster).
    """
    with _dtypes_kept():
        return _distributed_features(tables, entity, frame, partitions, lexicon)


def _distributed_features(
    tables: Tables, entity: str, frame: pd.DataFrame, partitions: int, lexicon: Lexicon
) -> dd.DataFrame:
    local, table_name = tables.local, ENTITIES[entity][0]
    codes = frame_codes(local, entity, frame)
    entities = local.get(table_name).iloc[codes].reset_index(drop=True).assign(**{ROW: codes})
    slim = frame[["entity_id", "cutoff_time", *(c for c in OVERRIDABLE if c in frame.columns)]].reset_index(drop=True)
    cutoffs = cutoff_times(frame)
    slim = with_totals(_numbered(slim, 0), _totals(tables, cutoffs[0]), cutoffs)
    joins = JOINS[entity]
    buckets = [bucket(frame_keys(join, slim, entities), partitions) for join in joins]
    divisions = _row_divisions(len(frame), partitions)
    sent = _sent(slim.assign(**{_bucket_of(i): b for i, b in enumerate(buckets)}), divisions)
    results = [
        _joined(tables, join, entity, sent, i, _carried(join, entity, slim, entities, buckets[i]), partitions, lexicon)
        for i, join in enumerate(joins)
    ]
    names = [f.name for f in catalog.feature_catalog(tables.manifest, entity, lexicon)]
    given = {column for result in results for column in result.columns if column != ROW}
    if set(names) != given:
        raise RuntimeError(f"joins and catalog disagree: {sorted(set(names) ^ given)}")
    own = _sent(_numbered(frame.reset_index(drop=True), 0).set_index(ROW), divisions)
    parts = [own] + [result.set_index(ROW, divisions=divisions) for result in results]
    return dd.concat(parts, axis=1)[[*frame.columns, *names]]


def _bucket_of(join: int) -> str:
    return f"{BUCKET}{join}"


def _sent(table: pd.DataFrame, divisions: tuple[int, ...] | None = None) -> dd.DataFrame:
    """A frame of this process as a Dask DataFrame: with a client, its pieces scattered to the workers (not put in
    the task graph, which the scheduler would hold whole); with ``divisions``, cut at those row numbers (the
    index), else in pieces of about ``PIECE_ROWS``."""
    if divisions is not None:
        bounds = [*divisions[:-1], divisions[-1] + 1]
    else:
        bounds = list(range(0, len(table), PIECE_ROWS)) + [len(table)] if len(table) else [0, 0]
    pieces = [table.iloc[first:last] for first, last in zip(bounds[:-1], bounds[1:], strict=True)]
    return dd.from_delayed(_on_workers(pieces), meta=table.iloc[:0], divisions=divisions, verify_meta=False)


def _on_workers(values: list[Any], broadcast: bool = False) -> list[Any]:
    """This process's ``values`` as task inputs: with a client, scattered to the workers (every worker with
    ``broadcast``), not put in the task graph, which the scheduler would hold whole; else as delayed values."""
    try:
        # keys of their own: a key by content would be shared with an equal value of an earlier build, and lost
        # when that build's values are released
        return get_client().scatter(values, broadcast=broadcast, hash=False)
    except ValueError:  # no cluster: the synchronous or threaded scheduler of tests and small runs
        return [dask.delayed(value) for value in values]


def _carried(join: Join, entity: str, slim: pd.DataFrame, entities: pd.DataFrame, buckets: np.ndarray) -> pd.DataFrame:
    """The frame rows' own entity records with the bucket of each row's key, where the join's tables do not bring
    them there themselves: when they lack the entity's table or the frame overrides the key."""
    table_name = ENTITIES[entity][0]
    if join.tables.get(table_name) == join.key and not (join.overridable and join.key in slim.columns):
        return entities.iloc[:0].assign(**{BUCKET: np.array([], dtype=np.int64)})
    return entities.assign(**{BUCKET: buckets}).drop_duplicates([ROW, BUCKET]).reset_index(drop=True)


def _totals(tables: Tables, times: np.ndarray) -> dict:
    """Everyone's events of each stream by each of the frame's distinct cutoffs ``times`` (``cutoff_times``), summed
    over the tables' parts as counts per cutoff bin (each part's the size of its events) and made cumulative here."""
    shared = _on_workers([times], broadcast=True)[0]  # every part's count needs them
    counted = [
        dask.delayed(count_events)(part, name, tables.manifest, shared)
        for name, table in tables.lazy.items()
        if any(stream.table == name for stream in STREAMS.values())
        for part in table.to_delayed()
    ]
    while len(counted) > 1:  # a tree of sums, so that no task holds every part's counts
        pairs = [counted[i : i + 2] for i in range(0, len(counted), 2)]
        counted = [dask.delayed(add_counts)(*pair) if len(pair) == 2 else pair[0] for pair in pairs]
    binned = dask.compute(counted[0])[0] if counted else {}
    return {name: counts.totals(times) for name, counts in binned.items()}


def _joined(
    tables: Tables,
    join: Join,
    entity: str,
    sent: dd.DataFrame,
    number: int,
    carried: pd.DataFrame,
    partitions: int,
    lexicon: Lexicon,
) -> dd.DataFrame:
    """One join's columns for every frame row, with its ``ROW``: frame rows (``sent``, with each join's bucket;
    this is join ``number``), their carried entity records and the join's tables shuffled to the partition of
    their key, each partition built by ``joins.build_partition``."""
    own_bucket = _bucket_of(number)
    frame_meta = sent._meta.drop(columns=[c for c in sent.columns if c.startswith(BUCKET)]).assign(
        **{BUCKET: np.array([], dtype=np.int64)}
    )
    frame = _shuffled(sent.map_partitions(_with_bucket, own_bucket, meta=frame_meta), partitions)
    names = tuple(name for name in join.tables if name in tables.lazy)
    keyed = [_shuffled(_keyed(tables.lazy[name], join.tables[name], partitions), partitions) for name in names]
    build = partial(build_partition, join=join, entity=entity, manifest=tables.manifest, names=names, lexicon=lexicon)
    meta = build(frame_meta, carried.iloc[:0], *(table._meta for table in keyed))
    carried_dd = _shuffled(_sent(carried), partitions)
    return dd.map_partitions(build, frame, carried_dd, *keyed, meta=meta, align_dataframes=False)


def _with_bucket(part: pd.DataFrame, bucket_column: str) -> pd.DataFrame:
    """A piece of the sent frame with one join's bucket as ``BUCKET``, the others left out."""
    others = [c for c in part.columns if c.startswith(BUCKET)]
    return part.drop(columns=others).assign(**{BUCKET: part[bucket_column].to_numpy()})


def _keyed(table: dd.DataFrame, key: str, partitions: int) -> dd.DataFrame:
    meta = table._meta.assign(**{BUCKET: np.array([], dtype=np.int64)})
    return table.map_partitions(lambda part: part.assign(**{BUCKET: bucket(column(part, key), partitions)}), meta=meta)


def _shuffled(table: dd.DataFrame, partitions: int) -> dd.DataFrame:
    """The rows of each bucket in one partition: the same one for every table shuffled this way."""
    return table.shuffle(BUCKET, npartitions=partitions)


def _row_divisions(rows: int, partitions: int) -> tuple[int, ...]:
    """Row-number boundaries of ``partitions`` (at most one per row) partitions of consecutive rows."""
    bounds = np.unique(np.linspace(0, max(rows - 1, 0), min(partitions, max(rows, 1)) + 1).astype(int))
    return tuple(int(b) for b in bounds) if len(bounds) > 1 else (0, 0)
