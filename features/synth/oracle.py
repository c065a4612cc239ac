"""The oracle forecast's deal probabilities: what the simulator's truth says about each open deal.

No forecast can beat chance in the outcomes, so backtest reports put salesml next to an oracle that knows each
deal's true win probability (``_truth/opportunities.parquet``: ``p_win``) and when it would sign if won
(``won_at``). As of T, an open deal whose ``won_at`` has passed is lost; otherwise its chance is the true
probability updated on the deal still being open: ``p / (p + (1 - p) * S)``, where ``S`` is the share of the
simulator's lost deals still open at the same point of their won path. It is won in the period holding
``won_at``. Only reports read this; models and features never do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.crm.dataset import read_table, table_path
from features.errors import DataError
from features.insights.periods import Window
from features.synth.output import TRUTH_DIR


def has_truth(data: Path) -> bool:
    return table_path(data / TRUTH_DIR, "opportunities") is not None


def read_truth(data: Path, opportunities: pd.DataFrame) -> pd.DataFrame:
    """The truth joined to the full export's deals: created_at, closed_at, p_win, won_drawn, won_at."""
    found = table_path(data / TRUTH_DIR, "opportunities")
    if found is None:
        raise DataError(f"{data / TRUTH_DIR}: no opportunities truth (a salesml data synth export has one)")
    truth = read_table(found)
    deals = opportunities[["opportunity_id", "created_at"]].astype({"opportunity_id": str})
    truth = truth.astype({"opportunity_id": str}).merge(deals, on="opportunity_id", how="inner")
    return truth.set_index("opportunity_id")


def oracle_probabilities(
    truth: pd.DataFrame, deal_ids: pd.Series, as_of: pd.Timestamp, windows: list[Window]
) -> np.ndarray:
    """(deals, periods): the oracle's probability each deal open at ``as_of`` is won inside each period."""
    rows = truth.reindex(deal_ids.astype(str).to_numpy())
    p = rows["p_win"].fillna(0.0).to_numpy(dtype=float)
    created = _ns(rows["created_at"])
    won_at = _ns(rows["won_at"])
    ratio = (as_of.value - created) / np.maximum(won_at - created, 1)
    q = np.where(won_at <= as_of.value, 0.0, p / np.maximum(p + (1 - p) * _lost_still_open(truth, ratio), 1e-12))
    starts = np.array([w.start.value for w in windows])
    ends = np.array([w.end.value for w in windows])
    inside = (won_at[:, None] >= starts[None, :]) & (won_at[:, None] < ends[None, :])
    return q[:, None] * inside


def _lost_still_open(truth: pd.DataFrame, ratio: np.ndarray) -> np.ndarray:
    """Share of lost deals whose close comes later than ``ratio`` of the way along their won path."""
    lost = truth[~truth["won_drawn"].to_numpy(dtype=bool)]
    created, won_at, closed = _ns(lost["created_at"]), _ns(lost["won_at"]), _ns(lost["true_closed_at"])
    lost_ratio = np.sort((closed - created) / np.maximum(won_at - created, 1))
    return 1.0 - np.searchsorted(lost_ratio, ratio, side="right") / max(len(lost_ratio), 1)


def _ns(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values, utc=True).to_numpy(dtype="datetime64[ns]").view("int64")
