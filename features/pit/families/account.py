"""The account's closed and won deals by the cutoff, and its firmographics."""

from __future__ import annotations

import numpy as np

from features.pit.rows import Columns, FrameRows
from features.pit.timeline import gather, present


def account(r: FrameRows) -> Columns:
    """The account's deals closed and won by the cutoff, and its firmographics."""
    history, account = r.history, r.attr("account_id")
    closed, wins, win_rate = r.rate("account_deals_closed")
    row = history.rows("accounts", "account_id", account)
    has_account = present(account)
    return {
        "account_deals_closed_n": np.where(has_account, closed, np.nan),
        "account_deals_won_n": np.where(has_account, wins, np.nan),
        "account_win_rate": np.where(has_account, win_rate, np.nan),
        "account_industry": gather(history.values("accounts", "industry", "text"), row, None),
        "account_employees": gather(history.values("accounts", "employees", "number"), row, np.nan),
        "account_annual_revenue": gather(history.values("accounts", "annual_revenue", "number"), row, np.nan),
    }
