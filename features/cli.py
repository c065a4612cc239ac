"""What every salesml command shares: a user's error as one red line and its exit code, never a traceback; the
options several commands take, each worded once; amounts as tables print them; a console for wide tables."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from features.errors import SalesmlError
from features.messages import LOCALES

console = Console(stderr=True)

DATASET = "A canonical dataset directory"


def data_option(holding: str = "") -> Any:
    """``--data`` for a command that says what it needs of the dataset (``holding``: "with outcomes")."""
    return typer.Option(help=f"{DATASET} {holding}." if holding else f"{DATASET}.")


def as_of_option(default: str = "the export time") -> Any:
    """``--as-of`` for a command whose time defaults to something other than the export."""
    return typer.Option(help=f"As of this time (ISO 8601); default: {default}.")


DataDir = Annotated[Path, data_option()]
AsOf = Annotated[str | None, as_of_option()]
Language = Annotated[str, typer.Option(help=f"Language of the output: {' or '.join(LOCALES)}.")]
Period = Annotated[str, typer.Option(help="week, month or quarter.")]
GroupBy = Annotated[str, typer.Option(help="Group by rep, team, region, product or all.")]
Sims = Annotated[int, typer.Option(min=100, help="Monte Carlo draws for the intervals.")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed gives the same results.")]
ModelName = Annotated[str, typer.Option(help="Registered model name: lead_score or close_probability.")]
ModelSpec = Annotated[str, typer.Option(help="A built-in spec by name (lead_score) or a path to a spec YAML.")]
Trials = Annotated[int | None, typer.Option(min=1, help="Optuna trials (default: the spec's).")]


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user's error into one red line and its exit code instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SalesmlError as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)

    return wrapper


def money(value: float) -> str:
    """Compact amounts (1.07M, 950k) so that the tables fit an 80-column terminal."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.0f}k" if abs(value) >= 1e3 else f"{value:.0f}"


def wide_console() -> Console:
    """A console that does not squeeze wide tables to 80 columns when the output is piped (make demo, logs)."""
    return Console() if sys.stdout.isatty() else Console(width=150)
