"""``salesml features build``: point-in-time features and labels for (entity, cutoff) rows; ``salesml data cut``:
an export as it stood at an earlier time."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from features.cli import DataDir, user_errors
from features.outputs import output_file

if TYPE_CHECKING:
    import pandas as pd

features_app = typer.Typer(help="Build point-in-time features and labels.", no_args_is_help=True)


@features_app.command("build")
@user_errors
def build_cmd(
    data: DataDir,
    entity: Annotated[str, typer.Option(help="lead or opportunity.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write the features (and labels) to.")],
    cutoffs: Annotated[
        Path | None,
        typer.Option(help="CSV of entity_id,cutoff_time[,label...] rows; default: the snapshot policy."),
    ] = None,
    policy: Annotated[str, typer.Option(help="Snapshot policy when no --cutoffs: default.")] = "default",
) -> None:
    """Build point-in-time features for (entity, cutoff) rows: only events known by each cutoff."""
    from features.crm.dataset import read_dataset
    from features.pit.build import build_features
    from features.pit.frames import entity_frame

    ds = read_dataset(data)
    frame = entity_frame(ds, entity, cutoffs_csv=cutoffs, policy=policy)
    table = build_features(ds, entity, frame, progress=True)
    table.to_parquet(output_file(out), index=False)
    Console().print(summary_table(table, entity, out))


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
