"""``salesml features build``: point-in-time features and labels for (entity, cutoff) rows; ``salesml data cut``:
an export as it stood at an earlier time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import DataDir, user_errors
from features.errors import DataError
from features.outputs import output_file

if TYPE_CHECKING:
    import pandas as pd

features_app = typer.Typer(help="Build point-in-time features and labels.", no_args_is_help=True)


ENGINES = ("local", "dask")
DEFAULT_WORKERS = 2
#: The options that only ``--engine dask`` takes, as their parameter names.
DASK_OPTIONS = ("workers", "scheduler", "partitions")

Engine = Annotated[
    str, typer.Option(help="local (this process) or dask (a Dask cluster, output written part by part).")
]
Workers = Annotated[int, typer.Option(help="--engine dask: worker processes of the embedded LocalCluster.")]
Scheduler = Annotated[
    str | None,
    typer.Option(
        show_default=False,
        help="--engine dask: a running Dask scheduler (tcp://host:8786) instead of the embedded LocalCluster; "
        "default SALESML_DASK_SCHEDULER.",
    ),
]
Partitions = Annotated[
    int | None,
    typer.Option(
        show_default=False,
        help="--engine dask: partitions of each shuffle (default 16; for large exports about one per 1 M activities).",
    ),
]


@features_app.command("build")
@user_errors
def build_cmd(
    ctx: typer.Context,
    data: DataDir,
    entity: Annotated[str, typer.Option(help="lead or opportunity.")],
    out: Annotated[
        Path, typer.Option(help="Parquet file to write the features (and labels) to; with --engine dask a directory.")
    ],
    cutoffs: Annotated[
        Path | None,
        typer.Option(help="CSV of entity_id,cutoff_time[,label...] rows; default: the snapshot policy."),
    ] = None,
    policy: Annotated[str, typer.Option(help="Snapshot policy when no --cutoffs: default.")] = "default",
    engine: Engine = "local",
    workers: Workers = DEFAULT_WORKERS,
    scheduler: Scheduler = None,
    partitions: Partitions = None,
) -> None:
    """Build point-in-time features for (entity, cutoff) rows: only events known by each cutoff."""
    from features.crm.dataset import read_dataset
    from features.pit.frames import entity_frame

    check_engine(ctx, engine, workers, partitions)
    if engine == "dask":
        _build_on_dask(data, entity, cutoffs, policy, out, workers, scheduler, partitions)
        return
    from features.pit.build import build_features

    ds = read_dataset(data)
    frame = entity_frame(ds, entity, cutoffs_csv=cutoffs, policy=policy)
    table = build_features(ds, entity, frame, progress=True)
    table.to_parquet(output_file(out), index=False)
    Console().print(summary_table(table, entity, out))


def check_engine(ctx: typer.Context, engine: str, workers: int, partitions: int | None) -> None:
    """One line for an unknown engine, a count below 1, or a Dask option without --engine dask."""
    if engine not in ENGINES:
        raise DataError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    for option, value in (("--workers", workers), ("--partitions", partitions)):
        if value is not None and value < 1:
            raise DataError(f"{option} {value}: must be 1 or more")
    given = given_options(ctx, DASK_OPTIONS)
    if engine != "dask" and given:
        raise DataError(f"--{given[0]} applies only with --engine dask")


def given_options(ctx: typer.Context, names: tuple[str, ...]) -> list[str]:
    """Those of the parameters ``names`` the user set (on the command line or from the environment)."""
    return [name for name in names if ctx.get_parameter_source(name).name != "DEFAULT"]


def say_on_stderr() -> Callable[[str], None]:
    """Lines for the user on stderr, beside the bar: the cluster's addresses."""
    console = Console(stderr=True)
    return lambda line: console.print(line, highlight=False, soft_wrap=True)


def _build_on_dask(
    data: Path,
    entity: str,
    cutoffs: Path | None,
    policy: str,
    out: Path,
    workers: int,
    scheduler: str | None,
    partitions: int | None,
) -> None:
    """The features built on Dask and written to ``out`` as parts, the frame made and checked here first."""
    from features.pit.cluster import dask_client, write_parts
    from features.pit.distributed import DEFAULT_PARTITIONS, Tables, distributed_features
    from features.pit.frames import entity_frame

    tables = Tables.read(data)
    frame = entity_frame(tables.local, entity, cutoffs_csv=cutoffs, policy=policy)
    with dask_client(workers, scheduler, say_on_stderr()) as client:
        table = distributed_features(tables, entity, frame, partitions or DEFAULT_PARTITIONS)
        write_parts(client, table.to_delayed(), out)
    Console().print(
        f"{len(frame):,} {entity} rows, {len(table.columns) - len(frame.columns)} features -> {out}/ "
        f"({table.npartitions} parts)",
        highlight=False,
    )


@user_errors
def cut_cmd(
    data: DataDir,
    as_of: Annotated[str, typer.Option(help="The time (ISO 8601) the export is cut back to.")],
    out: Annotated[Path, typer.Option(help="Directory to write the earlier export into.")],
) -> None:
    """Write the export as it stood at --as-of: later entities, events and outcomes left out (to train a model
    on the past and judge it on what came after, with salesml evaluate)."""
    from features.crm.dataset import as_of_time, read_dataset, write_dataset
    from features.pit.frames import dataset_as_of

    ds = read_dataset(data)
    earlier = dataset_as_of(ds, as_of_time(ds, as_of))
    write_dataset(earlier, out)
    counts = ", ".join(f"{rows:,} {name}" for name, rows in earlier.manifest.counts.items())
    Console().print(f"the export as of {earlier.manifest.exported_at:%Y-%m-%d %H:%M} -> {out}: {counts}")


def summary_table(table: pd.DataFrame, entity: str, out: Path) -> Table:
    """What was built: rows, entities, cutoffs, features, label rates and censoring."""
    summary = Table(title=f"{entity} features", show_header=False)
    summary.add_row("written to", str(out))
    summary.add_row("rows", f"{len(table):,}")
    summary.add_row("entities", f"{table['entity_id'].nunique():,}")
    if len(table):
        summary.add_row("cutoffs", f"{table['cutoff_time'].min()} .. {table['cutoff_time'].max()}")
    summary.add_row("features", str(len(table.attrs.get("features", []))))
    if "static_snapshot" in table.columns and table["static_snapshot"].any():
        summary.add_row("static snapshot", "one row per entity at creation, labels are final outcomes")
    for name in (c for c in table.columns if c.startswith("label")):
        known = table[name].dropna()
        rate = f"{known.astype(float).mean():.1%} positive" if len(known) else "none known"
        summary.add_row(name, f"{rate} of {len(known):,}; {len(table) - len(known):,} censored")
    return summary
