"""The simulated organisation: whom it sells to, its reps and regions, and when leads arrive.

Everything here is small (hundreds of reps, up to a few hundred thousand accounts) and made once, up
front, so that every lead chunk can be simulated independently against the same world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.synth.draw import lognormal, pick

SOURCES = ("web_form", "trade_show", "referral", "cold_call", "ads", "partner")
SOURCE_SHARE = np.array([0.30, 0.12, 0.08, 0.22, 0.18, 0.10])
REGIONS = ("east", "south", "north", "central", "southwest", "northeast")
REGION_SHARE = np.array([0.30, 0.22, 0.20, 0.11, 0.10, 0.07])
INDUSTRIES = ("manufacturing", "healthcare", "software", "education", "retail", "logistics", "finance", "energy")
INDUSTRY_SHARE = np.array([0.27, 0.17, 0.14, 0.13, 0.09, 0.08, 0.07, 0.05])
COMPANY_SIZES = ("1-49", "50-199", "200-999", "1000+")
SIZE_EDGES = np.array([50, 200, 1000])  # employees where the next size band starts

LOCAL_OFFSET_DAYS = 8 / 24  # China Standard Time: the working day the field figures describe
#: Lead volume by calendar month: Spring Festival (Feb) and Golden Week (Oct) are quiet.
MONTH_VOLUME = np.array([0.95, 0.6, 1.15, 1.05, 1.0, 1.05, 0.95, 0.9, 1.1, 0.8, 1.05, 1.0])
#: Lead volume by local hour: office hours with a lunch dip.
HOUR_VOLUME = np.array(
    [0.05] * 7 + [0.3, 0.8, 1.3, 1.3, 1.3, 0.8, 0.8, 1.2, 1.2, 1.2, 1.2, 0.6, 0.6, 0.6, 0.25, 0.25, 0.25]
)
WEEKEND_VOLUME = 0.3
YEARLY_GROWTH = 0.2

TEAM_SIZE = 8
MIN_REPS_PER_REGION = 4
RAMP_SKILL = 0.8  # skill a brand-new hire lacks ...
RAMP_DAYS = 120.0  # ... recovered with this time constant
LEADS_PER_ACCOUNT = 3


@dataclass(frozen=True)
class Reps:
    """Sales reps; ``hired``/``left`` are days since the window start (``left`` NaN while employed)."""

    region: np.ndarray
    team: np.ndarray
    team_names: tuple[str, ...]
    team_region: np.ndarray
    skill: np.ndarray  # latent selling skill, N(0, 1)
    speed: np.ndarray  # log of the rep's median first-response time in hours
    hired: np.ndarray
    left: np.ndarray
    successor: np.ndarray  # the team's anchor, who takes over the accounts of a rep who leaves
    names: np.ndarray

    def __len__(self) -> int:
        return len(self.region)

    def at(self, rep: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Who works an owner's entity at time ``t``: the owner, or the successor once the owner has left."""
        return np.where(t >= self.left[rep], self.successor[rep], rep)

    def skill_at(self, rep: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Skill net of ramp-up: new hires sell worse for their first months."""
        return self.skill[rep] - RAMP_SKILL * np.exp(-np.maximum(t - self.hired[rep], 0.0) / RAMP_DAYS)


@dataclass(frozen=True)
class Accounts:
    """Customer companies (all in the CRM before the window starts) and how often each produces a lead."""

    region: np.ndarray
    industry: np.ndarray
    size: np.ndarray
    employees: np.ndarray
    revenue: np.ndarray
    created: np.ndarray
    names: np.ndarray
    popularity: np.ndarray  # cumulative share of leads, for drawing a lead's account

    def __len__(self) -> int:
        return len(self.region)

    def draw(self, u: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.popularity, u * self.popularity[-1], side="right")


@dataclass(frozen=True)
class World:
    """The organisation and its calendar; times are float days since ``start`` (UTC)."""

    start: pd.Timestamp
    horizon: float  # the export time, in days since start
    n_leads: int
    reps: Reps
    accounts: Accounts
    arrival: np.ndarray  # cumulative share of leads arriving by each hour of the window
    routing: tuple[tuple[np.ndarray, np.ndarray], ...]  # per region: rep indices, cumulative weights per day
    fit: RepFit  # each rep's fit with industries and sources, and the status HR shows

    @property
    def _start64(self) -> np.datetime64:
        return np.datetime64(self.start.tz_convert(None).to_datetime64(), "s")

    def month(self, days: np.ndarray) -> np.ndarray:
        """Calendar months (UTC) of finite times."""
        return (self._start64 + np.round(days * 86_400).astype("int64")).astype("datetime64[M]")

    def days_of(self, when: np.ndarray) -> np.ndarray:
        return (when.astype("datetime64[s]") - self._start64).astype("int64") / 86_400

    def next_month_start(self, days: np.ndarray) -> np.ndarray:
        return self.days_of(self.month(days) + 1)

    def month_end(self, days: np.ndarray) -> np.ndarray:
        """Midnight starting the last day of the month: the date reps type as an expected close."""
        return self.next_month_start(days) - 1

    def quarter_start(self, days: np.ndarray) -> np.ndarray:
        month = self.month(days)
        return self.days_of(month - month.astype("int64") % 3)

    def month_of_year(self, days: np.ndarray) -> np.ndarray:
        """0 = January ... 11 = December."""
        return self.month(days).astype("int64") % 12

    def arrivals(self, u: np.ndarray) -> np.ndarray:
        """Creation times for sorted uniform quantiles ``u`` (inverse of the hourly arrival curve)."""
        hour = np.searchsorted(self.arrival, u, side="right") - 1
        frac = (u - self.arrival[hour]) / (self.arrival[hour + 1] - self.arrival[hour])
        return np.minimum((hour + frac) / 24, self.horizon)

    def route(self, region: np.ndarray, t: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Owner for each lead: a rep of its region employed on its creation day, weighted by capacity."""
        owner = np.empty(len(region), dtype=np.int64)
        day = np.minimum(t.astype(np.int64), self.routing[0][1].shape[0] - 1)
        for r, (reps, cum) in enumerate(self.routing):
            rows = np.flatnonzero(region == r)
            weights = cum[day[rows]]
            owner[rows] = reps[(u[rows, None] * weights[:, -1:] >= weights).sum(axis=1)]
        return owner


def rep_count(leads: int) -> int:
    """50 reps for the default 20k leads, growing to the 300 of a large mid-size organisation."""
    return int(np.clip(round(50 * (leads / 20_000) ** 0.46), 50, 300))


def make_reps(rng: np.random.Generator, n: int, horizon: float) -> Reps:
    """Reps in teams of about 8 per region; team anchors stay, some others join or leave mid-window."""
    counts = np.maximum(MIN_REPS_PER_REGION, np.floor(REGION_SHARE * n)).astype(np.int64)
    counts[0] += n - counts.sum()
    region = np.repeat(np.arange(len(REGIONS)), counts)
    position = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    n_teams = -(-counts // TEAM_SIZE)
    team = np.repeat(np.cumsum(n_teams) - n_teams, counts) + position % n_teams[region]
    team_names = tuple(f"{REGIONS[r]}-{i + 1}" for r in range(len(REGIONS)) for i in range(n_teams[r]))
    anchor = position < n_teams[region]
    joins = ~anchor & (rng.random(n) < 0.18)
    hired = np.where(joins, rng.uniform(0, 0.85 * horizon, n), -rng.uniform(60, 8 * 365, n))
    hired = np.where(anchor, -rng.uniform(2 * 365, 8 * 365, n), hired)
    leave_from = np.maximum(hired, 0) + 90
    leaves = ~anchor & (rng.random(n) < 0.2) & (leave_from < horizon)
    left = np.where(leaves, leave_from + rng.random(n) * (horizon - leave_from), np.nan)
    skill = rng.standard_normal(n)
    anchor_of_team = np.flatnonzero(anchor)[np.argsort(team[anchor])]
    return Reps(
        region=region,
        team=team,
        team_names=team_names,
        team_region=np.repeat(np.arange(len(REGIONS)), n_teams),
        skill=skill,
        speed=np.log(15.0) - 1.5 * skill + 0.4 * rng.standard_normal(n),
        hired=hired,
        left=left,
        successor=anchor_of_team[team],
        names=_person_names(rng, n),
    )


SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"), dtype=object)
GIVEN = np.array(
    ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰", "涛", "明", "超", "婷", "强", "军"], dtype=object
)


def _person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    return SURNAMES[rng.integers(0, len(SURNAMES), n)] + GIVEN[rng.integers(0, len(GIVEN), n)]


NAME_HEADS = np.array(
    ["Hua", "Heng", "Tai", "Xin", "Rui", "Jin", "Kang", "Ming", "Da", "Zhong", "Yuan", "Sheng"], dtype=object
)
NAME_TAILS = np.array([h.lower() for h in NAME_HEADS], dtype=object)
INDUSTRY_WORDS = np.array(
    [" Precision Machinery", " Medical", " Software", " Education", " Retail", " Logistics", " Capital", " Energy"],
    dtype=object,
)


def make_accounts(rng: np.random.Generator, n: int) -> Accounts:
    """Companies with region, industry and a log-normal headcount; a few produce many leads."""
    industry = pick(rng, INDUSTRY_SHARE, n)
    employees = np.clip(np.round(lognormal(rng, 150.0, 1.3, n)), 5, 200_000)
    parts = rng.integers(0, len(NAME_HEADS), (2, n))
    return Accounts(
        region=pick(rng, REGION_SHARE, n),
        industry=industry,
        size=np.searchsorted(SIZE_EDGES, employees, side="right"),
        employees=employees,
        revenue=np.round(employees * lognormal(rng, 0.5e6, 0.6, n), -3),
        created=-rng.uniform(0, 5 * 365, n),
        names=NAME_HEADS[parts[0]] + NAME_TAILS[parts[1]] + INDUSTRY_WORDS[industry] + " Co., Ltd.",
        popularity=np.cumsum(lognormal(rng, 1.0, 1.0, n)),
    )


def arrival_curve(start: pd.Timestamp, horizon: float) -> np.ndarray:
    """Cumulative share of leads by each hour: seasonality by month, weekday, local hour and growth."""
    hours = np.arange(int(np.ceil(horizon * 24)))
    local = np.datetime64(start.tz_convert(None).to_datetime64(), "h") + hours + int(LOCAL_OFFSET_DAYS * 24)
    days = local.astype("datetime64[D]").astype(np.int64)
    weight = (
        MONTH_VOLUME[local.astype("datetime64[M]").astype(np.int64) % 12]
        * np.where((days + 3) % 7 >= 5, WEEKEND_VOLUME, 1.0)
        * HOUR_VOLUME[local.astype(np.int64) % 24]
        * (1 + YEARLY_GROWTH * hours / (24 * 365))
    )
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    return cum / cum[-1]


def routing_table(reps: Reps, horizon: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Per region and day, cumulative routing weights of the reps employed all that day.

    Field practice routes by region code and weights reps by recent wins (approximated by skill);
    it never routes to a rep who has left, which the whole-day employment test guarantees.
    """
    day = np.arange(int(np.ceil(horizon)) + 1)[:, None]
    employed = (reps.hired <= day) & ~(reps.left < day + 1)
    weight = np.exp(0.4 * reps.skill) * employed
    return tuple(
        (np.flatnonzero(reps.region == r), np.cumsum(weight[:, reps.region == r], axis=1)) for r in range(len(REGIONS))
    )


def build_world(rng: np.random.Generator, leads: int, start: pd.Timestamp, end: pd.Timestamp) -> World:
    horizon = (end - start).total_seconds() / 86_400
    reps = make_reps(rng, rep_count(leads), horizon)
    return World(
        start=start,
        horizon=horizon,
        n_leads=leads,
        reps=reps,
        accounts=make_accounts(rng, max(200, leads // LEADS_PER_ACCOUNT)),
        arrival=arrival_curve(start, horizon),
        routing=routing_table(reps, horizon),
        fit=draw_fit(rng.spawn(1)[0], reps),  # a generator of its own: the draws above keep their values
    )


INDUSTRY_FIT_SD = 0.45  # log-odds: a rep's edge or handicap with an industry
SOURCE_FIT_SD = 0.3  # ... and with a lead source
STALE_ACTIVE_SHARE = 0.3  # reps who left but are still marked active
ON_LEAVE_SHARE = 0.05  # reps employed but marked inactive


@dataclass(frozen=True)
class RepFit:
    """Per rep: fit offsets (log-odds) by industry and by lead source, added to the conversion of the leads the rep
    owns, and the status HR shows, stale both ways (some who left still show as active, a few on leave do not)."""

    industry: np.ndarray  # (reps, industries)
    source: np.ndarray  # (reps, sources)
    active: np.ndarray  # bool per rep

    def offset(self, rep: np.ndarray, industry: np.ndarray, source: np.ndarray) -> np.ndarray:
        return self.industry[rep, industry] + self.source[rep, source]


def draw_fit(rng: np.random.Generator, reps: Reps) -> RepFit:
    n = len(reps)
    stale, on_leave = rng.random(n) < STALE_ACTIVE_SHARE, rng.random(n) < ON_LEAVE_SHARE
    return RepFit(
        industry=INDUSTRY_FIT_SD * rng.standard_normal((n, len(INDUSTRIES))),
        source=SOURCE_FIT_SD * rng.standard_normal((n, len(SOURCES))),
        active=np.where(np.isnan(reps.left), ~on_leave, stale),
    )
