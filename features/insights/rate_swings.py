"""How much the pipeline's close rate swings from one period to the next, beyond chance.

A forecast's deal probabilities are the model's average over the months it learned from; a given period's close
rate departs from it for every deal at once (a market, a quarter's push, the model's own drift), which independent
draws never show. Weekly past origins over the year before the as-of time measure it: at each, the share of the
deals open then that were won within a period's length. Their variance beyond what binomial chance gives, over
their squared mean, is the relative variance of a common factor on every open deal's chance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.insights.periods import Window
from features.pit.timeline import DAY_NS, NAT, times

SWING_DAYS = 365  # past origins over a year ...
SWING_STEP_DAYS = 7  # ... one every week
MIN_OPEN = 20  # an origin with fewer open deals says nothing about the rate
MIN_ORIGINS = 8  # fewer usable origins: no swing measured


def close_rate_swings(deals: pd.DataFrame, at: pd.Timestamp, windows: list[Window]) -> np.ndarray:
    """Per period: the relative variance of the share of open deals won within the period's length, over past
    weekly origins whose window ends by ``at`` (0 where it cannot be measured)."""
    if "outcome" not in deals.columns or "closed_at" not in deals.columns:
        return np.zeros(len(windows))
    created, closed = times(deals, "created_at"), times(deals, "closed_at")
    won = deals["outcome"].eq("won").fillna(False).to_numpy(dtype=bool) & (closed != NAT) & (closed <= at.value)
    still_open = (closed == NAT) | (closed > at.value)
    out = np.zeros(len(windows))
    for k, w in enumerate(windows):
        length = w.end.value - max(w.start.value, at.value)
        step = SWING_STEP_DAYS * DAY_NS
        first = -(-length // step) * step
        rates, counts = [], []
        for shift in first + np.arange(0, SWING_DAYS, SWING_STEP_DAYS) * DAY_NS:
            origin = at.value - shift
            open_then = (created <= origin) & (still_open | (closed > origin))
            if open_then.sum() >= MIN_OPEN:
                rates.append((open_then & won & (closed < origin + length)).sum() / open_then.sum())
                counts.append(open_then.sum())
        out[k] = _beyond_chance(np.array(rates), np.array(counts))
    return out


def _beyond_chance(rates: np.ndarray, counts: np.ndarray) -> float:
    """Variance of the rates beyond the binomial variance of their counts, over the squared mean rate."""
    if len(rates) < MIN_ORIGINS or rates.mean() <= 0:
        return 0.0
    mean = rates.mean()
    chance = np.mean(mean * (1 - mean) / counts)
    return float(max(rates.var() - chance, 0.0) / mean**2)
