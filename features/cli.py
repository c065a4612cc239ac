"""What every salesml command shares: a user's error as one red line and its exit code, never a traceback; amounts
as tables print them."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console

from features.errors import DataError, StoreError

console = Console(stderr=True)


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a DataError or StoreError into one red line and its exit code instead of a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (DataError, StoreError) as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)

    return wrapper


def money(value: float) -> str:
    """Compact amounts (1.07M, 950k) so that the tables fit an 80-column terminal."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.2f}M"
    return f"{value / 1e3:.0f}k" if abs(value) >= 1e3 else f"{value:.0f}"
