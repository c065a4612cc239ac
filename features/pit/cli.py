"""``salesml features build``: point-in-time features and labels for (entity, cutoff) rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from features.cli import user_errors
from features.outputs import output_file

features_app = typer.Typer(help="Build point-in-time features and labels.", no_args_is_help=True)


@features_app.command("build")
@user_errors
def build_cmd(
    data: Annotated[Path, typer.Option(help="A canonical dataset directory.")],
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
    from features.pit.build import build_features, summary_table
    from features.pit.frames import entity_frame

    ds = read_dataset(data)
    frame = entity_frame(ds, entity, cutoffs_csv=cutoffs, policy=policy)
    table = build_features(ds, entity, frame, progress=True)
    table.to_parquet(output_file(out), index=False)
    Console().print(summary_table(table, entity, out))
