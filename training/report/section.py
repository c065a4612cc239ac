"""One section of the manager report as the template lays it out, and how its tables write figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Section:
    """One section of the page: heading, paragraphs, tables (header, rows of (text, css class)) and pictures."""

    key: str
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[dict[str, Any]] = field(default_factory=list)
    pictures: list[dict[str, str]] = field(default_factory=list)
    lists: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def pct(value: float) -> str:
    """A share as a whole percentage; empty when unknown."""
    return "" if pd.isna(value) else f"{value:.0%}"


def num(value: float, digits: int = 1) -> str:
    """A number to ``digits`` decimals; empty when unknown."""
    return "" if pd.isna(value) else f"{value:.{digits}f}"
