"""``salesml export``, ``salesml serve`` and ``salesml keys``: from the MLflow registry to a running service."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from features import settings
from features.cli import data_option, user_errors
from features.config import bentoml_home, local_dir, run_dir
from features.errors import DataError
from serving.auth import KeyRing, admin_line, new_key, read_keys, revocation

if TYPE_CHECKING:
    from features.crm.dataset import Dataset

keys_app = typer.Typer(help="API keys for the service.", no_args_is_help=True)
SERVICE = "serving.service:SalesML"
KEY_FILE = local_dir() / ".secrets" / "api-keys"
PID_FILE, LOG_FILE = local_dir() / "logs" / "service.pid", local_dir() / "logs" / "service.log"
PidFile = Annotated[Path, typer.Option(help="The file naming the background service's process group.")]
service_app = typer.Typer(help="The background service (salesml serve --background).", no_args_is_help=True)


def _use_store() -> None:
    """BentoML reads its home when first imported: point it at salesml's store before that."""
    os.environ.setdefault(settings.BENTOML_HOME.name, str(bentoml_home()))


def export_champions(data: Path | None) -> list[str]:
    """Export the registry's champions with ``data``'s history (None: the history exported last, as ``salesml
    models`` does after a move); says which models were left out, and returns the tags written."""
    _use_store()
    from features.crm.dataset import read_dataset

    history = read_dataset(data) if data is not None else None  # a wrong --data answers before BentoML loads
    from serving.store import export_models, exported_history

    tags, skipped = export_models(history if history is not None else exported_history())
    for why in skipped:
        Console(stderr=True).print(f"[yellow]not exported:[/yellow] {why}", highlight=False, soft_wrap=True)
    return tags


def exported_dataset() -> Dataset:
    """The history the latest export holds (``salesml models`` judges shadow scores by its outcomes)."""
    _use_store()
    from serving.store import exported_history

    return exported_history()


@user_errors
def export_cmd(
    data: Annotated[Path, data_option("whose history requests are scored against")],
) -> None:
    """Copy the champion models from the MLflow registry, and the dataset's history, into the BentoML store."""
    tags = export_champions(data)
    Console().print(f"exported to {bentoml_home()}: {', '.join(tags)}")


@user_errors
def serve_cmd(
    data: Annotated[
        Path | None, data_option("whose history is exported with the champions first (else: as stored)")
    ] = None,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    auth: Annotated[bool, typer.Option(help="Require API keys on /v1 (--no-auth only for local trials).")] = True,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes, each with the models (default: SALESML_WORKERS or 1).")
    ] = None,
    background: Annotated[
        bool,
        typer.Option(
            "--background",
            help="Leave it running once it serves the exported models (after stopping the one --pid-file names).",
        ),
    ] = False,
    pid_file: PidFile = PID_FILE,
    log: Annotated[Path, typer.Option(help="With --background: its output, appended and rotated by size.")] = LOG_FILE,
) -> None:
    """Start the scoring service (BentoML) on 127.0.0.1:3000 by default."""
    if data is not None:
        Console(stderr=True).print(f"exported: {', '.join(export_champions(data))}")
    _use_store()
    settings.check_all()
    from features.crm.privacy import log_hash_key

    log_hash_key()  # a short key stops here in one line; the store's key is made once, before the workers start
    env = dict(os.environ)
    if auth and not KeyRing.from_env():
        raise DataError(
            f"no API keys: set {settings.API_KEYS.name} (comma-separated) or {settings.API_KEY_FILE.name}"
            " (salesml keys create makes one),"
            " or start with --no-auth for a local trial"
        )
    from serving.store import servable

    models, reasons = servable()
    for why in reasons:
        Console(stderr=True).print(f"[yellow]not served:[/yellow] {why}", highlight=False, soft_wrap=True)
    env[settings.AUTH.name] = "on" if auth else "off"
    if workers is not None:
        env[settings.WORKERS.name] = str(workers)
    from serving.launcher import metrics_dir

    metrics = str(metrics_dir(bentoml_home(), port))
    args = [sys.executable, "-m", "serving.launcher", metrics, "serve", SERVICE, "--host", host, "--port", str(port)]
    from serving.process import local_url, refuse_taken, served_versions, start, versions_text

    if background:
        expected = served_versions(model.info for model in models.values())
        key = read_keys().active[0] if auth else None
        group = start(args, env, host, port, expected, key, pid_file.resolve(), log.resolve())
        Console().print(
            f"salesml is serving on {local_url(host, port)}: {versions_text(expected)} (process group {group} in"
            f" {pid_file}; log: {log}; stop: salesml service stop)",
            highlight=False,
            soft_wrap=True,
        )
        return
    refuse_taken(host, port)
    os.chdir(run_dir())
    os.execve(sys.executable, args, env)


@service_app.command("stop")
@user_errors
def stop_service(pid_file: PidFile = PID_FILE) -> None:
    """Stop the background service whole: its supervisor, server and workers, and what a kill left of them."""
    from serving.process import stop

    stopped = stop(pid_file.resolve())
    typer.echo(f"stopped ({stopped} processes)" if stopped else "not running")


@service_app.command("status")
@user_errors
def service_status(pid_file: PidFile = PID_FILE) -> None:
    """The background service's processes, one a line; exit 3 when it is not running."""
    from serving.process import described

    lines = described(pid_file.resolve())
    typer.echo("\n".join(lines) or "not running")
    if not lines:
        raise typer.Exit(3)


@keys_app.command("create")
@user_errors
def create_key(
    file: Annotated[Path, typer.Option(help="Key file to append the new key to (SALESML_API_KEY_FILE).")] = KEY_FILE,
    admin: Annotated[bool, typer.Option("--admin", help="A key that may also reload the service's models.")] = False,
) -> None:
    """Create an API key, append it to the key file and print it (once: it is not shown again)."""
    key = new_key()
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{file}: cannot create the key file's directory ({exc.strerror})") from exc
    _append(file, admin_line(key) if admin else key)
    typer.echo(key)


@keys_app.command("revoke")
@user_errors
def revoke_key(
    key: Annotated[str, typer.Argument(help="The key to withdraw (after -- when it starts with -).")],
    file: Annotated[Path, typer.Option(help="Key file (SALESML_API_KEY_FILE).")] = KEY_FILE,
) -> None:
    """Mark a key revoked in the key file (calls with it get 403 once the service restarts)."""
    _append(file, revocation(key))
    typer.echo("revoked")


def _append(file: Path, line: str) -> None:
    """One line added to the key file, which only its owner can read."""
    try:
        with open(os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a", encoding="utf-8") as out:
            out.write(line + "\n")
    except OSError as exc:
        raise DataError(f"{file}: cannot write the key file ({exc.strerror})") from exc
