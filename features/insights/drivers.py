"""Forecast drivers: what moved a period's won-revenue forecast between two times, deal by deal.

The P50 of a simulated sum does not split over deals; its mean does. So the change in P50 from ``since`` to
``as_of`` is written as the change in the expected value, split exactly over the deals and the part from deals not
yet created, plus one line for the change in the gap between P50 and the expected value (the skew of the range):
the lines sum to the P50 change. Both forecasts are point-in-time (the one at ``since`` reads only what was known
then), for the period holding ``as_of``.

A deal's contribution is its amount times its chance of being won inside the period (its amount once won there).
Each deal open at ``since`` or created after it is in exactly one part:

- ``created``: created after ``since``, whatever happened to it since;
- ``won`` / ``lost``: open at ``since``, closed won / otherwise by ``as_of``;
- ``slipped`` / ``pulled_in`` / ``probability``: open at both times. Its contribution is amount x p_win x share
  (share: the part of its chance of being won that falls inside the period), so its change is a timing term,
  amount x p_win(since) x (share(as_of) - share(since)), plus a probability term, amount x (p_win(as_of) -
  p_win(since)) x share(as_of). Where the timing term is the larger in size the deal slipped (it is negative) or
  was pulled in (positive); otherwise its chance of being won moved it.

Deals closed by ``since`` contribute the same at both times and are in none.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, as_of_time, to_utc_scalar
from features.errors import DataError
from features.insights.forecast import (
    SIMS,
    Forecast,
    deal_amounts,
    forecast,
    open_deal_scores,
    period_probabilities,
    won_deals,
)
from features.insights.periods import Window, periods_from
from features.pit.timeline import times
from features.scoring.scorer import Scorer

DEAL_PARTS = ("won", "lost", "slipped", "pulled_in", "created", "probability")
PARTS = (*DEAL_PARTS, "not_yet_created", "p50_vs_expected")
TOP_DEALS = 3  # deals named per part, the largest by amount
DEFAULT_SINCE = pd.Timedelta(days=7)


@dataclass
class Drivers:
    """The two forecasts' P50 and expected value of the period, the parts of the P50 change and every deal's part.

    ``parts``: one row per part in ``PARTS`` order with ``part``, ``change``, ``deals`` (count; NA for the two lines
    that are no deals) and ``top`` (up to ``TOP_DEALS`` (id, amount) pairs, largest first). ``deals``: one row per
    deal with ``opportunity_id``, ``part``, ``amount``, ``before``, ``after`` and ``change`` (contributions).
    """

    since: pd.Timestamp
    as_of: pd.Timestamp
    window: Window
    p50: tuple[float, float]  # at since, at as_of
    expected: tuple[float, float]
    parts: pd.DataFrame
    deals: pd.DataFrame

    @property
    def change(self) -> float:
        return self.p50[1] - self.p50[0]


@dataclass
class _Snapshot:
    """One forecast of the period and the per-deal figures behind its expected value."""

    fc: Forecast
    open_ids: pd.Index
    contribution: pd.Series  # by deal id: open deals and deals won inside the period by then
    win: pd.Series  # by open deal id: its chance of being won at all (p_win)
    share: pd.Series  # by open deal id: the part of that chance inside the period


def since_time(ds: Dataset, since: str | None, at: pd.Timestamp) -> pd.Timestamp:
    """``--since`` (default: a week before ``at``) within the export's history and before ``at``; else DataError."""
    start = as_of_time(ds, since or (at - DEFAULT_SINCE).isoformat(), "--since")
    check_order(start, at)
    return start


def check_order(since: pd.Timestamp, at: pd.Timestamp) -> None:
    """DataError unless ``since`` comes before ``at``: a change needs two times, the earlier first."""
    if since >= at:
        raise DataError(f"--since {since:%Y-%m-%d %H:%M} is not before --as-of {at:%Y-%m-%d %H:%M}")


def forecast_drivers(
    ds: Dataset,
    scorer: Scorer,
    as_of: pd.Timestamp,
    since: pd.Timestamp,
    period: str,
    by: str = "all",
    *,
    sims: int = SIMS,
    seed: int = 0,
) -> Drivers:
    """What moved the forecast of the period holding ``as_of`` since ``since``: the parts of the P50 change.

    ``by``, ``sims`` and ``seed`` as for ``model_forecast``: with the same ones, the P50 at ``as_of`` is the total
    P50 ``salesml forecast`` prints for that period. DataError when ``since`` is not before ``as_of``.
    """
    at, start = to_utc_scalar(as_of), to_utc_scalar(since)
    check_order(start, at)
    windows = periods_from(at, period, 1)
    before, after = (_snapshot(ds, scorer, t, windows, by, period, sims, seed) for t in (start, at))
    deals = _deal_parts(ds, before, after, start, at)
    p50 = (_p50(before.fc), _p50(after.fc))
    expected = (float(before.fc.table["expected"].sum()), float(after.fc.table["expected"].sum()))
    new = float(after.fc.table["new_deals"].sum() - before.fc.table["new_deals"].sum())
    skew = (p50[1] - expected[1]) - (p50[0] - expected[0])
    rows = [_part_row(part, deals[deals["part"] == part]) for part in DEAL_PARTS]
    rows += [{"part": "not_yet_created", "change": new, "deals": pd.NA, "top": []}]
    rows += [{"part": "p50_vs_expected", "change": skew, "deals": pd.NA, "top": []}]
    parts = pd.DataFrame(rows).astype({"deals": "Int64"})
    return Drivers(start, at, windows[0], p50, expected, parts, deals)


def _snapshot(
    ds: Dataset,
    scorer: Scorer,
    at: pd.Timestamp,
    windows: list[Window],
    by: str,
    period: str,
    sims: int,
    seed: int,
) -> _Snapshot:
    """The forecast at ``at`` through the code ``model_forecast`` runs, and each deal's contribution."""
    ids, scores = open_deal_scores(ds, scorer, at)
    q = period_probabilities(scores, at, windows)[:, 0] if len(ids) else np.zeros(0)
    fc = forecast(ds, at, windows, by, ids, q[:, None], period=period, sims=sims, seed=seed)
    table = ds.get("opportunities")
    index = pd.Index(ids.astype("string"))
    rows = pd.Index(table["opportunity_id"].astype("string")).get_indexer(index)
    won = won_deals(ds, at)
    closed = times(won, "closed_at")
    inside = (closed >= windows[0].start.value) & (closed < windows[0].end.value)
    won_ids = pd.Index(won["opportunity_id"].astype("string"))[inside]
    contribution = pd.concat(
        [pd.Series(deal_amounts(table.iloc[rows]) * q, index=index), pd.Series(deal_amounts(won)[inside], won_ids)]
    )
    win = scores["probability"].to_numpy(dtype=float) if len(ids) else np.zeros(0)
    share = np.divide(q, win, out=np.zeros_like(q), where=win > 0)
    return _Snapshot(fc, index, contribution, pd.Series(win, index=index), pd.Series(share, index=index))


def _deal_parts(
    ds: Dataset, before: _Snapshot, after: _Snapshot, start: pd.Timestamp, at: pd.Timestamp
) -> pd.DataFrame:
    """Every deal open at ``start`` or created after it (up to ``at``): its part and its two contributions."""
    table = ds.get("opportunities")
    created = times(table, "created_at")
    new = pd.Index(table["opportunity_id"].astype("string"))[(created > start.value) & (created <= at.value)]
    ids = before.open_ids.union(new)
    won = pd.Index(won_deals(ds, at)["opportunity_id"].astype("string"))
    amount = deal_amounts(table.set_index(table["opportunity_id"].astype("string")).loc[ids])
    timing, chance = _timing_and_chance(before, after, ids, amount)
    moved = np.abs(timing) > np.abs(chance)
    part = np.select(
        [ids.isin(new), ids.isin(won), ~ids.isin(after.open_ids), moved & (timing < 0), moved & (timing > 0)],
        ["created", "won", "lost", "slipped", "pulled_in"],
        "probability",
    )
    was = before.contribution.reindex(ids, fill_value=0.0).to_numpy(dtype=float)
    now = after.contribution.reindex(ids, fill_value=0.0).to_numpy(dtype=float)
    return pd.DataFrame(
        {"opportunity_id": ids, "part": part, "amount": amount, "before": was, "after": now, "change": now - was}
    )


def _timing_and_chance(
    before: _Snapshot, after: _Snapshot, ids: pd.Index, amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per deal, the two terms of an open deal's change: its timing moving and its chance of being won moving."""
    win = [s.win.reindex(ids, fill_value=0.0).to_numpy(dtype=float) for s in (before, after)]
    share = [s.share.reindex(ids, fill_value=0.0).to_numpy(dtype=float) for s in (before, after)]
    return amount * win[0] * (share[1] - share[0]), amount * (win[1] - win[0]) * share[1]


def _part_row(part: str, deals: pd.DataFrame) -> dict[str, object]:
    """One part's change, count and largest deals."""
    top = deals.sort_values(["amount", "opportunity_id"], ascending=[False, True]).head(TOP_DEALS)
    return {
        "part": part,
        "change": float(deals["change"].sum()),
        "deals": len(deals),
        "top": [(str(i), float(a)) for i, a in zip(top["opportunity_id"], top["amount"], strict=True)],
    }


def _p50(fc: Forecast) -> float:
    """The median of the period's simulated total over the groups (not a sum of the groups' medians)."""
    return float(np.quantile(fc.samples[:, 0, :].sum(axis=1), 0.5))
