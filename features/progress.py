"""Progress bars on stderr for long computations: the computation says how far it is, this module draws it.

The one place outside the CLI modules that draws anything, so computing code never holds a terminal widget and a
caller that wants no bar (tests, the service, a notebook) passes ``enabled=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

T = TypeVar("T")


class Bar:
    """How far a computation is: ``advance`` after each step, ``describe`` the step being worked on."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def advance(self, steps: float = 1) -> None:
        self._progress.advance(self._task, steps)

    def describe(self, description: str) -> None:
        self._progress.update(self._task, description=description)


@contextmanager
def progress_bar(
    description: str, total: float, enabled: bool = True, *, transient: bool = True, counts: bool = False
) -> Iterator[Bar]:
    """A bar of ``total`` steps on stderr (nothing drawn unless ``enabled``); ``counts`` shows done/total and the time
    taken, for work measured in items rather than steps. A ``transient`` bar is drawn on a terminal only: written to
    a file or a pipe it would leave nothing but an empty line."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = Console(stderr=True)
    with Progress(
        *(columns if counts else Progress.get_default_columns()),
        console=console,
        transient=transient,
        disable=not enabled or (transient and not console.is_terminal),
    ) as progress:
        yield Bar(progress, progress.add_task(description, total=total))


def tracked(
    items: Sequence[T], description: str, enabled: bool = True, name: Callable[[T], str] | None = None
) -> Iterator[T]:
    """The items one by one, the bar advancing after each; ``name`` labels the bar with the item being worked on.
    Disabled, it draws nothing and costs nothing (the service builds features per request through it)."""
    if not enabled:
        yield from items
        return
    with progress_bar(description, len(items), enabled) as bar:
        for item in items:
            if name is not None:
                bar.describe(name(item))
            yield item
            bar.advance()
