"""A deal's amount against its rep's and its product's median deal so far, and its slip past the expected close."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.pit.rows import Columns, FrameRows
from features.pit.timeline import DAY_NS, NAT, Timeline, column, numeric, times


def _median_upto(groups: np.ndarray, created: np.ndarray, values: np.ndarray, r: FrameRows) -> np.ndarray:
    """Per row, the median value over its group's deals created by the cutoff (NaN: none yet)."""
    tl = Timeline(np.where(np.isnan(values), -1, groups), created)
    median = pd.Series(tl.take(values)).groupby(tl.codes, sort=False).expanding().median().to_numpy()
    query = groups[r.codes]
    return tl.last(median, tl.first(query), tl.upto(query, r.cutoffs), np.nan)


def deal(r: FrameRows) -> Columns:
    """Amount against the rep's and the product's median deal so far, and days past the expected close.

    expected_close_at is taken as set at creation: the schema keeps no history of it.
    """
    deals = r.entities
    amount, created = numeric(column(deals, "amount")), times(deals, "created_at")
    out = {}
    for name, by in (("amount_vs_rep_median", "owner_rep_id"), ("amount_vs_product_median", "product")):
        median = _median_upto(pd.factorize(column(deals, by))[0], created, amount, r)
        out[name] = amount[r.codes] / np.where(median > 0, median, np.nan)
    expected = times(deals, "expected_close_at")[r.codes]
    out["expected_close_slip_days"] = np.where(expected != NAT, (r.cutoffs - expected) / DAY_NS, np.nan)
    return out
