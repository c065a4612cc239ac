"""Leads: who they are, how fast a rep first answers, whether they activate, and whether they convert.

The true conversion probability is set by the planted drivers (source, size, industry fit, web engagement,
first-response latency within the first week, 7-day activation, the owner's latent skill and the owner's fit with
the lead's industry and source); the unobserved buyer intent acts only through the behaviour it causes (engagement,
activation), so a model that reads the CRM well can come close to the oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.pit.families.response import ACTIVATION_DAYS
from features.synth.draw import lognormal, pick, sigmoid, spread
from features.synth.drift import Drift, LeadEffects
from features.synth.events import (
    INBOUND,
    OUTBOUND,
    TYPE,
    Events,
    events,
    kinds,
    notes,
    place,
)
from features.synth.world import REGIONS, SOURCE_SHARE, SOURCES, World

# Planted effects on the conversion log-odds (truth.py lists them as drivers).
LEAD_BASE = -2.1
SOURCE_LOGIT = np.array([0.0, 0.12, 0.72, -0.56, -0.36, 0.4])  # web_form, trade_show, referral, cold_call, ads, partner
SIZE_LOGIT = np.array([-0.36, 0.0, 0.2, 0.28])
INDUSTRY_FIT_LOGIT = np.array([0.24, 0.24, 0.16, 0.08, -0.32, -0.24, -0.32, -0.16])  # core industries fit the products
LATENCY_LOGIT = -0.45  # per log(1 + hours to the first outbound touch)
ENGAGEMENT_LOGIT = 0.45  # per log(1 + web visits + 2 x (downloads + inbound contacts))
ACTIVATION_LOGIT = 0.7  # two or more effective interactions within 7 days
SKILL_LOGIT = 0.3
PREFERRED_SHARE = 0.05  # leads whose customer named a rep (routing honoured it: that rep owns the lead)

SOURCE_LATENCY = np.array([-0.3, 0.9, 0.0, 0.2, -0.2, 0.3])  # log-hours: show cards wait for the show to end
SOURCE_WEB = np.array([0.5, -0.3, -0.2, -0.8, 0.4, -0.3])  # log-rate of web visits
LATENCY_SIGMA = 1.5
FORGOTTEN_BASE = -1.9  # log-odds that a lead is forgotten: touched after 10-45 days if ever
ENGAGEMENT_DAYS = 7.0  # web visits, downloads and inbound contacts come in the lead's first week of research
FOLLOW_UP_RATE = 0.12  # rep touches per day after the first week
CONVERT_DAYS = (9.0, 0.7)  # median and log-SD of days from the first response to conversion
DROP_DAYS = (25.0, 0.6)  # the same to disqualification
CLEAN_UP_AFTER, CLEAN_UP_SHARE, CLEAN_UP_DAYS = 10.0, 0.7, (7.0, 40.0)  # forgotten leads closed by a clean-up


PLANTED = LeadEffects(LEAD_BASE, SOURCE_LOGIT, SIZE_LOGIT, ENGAGEMENT_LOGIT, ACTIVATION_LOGIT)

#: Segment-specific drivers (``synthesize(segment_drivers=True)``): in these regions a planted driver's effect on the
#: conversion log-odds is multiplied by this factor (-1: reversed); the other regions convert as planted.
SEGMENT_DRIVERS = {"east": ("lead source", -3.0), "south": ("industry fit", -6.0)}


@dataclass(frozen=True)
class Leads:
    """One chunk of leads; times are days since the window start."""

    number: np.ndarray  # global lead number: the lead's id, and its opportunity's
    created: np.ndarray
    source: np.ndarray
    account: np.ndarray
    region: np.ndarray
    industry: np.ndarray
    size: np.ndarray
    owner: np.ndarray
    intent: np.ndarray
    latency: np.ndarray  # days from creation to the first outbound touch (if the lead lives that long)
    activated: np.ndarray
    p: np.ndarray
    converted: np.ndarray  # drawn, even when it happens after the export
    end: np.ndarray  # when the lead converts or is disqualified (may be after the export)
    web_visits: np.ndarray
    downloads: np.ndarray
    inbound: np.ndarray
    preferred: np.ndarray  # the rep the customer named (-1: none)

    def __len__(self) -> int:
        return len(self.number)

    def converted_by(self, horizon: float) -> np.ndarray:
        return self.converted & (self.end <= horizon)

    def disqualified_by(self, horizon: float) -> np.ndarray:
        return ~self.converted & (self.end <= horizon)


def lead_logit(
    source: np.ndarray,
    size: np.ndarray,
    industry: np.ndarray,
    engagement: np.ndarray,
    latency: np.ndarray,
    activated: np.ndarray,
    skill: np.ndarray,
    effects: LeadEffects = PLANTED,
) -> np.ndarray:
    return (
        effects.base
        + effects.source[source]
        + effects.size[size]
        + INDUSTRY_FIT_LOGIT[industry]
        + effects.engagement * engagement
        + LATENCY_LOGIT * np.log1p(24 * np.minimum(latency, ACTIVATION_DAYS))  # a week unanswered: gone cold
        + effects.activation * activated
        + SKILL_LOGIT * skill
    )


def segment_logit(region: np.ndarray, source: np.ndarray, industry: np.ndarray) -> np.ndarray:
    """What the segment-specific drivers (``SEGMENT_DRIVERS``) add to the planted log-odds."""
    planted = {"lead source": SOURCE_LOGIT[source], "industry fit": INDUSTRY_FIT_LOGIT[industry]}
    out = np.zeros(len(region))
    for name, (driver, factor) in SEGMENT_DRIVERS.items():
        mine = region == REGIONS.index(name)
        out[mine] += (factor - 1) * planted[driver][mine]
    return out


def segment_truth() -> dict:
    """The segment-specific drivers as ``_truth/drivers.yaml`` lists them under ``segments``."""
    return {
        "by": "region",
        "differ": {
            name: {"driver": driver, "effect_times": factor} for name, (driver, factor) in SEGMENT_DRIVERS.items()
        },
        "same": [r for r in REGIONS if r not in SEGMENT_DRIVERS],
    }


def first_response(rng: np.random.Generator, world: World, owner: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Days to the first outbound touch: log-normal around the owner's own speed, a few leads forgotten."""
    n = len(owner)
    hours = np.exp(world.reps.speed[owner] + SOURCE_LATENCY[source] + LATENCY_SIGMA * rng.standard_normal(n))
    forgotten = rng.random(n) < sigmoid(FORGOTTEN_BASE - 0.6 * world.reps.skill[owner])
    return np.where(forgotten, rng.uniform(10, 45, n), np.minimum(hours / 24, 30))


def simulate_leads(
    world: World,
    rng: np.random.Generator,
    first: int,
    count: int,
    drift: Drift | None = None,
    segment_drivers: bool = False,
) -> tuple[Leads, Events]:
    """Leads ``first .. first+count-1`` of the window (in creation order) and their lead-stage activities; with
    ``drift``, those created after its date come from its source mix and convert by its effects; with
    ``segment_drivers``, some regions' drivers differ (``segment_logit``; no extra draws)."""
    preferring, drifting = rng.spawn(2)  # generators of their own: the other draws keep their values
    u = (first + np.arange(count) + rng.random(count)) / world.n_leads
    created = world.arrivals(u)
    account = world.accounts.draw(rng.random(count))
    region, industry, size = (
        world.accounts.region[account],
        world.accounts.industry[account],
        world.accounts.size[account],
    )
    source = pick(rng, SOURCE_SHARE, count)
    if drift is not None:
        source = drift.sources(drifting, created, source)
    owner = world.route(region, created, rng.random(count))
    skill = world.reps.skill_at(owner, created)
    intent = rng.standard_normal(count)
    web_visits = rng.poisson(np.exp(0.2 + 0.55 * intent + SOURCE_WEB[source]))
    downloads = rng.poisson(0.35 * np.exp(0.5 * intent))
    inbound = rng.poisson(0.2 * np.exp(0.4 * intent))
    latency = first_response(rng, world, owner, source)
    activation_odds = 0.5 + 0.5 * skill + 0.4 * intent - 0.9 * np.log1p(latency)
    activated = (rng.random(count) < sigmoid(activation_odds)) & (latency < ACTIVATION_DAYS - 1)
    engagement = np.log1p(web_visits + 2 * (downloads + inbound))
    fit = world.fit.offset(owner, industry, source)  # the owner's edge with this industry and source
    logit = lead_logit(source, size, industry, engagement, latency, activated, skill)
    if drift is not None:
        drifted = lead_logit(source, size, industry, engagement, latency, activated, skill, drift.effects)
        logit = np.where(drift.after(created), drifted, logit)
    if segment_drivers:
        logit = logit + segment_logit(region, source, industry)
    p = sigmoid(logit + fit)
    converted = rng.random(count) < p
    cleaned_up = (latency > CLEAN_UP_AFTER) & (rng.random(count) < CLEAN_UP_SHARE)  # forgotten leads cleaned up
    dropped = np.where(cleaned_up, rng.uniform(*CLEAN_UP_DAYS, count), latency + lognormal(rng, *DROP_DAYS, count))
    end = created + np.where(converted, latency + lognormal(rng, *CONVERT_DAYS, count), dropped)
    leads = Leads(
        number=first + np.arange(count),
        created=created,
        source=source,
        account=account,
        region=region,
        industry=industry,
        size=size,
        owner=owner,
        intent=intent,
        latency=latency,
        activated=activated,
        p=p,
        converted=converted,
        end=end,
        web_visits=web_visits,
        downloads=downloads,
        inbound=inbound,
        preferred=np.where(preferring.random(count) < PREFERRED_SHARE, owner, -1),
    )
    return leads, place(world, lead_events(rng, leads), leads.number, owner)


def lead_events(rng: np.random.Generator, leads: Leads) -> Events:
    """Web behaviour, inbound contacts and the reps' touches, all before the lead converts or is dropped.

    The first outbound row is the first response; activated leads get two or more effective interactions
    (answered calls, visits, meetings) within 7 days, the others at most that first one (and leads first
    answered after the week nothing more in it).
    """
    created, end = leads.created, leads.end
    touched = np.flatnonzero(leads.latency < end - created)
    first = created + leads.latency
    week = np.minimum(created + ACTIVATION_DAYS, end)
    activated = np.flatnonzero(leads.activated)  # activation needs a touch within 6 days: all are touched
    idle = np.setdiff1d(touched, activated)
    after_week = np.maximum(first, created + ACTIVATION_DAYS)
    groups = [
        _web(rng, leads),
        events(
            rng,
            touched,
            False,
            first[touched],
            kinds(rng, FIRST_TOUCH, len(touched)),
            OUTBOUND,
            note=notes(rng, "lead", len(touched), 0.5),
        ),
        _touches(rng, activated, first, week, 2 + rng.poisson(0.6, len(activated)), EFFECTIVE_TOUCH, answered=1.0),
        _touches(rng, idle, first, week, rng.poisson(0.8, len(idle)) * (first < week)[idle], INEFFECTIVE_TOUCH),
        _touches(
            rng,
            touched,
            after_week,
            end,
            rng.poisson(FOLLOW_UP_RATE * np.maximum(end - after_week, 0)[touched]),
            FOLLOW_UP,
        ),
    ]
    return Events.concat(groups)


FIRST_TOUCH = {"call": 0.6, "message": 0.25, "email": 0.15}
EFFECTIVE_TOUCH = {"call": 0.7, "visit": 0.15, "meeting": 0.15}
INEFFECTIVE_TOUCH = {"email": 0.4, "message": 0.6}
FOLLOW_UP = {"call": 0.5, "message": 0.2, "email": 0.2, "visit": 0.1}


def _touches(
    rng: np.random.Generator,
    rows: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    counts: np.ndarray,
    mix: dict[str, float],
    answered: float = 0.67,
) -> Events:
    """Outbound rep touches on ``rows``: ``counts`` of them between ``lo`` and ``hi``."""
    at, t = spread(rng, lo[rows], hi[rows], counts)
    n = len(at)
    return events(rng, rows[at], False, t, kinds(rng, mix, n), OUTBOUND, note=_rep_notes(rng, n), answered=answered)


def _rep_notes(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.4, notes(rng, "lead", n), notes(rng, "vague", n, 0.3)).astype(np.int16)


def _researching(rng: np.random.Generator, leads: Leads, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``counts`` events uniform over the lead's research window, those after the lead ends dropped.

    A fixed window (not one that ends with the lead) keeps the rate of events seen so far free of any hint of
    when, or how, the lead will end.
    """
    row, t = spread(rng, leads.created, leads.created + ENGAGEMENT_DAYS, counts)
    keep = t < leads.end[row]
    return row[keep], t[keep]


def _web(rng: np.random.Generator, leads: Leads) -> Events:
    """The form that created web-form leads, page visits, downloads and inbound calls or messages."""
    forms = np.flatnonzero(leads.source == SOURCES.index("web_form"))
    visit_row, visit_t = _researching(rng, leads, leads.web_visits)
    download_row, download_t = _researching(rng, leads, leads.downloads)
    inbound_row, inbound_t = _researching(rng, leads, leads.inbound)
    n_in = len(inbound_row)
    return Events.concat(
        [
            events(rng, forms, False, leads.created[forms], TYPE["form"], INBOUND),
            events(rng, visit_row, False, visit_t, TYPE["web_visit"], INBOUND),
            events(
                rng,
                download_row,
                False,
                download_t,
                TYPE["download"],
                INBOUND,
                note=notes(rng, "download", len(download_row)),
            ),
            events(
                rng,
                inbound_row,
                False,
                inbound_t,
                kinds(rng, {"call": 0.5, "message": 0.5}, n_in),
                INBOUND,
                note=notes(rng, "lead", n_in, 0.3),
            ),
        ]
    )
