"""Revenue forecasts: won revenue per period and group as of a time, with P10/P50/P90 intervals.

As of T, a period's won revenue is what is already won in it by T, plus the open pipeline, plus deals not yet
created:

- **pipeline**: each open deal's amount, won inside the period with the probability the close-probability model's
  cumulative curve gives: 0 at T, then the consistent window probabilities ``p_30d``, ``p_60d``, ``p_90d``
  (linear between them), then an exponential approach to ``p_win`` whose rate continues the slope at 90 days.
- **deals not yet created**: the rate known at T, from analog windows over the past half year: the wins of
  deals created after each analog origin, inside the analog period (every analog lies wholly before T).
  Their count is Poisson (negative binomial where the analogs vary more) and their amounts are drawn from the
  group's recent wins.

The interval comes from a seeded Monte Carlo over both (each deal won in at most one period; in each draw one
factor moves every open deal's chance in a period, as much as the close rate has swung beyond chance: see
``rate_swings``); the expected value is exact. Training (backtests) and the service call the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc_scalar
from features.errors import DataError
from features.insights.new_deals import new_deal_rates, simulate_new
from features.insights.periods import Window, periods_from
from features.insights.rate_swings import close_rate_swings
from features.pit.build import build_features
from features.pit.frames import scoring_frame
from features.pit.timeline import NAT, times

if TYPE_CHECKING:
    from features.scoring.scorer import Scorer  # the model itself loads only where one scores

GroupBy = Literal["rep", "team", "region", "product", "all"]
GROUP_BYS: tuple[str, ...] = ("rep", "team", "region", "product", "all")
NO_GROUP = "(none)"
QUANTILES = (0.1, 0.5, 0.9)
SIMS = 4000
CHUNK = 500  # simulations drawn at a time (memory: CHUNK x deals)


@dataclass
class Forecast:
    """Per (period, group) cell: the table, and the simulated totals behind its quantiles."""

    as_of: pd.Timestamp
    period: str
    by: str
    windows: list[Window]
    groups: list[str]
    table: pd.DataFrame
    samples: np.ndarray  # (sims, periods, groups): total won revenue, already won included

    def cell_samples(self, label: str, group: str) -> np.ndarray:
        k = [w.label for w in self.windows].index(label)
        return self.samples[:, k, self.groups.index(group)]


def check_grouping(by: str) -> None:
    """DataError naming the groupings when ``by`` is none of them."""
    if by not in GROUP_BYS:
        raise DataError(f"unknown grouping {by!r}; use one of: {', '.join(GROUP_BYS)}")


def deal_groups(ds: Dataset, deals: pd.DataFrame, by: str) -> pd.Series:
    """Each deal's group key: its owner (rep), the owner's team or region, its product, or ``all``."""
    check_grouping(by)
    if by == "all":
        return pd.Series("all", index=deals.index, dtype="string")
    missing = pd.Series(pd.NA, index=deals.index, dtype="string")
    if by == "product":
        keys = deals["product"] if "product" in deals.columns else missing
    elif by == "rep":
        keys = deals["owner_rep_id"] if "owner_rep_id" in deals.columns else missing
    else:
        reps = ds.get("reps")
        if by not in reps.columns or reps[by].isna().all():
            raise DataError(f"the reps table has no {by!r} values to group deals by; use --by rep or product")
        mapping = reps.set_index("rep_id")[by]
        keys = deals["owner_rep_id"].map(mapping) if "owner_rep_id" in deals.columns else missing
    return keys.astype("string").fillna(NO_GROUP)


def won_within(probability: np.ndarray, windows: dict[int, np.ndarray], days: np.ndarray) -> np.ndarray:
    """(deals, len(days)): the probability each deal is won within ``days`` of the as-of time.

    Linear through (0, 0) and the window probabilities, then ``p - (p - p_last) * exp(-(d - last) / tau)`` with
    ``tau`` continuing the last window's slope (7 to 365 days), so the curve reaches ``p_win`` only in the limit.
    """
    if not windows:
        raise DataError("the close-probability model has no time-window heads; retrain it with window_heads_days")
    knots = np.array([0.0, *sorted(windows)], dtype=float)
    curve = np.column_stack([np.zeros_like(probability), *(windows[d] for d in sorted(windows))])
    d = np.clip(np.asarray(days, dtype=float), 0.0, None)
    j = np.clip(np.searchsorted(knots, d, side="right") - 1, 0, len(knots) - 2)
    share = (np.minimum(d, knots[-1]) - knots[j]) / (knots[j + 1] - knots[j])
    linear = curve[:, j] * (1 - share) + curve[:, j + 1] * share
    last = curve[:, -1]
    slope = (curve[:, -1] - curve[:, -2]) / (knots[-1] - knots[-2])
    rest = np.clip(probability - last, 0.0, None)
    tau = np.clip(np.divide(rest, slope, out=np.full_like(rest, 365.0), where=slope > 0), 7.0, 365.0)
    tail = probability[:, None] - rest[:, None] * np.exp(-(d[None, :] - knots[-1]) / tau[:, None])
    return np.where(d[None, :] <= knots[-1], linear, tail)


def period_probabilities(scores: pd.DataFrame, as_of: pd.Timestamp, windows: list[Window]) -> np.ndarray:
    """(deals, periods): the probability each scored deal is won inside each period (after ``as_of``).

    ``scores`` has ``probability`` and ``p_{N}d`` columns, as ``Scorer.predict`` returns them.
    """
    heads = {
        int(c[2:-1]): scores[c].to_numpy(dtype=float) for c in scores.columns if c.startswith("p_") and c.endswith("d")
    }
    at = to_utc_scalar(as_of)
    edges = np.array(
        [max((w.start - at) / pd.Timedelta(days=1), 0.0) for w in windows]
        + [(windows[-1].end - at) / pd.Timedelta(days=1)]
    )
    cumulative = won_within(scores["probability"].to_numpy(dtype=float), heads, edges)
    return np.diff(cumulative, axis=1).clip(0.0, None)


def model_forecast(
    ds: Dataset,
    scorer: Scorer,
    as_of: pd.Timestamp,
    period: str,
    by: str,
    count: int,
    *,
    sims: int = SIMS,
    seed: int = 0,
) -> Forecast:
    """Won revenue per period and group as of a time, with P10/P50/P90, from the close-probability model.

    What ``salesml forecast``, the target board, the backtests, the manager report and ``POST /v1/forecast``
    run. Every deal open at ``as_of`` is scored through ``build_features`` (nothing after ``as_of`` is read) and
    its cumulative chance of being won (0 at ``as_of``, then the model's ``p_30d``, ``p_60d``, ``p_90d`` and
    ``p_win``) is cut into the periods; deals not yet created come from analog windows of the past half year;
    what is already won in a period by ``as_of`` counts as it is. ``expected`` is exact; the quantiles come
    from a seeded simulation, so the same arguments give the same numbers.

    Args:
        ds: The canonical dataset: its deals, stage history, activities, reps (teams, regions) and targets.
        scorer: A close-probability model (entity ``opportunity``) with time-window heads
            (``window_heads_days`` in its spec), e.g. ``training.registry.load_scorer("close_probability")[0]``.
        as_of: The time the forecast is made (UTC). ``salesml forecast`` and the service first check that it lies
            within the export's history.
        period: ``"week"``, ``"month"`` or ``"quarter"``: calendar periods in UTC, the first one holding ``as_of``.
        by: ``"rep"`` (the owner), ``"team"``, ``"region"`` (the owner's, from the reps table), ``"product"`` or
            ``"all"``. A deal without a group is counted under ``"(none)"``.
        count: How many periods, at least 1.
        sims: Monte Carlo draws behind the quantiles.
        seed: The simulation's seed.

    Returns:
        A ``Forecast``: ``table`` with one row per period and group (every group with an open deal, a win by
        ``as_of`` or a target in the periods) and the columns ``period`` (``2025-06``, ``2025Q3``, or a week's
        Monday ``2025-06-02``), ``start`` and ``end`` (UTC, end exclusive), ``group``, ``won_to_date``,
        ``pipeline`` (the open deals' expected wins inside the period), ``new_deals`` (deals not yet created),
        ``expected`` (their sum), ``p10``, ``p50``, ``p90`` and ``open_deals``; ``samples`` (sims x periods x
        groups: the simulated totals, for totals over groups and the target board), ``windows``, ``groups``,
        ``as_of``, ``period`` and ``by``.

    Raises:
        DataError: ``scorer`` is not a close-probability model, or has no time-window heads (when a deal is open);
            an unknown ``period`` or ``by``; ``count`` below 1; ``by`` is ``team`` or ``region`` and the reps table
            has none; nothing to forecast (no deal open or won by ``as_of`` and no target in its periods).

    Example:
        >>> from pathlib import Path
        >>> import pandas as pd
        >>> from features.crm.dataset import read_dataset
        >>> from training.registry import load_scorer
        >>> ds = read_dataset(Path("/tmp/crm"))  # salesml data synth --out /tmp/crm --leads 1500 --seed 7
        >>> scorer, version = load_scorer("close_probability")  # doctest: +SKIP
        >>> fc = model_forecast(ds, scorer, pd.Timestamp("2025-06-01", tz="UTC"), "month", "all", 1)  # doctest: +SKIP
        >>> fc.groups, [w.label for w in fc.windows], fc.samples.shape  # doctest: +SKIP
        (['all'], ['2025-06'], (4000, 1, 1))
        >>> fc.table.round(0).loc[:0, ["expected", "p10", "p50", "p90"]].to_dict("records")  # doctest: +SKIP
        [{'expected': 263977.0, 'p10': 0.0, 'p50': 222200.0, 'p90': 601000.0}]
    """
    windows = periods_from(as_of, period, count)
    deal_ids, scores = open_deal_scores(ds, scorer, as_of)
    q = period_probabilities(scores, as_of, windows) if len(deal_ids) else np.zeros((0, len(windows)))
    fc = forecast(ds, as_of, windows, by, deal_ids, q, period=period, sims=sims, seed=seed)
    if not fc.groups:
        raise DataError(
            f"nothing to forecast as of {fc.as_of:%Y-%m-%d %H:%M}: no deal open or won yet, no target in its periods"
        )
    return fc


def open_deal_scores(ds: Dataset, scorer: Scorer, at: pd.Timestamp) -> tuple[pd.Series, pd.DataFrame]:
    """The deals open at ``at`` and their scores (``probability``, ``p_{N}d``), from what was known then."""
    if scorer.entity != "opportunity":
        raise DataError(f"forecasts need the close-probability model, not {scorer.model_name!r}")
    frame = scoring_frame(ds, "opportunity", at)
    scores = (
        scorer.predict(build_features(ds, "opportunity", frame)) if len(frame) else pd.DataFrame({"probability": []})
    )
    return frame["entity_id"], scores


def forecast(
    ds: Dataset,
    as_of: pd.Timestamp,
    windows: list[Window],
    by: str,
    deal_ids: pd.Series,
    probabilities: np.ndarray,
    *,
    period: str = "month",
    sims: int = SIMS,
    seed: int = 0,
) -> Forecast:
    """The forecast of every (period, group): open deals ``deal_ids`` with their per-period win
    ``probabilities`` (deals x periods), plus deals not yet created and what is already won.

    Seeded: the same inputs give the same intervals.
    """
    at = to_utc_scalar(as_of)
    deals = ds.get("opportunities")
    history = won_deals(ds, at)
    index = pd.Index(deals["opportunity_id"].astype("string"))
    rows = index.get_indexer(pd.Index(deal_ids.astype("string")))
    if (rows < 0).any():
        raise DataError(f"{int((rows < 0).sum())} forecast deal(s) are not in the opportunities table")
    open_deals = deals.iloc[rows].reset_index(drop=True)
    amount = deal_amounts(open_deals)
    open_keys = deal_groups(ds, open_deals, by).to_numpy(dtype=object)
    history_keys = deal_groups(ds, history, by).to_numpy(dtype=object)
    groups = sorted(set(open_keys) | set(history_keys) | _target_keys(ds, by, windows))
    g_open = pd.Index(groups).get_indexer(open_keys)
    g_hist = pd.Index(groups).get_indexer(history_keys)
    rng = np.random.default_rng(seed)

    already = _already_won(history, g_hist, len(groups), windows, at)
    new = new_deal_rates(history, deal_amounts(history), g_hist, len(groups), windows, at)
    swings = close_rate_swings(deals, at, windows)
    samples = simulate_pipeline(rng, amount, g_open, len(groups), probabilities, swings, sims)
    samples += simulate_new(rng, new, sims)
    samples += already[None, :, :]
    pipeline_mean = np.stack(
        [np.bincount(g_open, amount * probabilities[:, k], len(groups)) for k in range(len(windows))]
    )
    new_mean = new.rates * np.array([[p.mean() if len(p) else 0.0 for p in row] for row in new.pools])
    quantiles = np.quantile(samples, QUANTILES, axis=0)
    open_count = np.bincount(g_open, minlength=len(groups))
    table = pd.DataFrame(
        [
            {
                "period": w.label,
                "start": w.start,
                "end": w.end,
                "group": groups[g],
                "won_to_date": already[k, g],
                "pipeline": pipeline_mean[k, g],
                "new_deals": new_mean[k, g],
                "expected": already[k, g] + pipeline_mean[k, g] + new_mean[k, g],
                "p10": quantiles[0, k, g],
                "p50": quantiles[1, k, g],
                "p90": quantiles[2, k, g],
                "open_deals": int(open_count[g]),
            }
            for k, w in enumerate(windows)
            for g in range(len(groups))
        ]
    )
    return Forecast(at, period, by, windows, groups, table, samples)


def deal_amounts(deals: pd.DataFrame) -> np.ndarray:
    """Each deal's amount, 0 where it has none (it adds nothing to a forecast)."""
    if "amount" not in deals.columns:
        return np.zeros(len(deals))
    return np.nan_to_num(deals["amount"].to_numpy(dtype=float), nan=0.0)


def won_deals(ds: Dataset, at: pd.Timestamp) -> pd.DataFrame:
    """Deals won by ``at`` (what any estimate at ``at`` may read)."""
    deals = ds.get("opportunities")
    if "outcome" not in deals.columns or "closed_at" not in deals.columns:
        return deals.iloc[:0]
    closed = times(deals, "closed_at")
    won = deals["outcome"].eq("won").fillna(False).to_numpy(dtype=bool) & (closed != NAT) & (closed <= at.value)
    return deals[won].reset_index(drop=True)


def won_by_group(ds: Dataset, by: str, start: pd.Timestamp, until: pd.Timestamp) -> pd.Series:
    """Revenue won from ``start`` up to and including ``until``, per group (groups with no win are absent)."""
    won = won_deals(ds, until)
    closed = times(won, "closed_at")
    inside = closed >= start.value
    amount = deal_amounts(won)
    keys = deal_groups(ds, won, by).to_numpy(dtype=object)
    return pd.Series(amount[inside]).groupby(keys[inside]).sum()


def _already_won(
    history: pd.DataFrame, g: np.ndarray, n_groups: int, windows: list[Window], at: pd.Timestamp
) -> np.ndarray:
    """(periods, groups): revenue won inside each period by ``at`` (only the first period can have any)."""
    closed = times(history, "closed_at")
    amount = deal_amounts(history)
    out = np.zeros((len(windows), n_groups))
    for k, w in enumerate(windows):
        inside = (closed >= w.start.value) & (closed < w.end.value) & (closed <= at.value)
        out[k] = np.bincount(g[inside], amount[inside], n_groups)
    return out


def simulate_pipeline(
    rng: np.random.Generator,
    amount: np.ndarray,
    g: np.ndarray,
    n_groups: int,
    q: np.ndarray,
    rate_cv2: np.ndarray,
    sims: int,
) -> np.ndarray:
    """(sims, periods, groups): each open deal is won in at most one period, with probabilities ``q``.

    The probabilities are the model's average over the months it learned from; a given period's win rate departs
    from it for every deal at once (a market, a quarter's push, the model's own drift), which independent draws
    never show. So each simulation multiplies every deal's chance in a period by one gamma-distributed factor (mean
    1, relative variance ``rate_cv2``: ``close_rate_swings``; a deal's chance is capped at 1).
    """
    n_periods = q.shape[1]
    out = np.zeros((sims, n_periods, n_groups))
    if not len(amount):
        return out
    one_hot = np.zeros((len(amount), n_groups))
    one_hot[np.arange(len(amount)), g] = 1.0
    for start in range(0, sims, CHUNK):
        n = min(CHUNK, sims - start)
        u = rng.random((n, len(amount)))
        factors = [_rate_factors(rng, cv2, n) for cv2 in rate_cv2]
        below = np.zeros((n, len(amount)))
        for k in range(n_periods):
            cumulative = np.minimum(below + factors[k][:, None] * q[None, :, k], 1.0)
            won_here = (u >= below) & (u < cumulative)
            out[start : start + n, k] = (won_here * amount) @ one_hot
            below = cumulative
    return out


def _rate_factors(rng: np.random.Generator, cv2: float, n: int) -> np.ndarray:
    """``n`` gamma factors of mean 1 and relative variance ``cv2`` (all 1 where it is 0)."""
    return rng.gamma(1.0 / cv2, cv2, n) if cv2 > 0 else np.ones(n)


def _target_keys(ds: Dataset, by: str, windows: list[Window]) -> set[str]:
    """Groups with a target in one of the periods (so a group with nothing open still gets a row)."""
    level = {"rep": "rep", "team": "team", "region": "region"}.get(by)
    targets = ds.get("targets")
    if level is None or targets.empty:
        return set()
    labels = {w.label for w in windows}
    mine = targets[(targets["level"] == level) & targets["period"].isin(labels)]
    return set(mine["key"].astype(str))
