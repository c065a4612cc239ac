"""The account's closed and won deals by the cutoff, and its firmographics."""

from __future__ import annotations

import numpy as np

from features.pit.rows import Columns, FrameRows
from features.pit.timeline import present


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
        "account_industry": history.gathered("accounts", "industry", "text", row),
        "account_employees": history.gathered("accounts", "employees", "number", row),
        "account_annual_revenue": history.gathered("accounts", "annual_revenue", "number", row),
    }
