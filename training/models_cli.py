"""``salesml models``: the registry's versions, the challenger against the champion on the live calls the service
shadow-scored, promoting one to champion (not a challenger that lost on labelled calls, without ``--force``) and
rolling the champion back, each move followed by the export the service loads (a running service picks it up
without a restart)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from features.cli import data_option, user_errors, wide_console
from features.config import prediction_log_dir
from features.crm.dataset import option_time
from features.errors import DataError, SalesmlError, one_line

if TYPE_CHECKING:
    from features.crm.dataset import Dataset
    from training.lifecycle import VersionRow
    from training.registry import AliasMove

#: Serving's export of the champions with a history (None: the history exported last); the tags written.
Export = Callable[[Path | None], list[str]]
#: Serving's history exported last: the outcomes shadow scores are judged by when no --data is given.
History = Callable[[], "Dataset"]

ModelName = Annotated[str, typer.Option(help="Registered model name: lead_score or close_probability.")]
Reason = Annotated[str, typer.Option(help="Why, for the alias history.")]
ExportData = Annotated[
    Path | None, data_option("whose history is exported with the champions (default: the history exported last)")
]
NoExport = Annotated[bool, typer.Option("--no-export", help="Move the alias only; export later (salesml export).")]
LogDir = Annotated[
    Path | None, typer.Option("--log", show_default=False, help="Prediction log folder; default: the service's.")
]


@dataclass(frozen=True)
class Serving:
    """What the commands take from serving (training does not import it: the caller hands it in)."""

    export: Export
    history: History


def models_app(export: Export, history: History) -> typer.Typer:
    """The ``salesml models`` commands, exporting with ``export`` after each move and judging shadow scores by
    ``history``'s outcomes when no --data is given."""
    app = typer.Typer(
        help="Model versions: list them, compare the challenger live, promote one, roll the champion back.",
        no_args_is_help=True,
    )

    @app.callback()
    def with_serving(ctx: typer.Context) -> None:
        ctx.obj = Serving(export, history)

    app.command("list")(list_cmd)
    app.command("compare")(compare_cmd)
    app.command("promote")(promote_cmd)
    app.command("rollback")(rollback_cmd)
    return app


@user_errors
def list_cmd(
    model: Annotated[str | None, typer.Option(help="One registered model (default: all).")] = None,
    history: Annotated[bool, typer.Option("--history", help="Also every alias move: who, when, why.")] = False,
) -> None:
    """Each version with its aliases, test ROC AUC and ECE, data window, creation time and gate note."""
    from training.lifecycle import model_versions, registered_names
    from training.registry import alias_history

    console = wide_console()
    for name in [model] if model else registered_names():
        console.print(versions_table(name, model_versions(name)))
        if history:
            console.print(history_table(name, alias_history(name)))


@user_errors
def compare_cmd(
    ctx: typer.Context,
    model: ModelName,
    data: Annotated[
        Path | None, data_option("whose outcomes judge the calls (default: the history exported last)")
    ] = None,
    log: LogDir = None,
    since: Annotated[
        str | None, typer.Option(show_default=False, help="Only calls scored for this time on (YYYY-MM-DD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Champion against challenger on the live calls the service shadow-scored (SALESML_SHADOW_SHARE): grade
    agreement, realised ROC AUC where outcomes are known, estimated (CBPE) where not, and a verdict."""
    from features.insights.monitoring.summary import plain
    from training.shadow_compare import compare

    start = None if since is None else option_time(since, "--since")
    comparison = compare(_dataset(ctx.obj, data), _records(log, required=True), model, start)
    if as_json:
        print(json.dumps(plain(comparison.as_dict()), ensure_ascii=False, indent=1))
        return
    wide_console().print(confusion_table(comparison.confusion))
    Console().print(comparison.verdict(), highlight=False, soft_wrap=True)


@user_errors
def promote_cmd(
    ctx: typer.Context,
    model: ModelName,
    version: Annotated[str, typer.Option(help="The version to make champion.")],
    reason: Reason = "promoted by hand",
    data: ExportData = None,
    no_export: NoExport = False,
    log: LogDir = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote a challenger that lost to the champion on labelled live calls.")
    ] = False,
) -> None:
    """Make a version champion (whatever the gate said), then export the champions. A challenger that the service
    shadow-scored and that lost to the champion on labelled live calls beyond noise is refused unless --force."""
    from training.lifecycle import promote
    from training.shadow_compare import compare, has_shadow

    if not force and has_shadow(records := _records(log), model, version):
        comparison = compare(_dataset(ctx.obj, data), records, model)
        if comparison.challenger == version and comparison.loses:
            raise DataError(f"not promoted: {comparison.verdict()}; promote anyway with --force")
    _moved(promote(model, version, reason), model, ctx.obj.export, data, no_export)


@user_errors
def rollback_cmd(
    ctx: typer.Context,
    model: ModelName,
    reason: Reason = "rolled back by hand",
    data: ExportData = None,
    no_export: NoExport = False,
) -> None:
    """Give champion back to the champion before the current one, then export the champions."""
    from training.lifecycle import rollback

    _moved(rollback(model, reason), model, ctx.obj.export, data, no_export)


def _moved(move: AliasMove, name: str, export: Export, data: Path | None, no_export: bool) -> None:
    """Says what moved, then exports (the alias stays moved when the export fails: the error says so)."""
    console = Console()
    console.print(
        f"{name} {move.alias}: v{move.old or '-'} -> v{move.new} ({move.command} by {move.who}: {move.why})",
        highlight=False,
        soft_wrap=True,
    )
    if no_export:
        console.print("not exported (--no-export): the service serves the old champion until salesml export")
        return
    try:
        tags = export(data)
    except SalesmlError as exc:
        raise DataError(
            f"{name} champion is v{move.new} in the registry, but the export failed: {one_line(exc)}"
        ) from exc
    console.print(f"exported: {', '.join(tags)}", highlight=False, soft_wrap=True)


def _records(log: Path | None, required: bool = False) -> list[dict[str, Any]]:
    """The prediction log's records; none when the folder does not exist (nothing was served there), or DataError
    when they are ``required``."""
    from features.insights.monitoring.outcomes import NO_LOG, read_log

    folder = log or prediction_log_dir()
    if folder.is_dir():
        return read_log(folder)
    if required:
        raise DataError(NO_LOG.format(folder=folder))
    return []


def _dataset(serving: Serving, data: Path | None) -> Dataset:
    """The outcomes shadow scores are judged by: ``data``, else the history exported last."""
    from features.crm.dataset import read_dataset

    return read_dataset(data) if data is not None else serving.history()


def confusion_table(confusion: dict[str, dict[str, int]]) -> Table:
    table = Table(title="grades: champion (rows) against challenger (columns), items")
    table.add_column("champion")
    for grade in confusion:
        table.add_column(grade, justify="right")
    for grade, row in confusion.items():
        table.add_row(grade, *(f"{n:,}" for n in row.values()))
    return table


def versions_table(name: str, rows: list[VersionRow]) -> Table:
    table = Table(title=f"{name}: registered versions")
    for column in ("version", "aliases", "test AUC", "test ECE", "data window", "created (UTC)", "gate note"):
        table.add_column(column, overflow="fold", justify="right" if column.startswith("test") else "left")
    for row in rows:
        table.add_row(
            row.version,
            ", ".join(row.aliases),
            _figure(row.roc_auc),
            _figure(row.ece),
            row.data_window,
            row.created,
            row.gate_note,
        )
    return table


def history_table(name: str, moves: list[AliasMove]) -> Table:
    table = Table(title=f"{name}: alias moves, oldest first")
    for column in ("when (UTC)", "alias", "from", "to", "command", "who", "why"):
        table.add_column(column, overflow="fold")
    for move in moves:
        table.add_row(move.when, move.alias, move.old or "-", move.new, move.command, move.who, move.why)
    return table


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
