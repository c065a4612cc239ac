"""Deals not yet created: the wins a forecast period will get from deals opened after the as-of time.

Their rate comes from analog windows over the past half year, one a week: each counts the deals created after
its origin and won inside the analog of the period, all of it known at the as-of time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.insights.periods import Window
from features.pit.timeline import DAY_NS, times

ANALOG_DAYS = 182  # analog windows over the past half year ...
ANALOG_STEP_DAYS = 7  # ... one every week
MIN_AMOUNTS = 5  # a group with fewer recent wins draws amounts from every group's


@dataclass
class NewDeals:
    """Per (period, group): the analogs' mean and variance of the count of wins from deals created after the as-of
    time, and their amounts."""

    rates: np.ndarray
    spreads: np.ndarray
    pools: list[list[np.ndarray]]


def new_deal_rates(
    history: pd.DataFrame, amount: np.ndarray, g: np.ndarray, n_groups: int, windows: list[Window], at: pd.Timestamp
) -> NewDeals:
    """The analogs of each period (see ``NewDeals``).

    For period [s, e) as of T, an analog shifted back by D (at least e - T, then weekly over half a year) counts
    the deals created after T - D and won inside [max(s, T) - D, e - D): all of it known at T.
    """
    created, closed = times(history, "created_at"), times(history, "closed_at")
    rates, spreads = np.zeros((len(windows), n_groups)), np.zeros((len(windows), n_groups))
    pools: list[list[np.ndarray]] = []
    for k, w in enumerate(windows):
        lo, hi = max(w.start.value, at.value) - at.value, w.end.value - at.value
        first = -(-hi // (ANALOG_STEP_DAYS * DAY_NS)) * ANALOG_STEP_DAYS * DAY_NS
        shifts = first + np.arange(0, ANALOG_DAYS, ANALOG_STEP_DAYS) * DAY_NS
        counts = np.zeros((len(shifts), n_groups))
        used = np.zeros(len(history), dtype=bool)
        for i, shift in enumerate(shifts):
            origin = at.value - shift
            hit = (created > origin) & (closed >= origin + lo) & (closed < origin + hi)
            counts[i] = np.bincount(g[hit], minlength=n_groups)
            used |= hit
        rates[k], spreads[k] = counts.mean(axis=0), counts.var(axis=0)
        everyone = amount[used]
        pools.append(
            [amount[used & (g == j)] if (used & (g == j)).sum() >= MIN_AMOUNTS else everyone for j in range(n_groups)]
        )
    return NewDeals(rates, spreads, pools)


def simulate_new(rng: np.random.Generator, new: NewDeals, sims: int) -> np.ndarray:
    """(sims, periods, groups): compound revenue of deals not yet created. The count is Poisson, or negative
    binomial (a gamma-distributed rate) where the analogs' counts vary more than a Poisson count would: the rate
    itself moves from period to period."""
    rates, spreads, pools = new.rates, new.spreads, new.pools
    n_periods, n_groups = rates.shape
    out = np.zeros((sims, n_periods, n_groups))
    for k in range(n_periods):
        for j in range(n_groups):
            pool = pools[k][j]
            if rates[k, j] <= 0 or not len(pool):
                continue
            mean, extra = rates[k, j], spreads[k, j] - rates[k, j]
            rate = rng.gamma(mean**2 / extra, extra / mean, sims) if extra > 0 else np.full(sims, mean)
            counts = rng.poisson(rate)
            draws = rng.choice(pool, size=int(counts.sum()))
            out[:, k, j] = np.bincount(np.repeat(np.arange(sims), counts), draws, sims)
    return out
