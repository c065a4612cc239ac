"""The small tables made up front: reps, accounts, and the monthly three-line target board."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.crm.dataset import conform
from features.synth.deals import expected_deal_value
from features.synth.output import ids, times
from features.synth.world import INDUSTRIES, REGION_SHARE, REGIONS, World

PLAN_CONVERSION = 0.15  # planners' lead-to-opportunity assumption
PLAN_WIN = 0.30  # planners' win-rate assumption
CASCADE = 1.05  # each level keeps a buffer over the sum below it, so targets shrink as they cascade down
RED, GREEN = 0.85, 1.10  # warning and challenge lines as shares of the yellow base line
RAMP_MONTHS = 4  # a new hire's target grows to full over these months


def org_tables(world: World) -> dict[str, pd.DataFrame]:
    return {"reps": reps_frame(world), "accounts": accounts_frame(world), "targets": targets_frame(world)}


def reps_frame(world: World) -> pd.DataFrame:
    reps = world.reps
    frame = pd.DataFrame(
        {
            "rep_id": ids("R", np.arange(len(reps))).to_pandas(),
            "name": reps.names,
            "team": np.array(reps.team_names)[reps.team],
            "region": np.array(REGIONS)[reps.region],
            "hired_at": times(world, reps.hired).to_pandas(),
            "left_at": times(world, reps.left).to_pandas(),
            "active": world.fit.active,
        }
    )
    return conform("reps", frame)


def accounts_frame(world: World) -> pd.DataFrame:
    accounts = world.accounts
    frame = pd.DataFrame(
        {
            "account_id": ids("C", np.arange(len(accounts))).to_pandas(),
            "name": accounts.names,
            "industry": np.array(INDUSTRIES)[accounts.industry],
            "employees": accounts.employees,
            "annual_revenue": accounts.revenue,
            "region": np.array(REGIONS)[accounts.region],
            "created_at": times(world, accounts.created).to_pandas(),
        }
    )
    return conform("accounts", frame)


def targets_frame(world: World) -> pd.DataFrame:
    """Monthly red / yellow / green lines for every rep employed that month, every team and every region.

    A rep's yellow line is their capacity: their routing share of the region's expected leads that month
    times the planners' conversion, win rate and deal value, ramped up for new hires.
    """
    reps = world.reps
    months = np.arange(world.month(np.array([0.0]))[0], world.month(np.array([world.horizon - 1e-6]))[0] + 1)
    starts, ends = world.days_of(months), world.days_of(months + 1)
    leads = (
        world.n_leads
        * np.diff(np.interp(np.stack([starts, ends]) * 24, np.arange(len(world.arrival)), world.arrival), axis=0)[0]
    )
    employed = (reps.hired < ends[:, None]) & ~(reps.left < starts[:, None])
    ramp = np.clip((starts[:, None] - reps.hired + 30.44) / (30.44 * RAMP_MONTHS), 0, 1)
    weight = np.exp(0.4 * reps.skill) * employed
    in_region = np.equal.outer(reps.region, np.arange(len(REGIONS)))  # (reps, regions)
    region_weight = weight @ in_region
    share = weight / (region_weight @ in_region.T) * REGION_SHARE[reps.region]
    rep_yellow = leads[:, None] * share * ramp * PLAN_CONVERSION * PLAN_WIN * expected_deal_value(world.accounts)
    in_team = np.equal.outer(reps.team, np.arange(len(reps.team_names)))
    team_yellow = CASCADE * rep_yellow @ in_team
    region_yellow = CASCADE * team_yellow @ np.equal.outer(reps.team_region, np.arange(len(REGIONS)))
    period = months.astype(str)
    month_of, rep_of = np.nonzero(employed)
    frames = [
        _lines(period[month_of], "rep", ids("R", rep_of).to_pandas(), rep_yellow[month_of, rep_of]),
        _lines(
            np.repeat(period, len(reps.team_names)), "team", np.tile(reps.team_names, len(period)), team_yellow.ravel()
        ),
        _lines(np.repeat(period, len(REGIONS)), "region", np.tile(REGIONS, len(period)), region_yellow.ravel()),
    ]
    return conform("targets", pd.concat(frames, ignore_index=True))


def _lines(period: np.ndarray, level: str, key: np.ndarray, yellow: np.ndarray) -> pd.DataFrame:
    yellow = np.round(yellow, -3)
    return pd.DataFrame(
        {
            "period": period,
            "level": level,
            "key": key,
            "red": np.round(RED * yellow, -3),
            "yellow": yellow,
            "green": np.round(GREEN * yellow, -3),
        }
    )
