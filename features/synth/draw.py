"""Vectorised random draws shared by every stage of the simulator (no per-row Python anywhere)."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def pick(rng: np.random.Generator, shares: np.ndarray, size: int) -> np.ndarray:
    """Category codes drawn with the given (unnormalised) shares."""
    return rng.choice(len(shares), size=size, p=shares / shares.sum())


def pick_rows(rng: np.random.Generator, shares: np.ndarray) -> np.ndarray:
    """One category code per row of ``shares``, each row with its own (unnormalised) shares."""
    cum = np.cumsum(shares, axis=1)
    u = rng.random(len(cum)) * cum[:, -1]
    return (u[:, None] >= cum).sum(axis=1)


def spread(
    rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``counts[i]`` times uniform in ``[lo[i], hi[i])`` for every row i, as (row index, time)."""
    row = np.repeat(np.arange(len(counts)), counts)
    return row, lo[row] + rng.random(row.size) * (hi - lo)[row]


def ranks(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each row's run of ``np.repeat(rows, counts)``: the round number of repeated events."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def lognormal(
    rng: np.random.Generator, median: float | np.ndarray, sigma: float, size: int | tuple[int, ...]
) -> np.ndarray:
    """Positive durations and amounts: right-skewed around ``median`` as field figures are."""
    return median * np.exp(sigma * rng.standard_normal(size))
