"""Opportunities: the funnel a converted lead walks through, what shows along the way, and the outcome.

When a deal is created its whole course is planned (stage dwell, decision-chain meetings, POC, quote and
contract rounds, notes); the true win probability follows from that plan and unobserved budget and
urgency, and the outcome is drawn from it. A lost deal then drops out at some stage, so only the part of
the plan before that moment ever shows in the tables, and nothing at all after the close.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from features.crm.schema import DEFAULT_STAGES
from features.synth.draw import lognormal, pick, pick_rows, ranks, sigmoid, spread
from features.synth.events import INBOUND, OUTBOUND, ROLE, TYPE, Events, events, kinds, notes, place
from features.synth.leads import Leads
from features.synth.world import Accounts, World

STAGES = tuple(s.name for s in DEFAULT_STAGES)
#: Field dwell medians: first contact 3-5 days, needs 7-10, proposal 5-8, negotiation 10-15, signing 2-3.
STAGE_DAYS = np.array([4.0, 8.5, 6.5, 12.5, 2.5])
STAGE_SIGMA = 0.35
STAGE_RATE = np.array([0.6, 0.45, 0.4, 0.35, 0.8])  # everyday rep activities per day in each stage
STAGE_MIX = (
    {"call": 0.45, "message": 0.25, "email": 0.2, "visit": 0.1},
    {"meeting": 0.3, "visit": 0.25, "call": 0.25, "message": 0.1, "email": 0.1},
    {"demo": 0.35, "meeting": 0.25, "call": 0.2, "email": 0.1, "document": 0.1},
    {"call": 0.35, "meeting": 0.2, "email": 0.2, "message": 0.15, "document": 0.1},
    {"call": 0.3, "meeting": 0.25, "email": 0.2, "document": 0.25},
)
LOST_EXIT = np.array([0.12, 0.28, 0.27, 0.22, 0.11])  # the stage in which lost deals drop out
LOST_SILENCE_DAYS = 14.0  # a lost deal goes quiet this long (median) before the rep marks it lost
QUARTER_PULL_DAYS = 25.0  # won deals due this early in a quarter ...
QUARTER_PULL_SHARE = 0.6  # ... are often pushed to sign before the previous quarter ends

PRODUCTS = (
    "VMC-850 machining centre",
    "RA-6 industrial robot",
    "Equipment service contract",
    "UX-9 ultrasound system",
    "PM-12 patient monitors",
    "Medical consumables contract",
    "SalesCloud CRM (annual)",
    "DataHub platform (annual)",
    "Smart classroom kit",
    "EduLearn LMS licence",
)
# CNY per deal. Long contracts (service, consumables, annual licences) are sold for several years at once, so the
# book spans about 3x, and a rep's ordinary deals rarely break the field's 5x-the-3-month-average review rule.
PRODUCT_PRICE = np.array([420e3, 300e3, 130e3, 360e3, 240e3, 150e3, 170e3, 280e3, 220e3, 150e3])
POC_SHARE = np.array([0.25, 0.45, 0.05, 0.3, 0.3, 0.05, 0.45, 0.6, 0.3, 0.35])
PRODUCT_MIX = np.array(  # rows: world.INDUSTRIES, columns: PRODUCTS
    [
        [0.35, 0.3, 0.2, 0, 0, 0, 0.1, 0.05, 0, 0],
        [0, 0, 0, 0.35, 0.35, 0.2, 0.05, 0.05, 0, 0],
        [0, 0, 0, 0, 0, 0, 0.55, 0.45, 0, 0],
        [0, 0, 0, 0, 0, 0, 0.1, 0.05, 0.45, 0.4],
        [0, 0, 0, 0, 0, 0, 0.65, 0.35, 0, 0],
        [0, 0.25, 0.15, 0, 0, 0, 0.35, 0.25, 0, 0],
        [0, 0, 0, 0, 0, 0, 0.5, 0.5, 0, 0],
        [0.2, 0.2, 0.3, 0, 0, 0, 0, 0.3, 0, 0],
    ]
)
SIZE_AMOUNT = np.array([0.72, 0.94, 1.2, 1.6])
AMOUNT_SIGMA = 0.3
CURRENCY = "CNY"
TECH_INDUSTRIES = np.array([True, False, True, False, False, False, False, False])  # CTOs join more sessions
DISCOUNT_BASE = 8.0  # percent
POC_DAYS = 21.0

# Planted effects on the win log-odds (truth.py lists them as drivers).
DEAL_BASE = -2.75
SKILL_WIN = 0.3
COVERAGE_WIN = 0.3  # per senior role met: ceo, cto, procurement, finance
CTO_WIN = 0.2  # per CTO session, up to 4
POC_WIN = 0.3
POC_LENGTH_WIN = -0.9  # per log(POC days / 21)
QUOTE_ROUND_WIN = -0.25  # per quote round beyond the first
CONTRACT_ROUND_WIN = -0.2  # per contract revision beyond the first
NEEDS_DWELL_WIN = -0.7  # per log(needs-confirmation days / 8.5)
STALL_WIN = -0.5
REGRESSION_WIN = -0.3
DISCOUNT_WIN = 0.04  # per discount point
BUDGET_NOTE_WIN = 0.6
COMPETITOR_WIN = -0.5
PRICE_COMPARISON_WIN = -0.6
MONTH_WIN = np.array([0, -0.35, 0.15, 0, 0, 0.15, 0, 0, 0.15, 0, 0, 0.3])  # by month created: quarter ends, Dec
BUDGET_WIN = 0.5  # unobserved true budget
URGENCY_WIN = 0.4  # unobserved urgency
INTENT_WIN = 0.3  # the lead's unobserved buyer intent
NOISE_WIN = 0.3


@dataclass(frozen=True)
class Plan:
    """What a deal would go through if it ran its full course, drawn when it is created."""

    skill: np.ndarray
    intent: np.ndarray
    budget: np.ndarray
    urgency: np.ndarray
    ceo: np.ndarray
    procurement: np.ndarray
    finance: np.ndarray
    cto_sessions: np.ndarray
    poc_days: np.ndarray  # 0: no POC
    quote_rounds: np.ndarray
    contract_rounds: np.ndarray
    dwell: np.ndarray  # (n, 5) days in each stage, stall excluded
    stall_stage: np.ndarray  # -1: never stalls
    stall_days: np.ndarray
    regression_stage: np.ndarray  # -1: never goes back; else goes back from this stage and returns
    budget_note: np.ndarray
    competitor: np.ndarray
    price_comparison: np.ndarray
    discount: np.ndarray  # percent

    @property
    def coverage(self) -> np.ndarray:
        return self.ceo.astype(int) + self.procurement + self.finance + (self.cto_sessions > 0)


@dataclass(frozen=True)
class Timeline:
    """A deal's clock: plan times on an active clock that skips the stall, mapped to days since start."""

    created: np.ndarray
    entry: np.ndarray  # (n, 6) active-clock entry into each stage; column 5 is the planned signing
    end: np.ndarray  # active-clock close: signing for won deals, the drop-out for lost ones
    stall_at: np.ndarray  # active-clock moment the deal stalls (inf: never)
    stall_days: np.ndarray
    scale: np.ndarray  # below 1 where the deal was pulled in to sign by quarter end
    silence: np.ndarray  # days a lost deal stays quiet after dropping out before it is marked lost

    def at(self, row: np.ndarray, active: np.ndarray) -> np.ndarray:
        stalled = self.stall_days[row] * (active > self.stall_at[row])
        return self.created[row] + self.scale[row] * (active + stalled)

    @property
    def close(self) -> np.ndarray:
        return self.at(np.arange(len(self.end)), self.end) + self.silence


@dataclass(frozen=True)
class Deals:
    """One chunk's opportunities (one per lead converted by the export)."""

    number: np.ndarray
    account: np.ndarray
    created: np.ndarray
    owner: np.ndarray
    product: np.ndarray
    amount: np.ndarray
    discount: np.ndarray
    p: np.ndarray
    won: np.ndarray  # drawn, even when the close is after the export
    close: np.ndarray  # true close, even when after the export
    won_at: np.ndarray  # when the deal signs if it is won (for lost deals: had it been won), for the oracle
    expected_close: np.ndarray  # entered at creation, never updated

    def __len__(self) -> int:
        return len(self.number)


@dataclass(frozen=True)
class StageChanges:
    row: np.ndarray  # deal row in the chunk
    stage: np.ndarray  # code into STAGES
    at: np.ndarray


def draw_plan(
    rng: np.random.Generator,
    skill: np.ndarray,
    intent: np.ndarray,
    industry: np.ndarray,
    size: np.ndarray,
    product: np.ndarray,
) -> Plan:
    """Decision chain, POC, rounds, dwell, stalls and notes: better-funded deals meet more senior people."""
    n = len(skill)
    budget = 0.5 * intent + np.sqrt(0.75) * rng.standard_normal(n)
    urgency = rng.standard_normal(n)
    large = size >= 2
    competitor = rng.random(n) < 0.3
    price_comparison = rng.random(n) < sigmoid(-1.6 + 1.2 * competitor - 0.5 * budget)
    dwell = STAGE_DAYS * lognormal(rng, 1.0, STAGE_SIGMA, (n, 5)) * np.exp(-0.1 * skill)[:, None]
    dwell[:, 1] *= np.exp(-0.25 * urgency)
    poc_days = np.where(rng.random(n) < POC_SHARE[product], lognormal(rng, POC_DAYS, 0.55, n), 0.0)
    quote_rounds = 1 + rng.poisson(0.5 + 0.8 * price_comparison + 0.4 * competitor)
    contract_rounds = 1 + rng.poisson(0.6 + 0.4 * large)
    dwell[:, 2] += poc_days
    dwell[:, 3] += 3.0 * (quote_rounds - 1)
    dwell[:, 4] += 1.5 * (contract_rounds - 1)
    return Plan(
        skill=skill,
        intent=intent,
        budget=budget,
        urgency=urgency,
        ceo=rng.random(n) < sigmoid(-1.0 + 0.5 * skill + 0.4 * budget + 0.5 * (size == 3)),
        procurement=rng.random(n) < sigmoid(0.3 * skill + 0.3 * budget),
        finance=rng.random(n) < sigmoid(-0.8 + 0.3 * skill + 0.4 * budget),
        cto_sessions=np.minimum(
            rng.poisson(np.exp(-0.3 + 0.4 * skill + 0.3 * urgency + 0.3 * TECH_INDUSTRIES[industry])), 6
        ),
        poc_days=poc_days,
        quote_rounds=quote_rounds,
        contract_rounds=contract_rounds,
        dwell=dwell,
        stall_stage=np.where(rng.random(n) < 0.15 + 0.1 * price_comparison, rng.integers(1, 4, n), -1),
        stall_days=lognormal(rng, 30.0, 0.5, n),
        regression_stage=np.where(rng.random(n) < 0.08 + 0.07 * competitor, rng.integers(2, 5, n), -1),
        budget_note=rng.random(n) < sigmoid(-1.0 + budget),
        competitor=competitor,
        price_comparison=price_comparison,
        discount=np.clip(
            np.round(2 * (DISCOUNT_BASE + 5 * rng.standard_normal(n) + 4 * competitor + 3 * large)) / 2, 0, 30
        ),
    )


def deal_logit(plan: Plan, month: np.ndarray) -> np.ndarray:
    poc = plan.poc_days > 0
    poc_effect = np.where(poc, POC_WIN + POC_LENGTH_WIN * np.log(np.where(poc, plan.poc_days, POC_DAYS) / POC_DAYS), 0)
    return (
        DEAL_BASE
        + SKILL_WIN * plan.skill
        + COVERAGE_WIN * plan.coverage
        + CTO_WIN * np.minimum(plan.cto_sessions, 4)
        + poc_effect
        + QUOTE_ROUND_WIN * (plan.quote_rounds - 1)
        + CONTRACT_ROUND_WIN * (plan.contract_rounds - 1)
        + NEEDS_DWELL_WIN * np.log(plan.dwell[:, 1] / STAGE_DAYS[1])
        + STALL_WIN * (plan.stall_stage >= 0)
        + REGRESSION_WIN * (plan.regression_stage >= 0)
        + DISCOUNT_WIN * plan.discount
        + BUDGET_NOTE_WIN * plan.budget_note
        + COMPETITOR_WIN * plan.competitor
        + PRICE_COMPARISON_WIN * plan.price_comparison
        + MONTH_WIN[month]
        + BUDGET_WIN * plan.budget
        + URGENCY_WIN * plan.urgency
        + INTENT_WIN * plan.intent
    )


def simulate_deals(world: World, rng: np.random.Generator, leads: Leads) -> tuple[Deals, StageChanges, Events]:
    """Opportunities for the chunk's leads converted by the export, their stage changes and activities."""
    rows = np.flatnonzero(leads.converted_by(world.horizon))
    n = len(rows)
    created = leads.end[rows]
    owner = world.reps.at(leads.owner[rows], created)
    industry, size = leads.industry[rows], leads.size[rows]
    product = pick_rows(rng, PRODUCT_MIX[industry])
    plan = draw_plan(rng, world.reps.skill_at(owner, created), leads.intent[rows], industry, size, product)
    list_price = PRODUCT_PRICE[product] * SIZE_AMOUNT[size] * lognormal(rng, 1.0, AMOUNT_SIGMA, n)
    p = sigmoid(deal_logit(plan, world.month_of_year(created)) + NOISE_WIN * rng.standard_normal(n))
    won = rng.random(n) < p
    timeline = make_timeline(rng, world, plan, created, won)
    deals = Deals(
        number=leads.number[rows],
        account=leads.account[rows],
        created=created,
        owner=owner,
        product=product,
        amount=np.round(list_price * (1 - plan.discount / 100), -2),
        discount=plan.discount,
        p=p,
        won=won,
        close=timeline.close,
        won_at=np.where(won, timeline.close, timeline.at(np.arange(n), timeline.entry[:, 5])),
        expected_close=expected_close(rng, world, timeline),
    )
    ev = deal_events(rng, plan, timeline)
    ev = ev.take(np.flatnonzero(ev.occurred < timeline.end[ev.row]))
    ev = replace(ev, occurred=timeline.at(ev.row, ev.occurred))
    ev = ev.take(np.flatnonzero(ev.occurred <= world.horizon))
    return deals, stage_changes(world, plan, timeline), place(world, ev, deals.number, owner)


def make_timeline(rng: np.random.Generator, world: World, plan: Plan, created: np.ndarray, won: np.ndarray) -> Timeline:
    """Won deals sign at the end of the contract stage; lost ones drop out part-way through a stage, go quiet
    and are marked lost some days later."""
    n = len(created)
    rows = np.arange(n)
    entry = np.concatenate([np.zeros((n, 1)), np.cumsum(plan.dwell, axis=1)], axis=1)
    exit_stage = pick(rng, LOST_EXIT, n)
    done = rounds_done(plan, entry)[rows, exit_stage]
    dropout = done + rng.uniform(0.15, 1.0, n) * (entry[rows, exit_stage + 1] - done)
    stall_stage = np.maximum(plan.stall_stage, 0)
    stall_at = entry[rows, stall_stage] + rng.uniform(0.2, 0.8, n) * plan.dwell[rows, stall_stage]
    natural = Timeline(
        created=created,
        entry=entry,
        end=np.where(won, entry[:, 5], dropout),
        stall_at=np.where(plan.stall_stage >= 0, stall_at, np.inf),
        stall_days=np.where(plan.stall_stage >= 0, plan.stall_days, 0.0),
        scale=np.ones(n),
        silence=np.where(won, 0.0, lognormal(rng, LOST_SILENCE_DAYS, 0.6, n)),
    )
    return replace(natural, scale=quarter_end_pull(rng, world, natural.close, created, won))


def rounds_done(plan: Plan, entry: np.ndarray) -> np.ndarray:
    """(n, 5): when each stage's POC, quote or contract rounds are over at the latest.

    Lost deals drop out of a stage only after that, so the rounds and POC length the win probability
    was drawn from all show before the outcome (a lost deal would otherwise just show fewer of them).
    """
    done = entry[:, :5].copy()
    before_poc = plan.dwell[:, 2] - plan.poc_days
    done[:, 2] += np.where(plan.poc_days > 0, POC_START[1] * before_poc + plan.poc_days, 0.0)
    done[:, 3] += plan.dwell[:, 3] * (plan.quote_rounds - 1 + ROUND_SLOT[1]) / plan.quote_rounds
    done[:, 4] += plan.dwell[:, 4] * (plan.contract_rounds - 1 + ROUND_SLOT[1]) / plan.contract_rounds
    return done


def quarter_end_pull(
    rng: np.random.Generator, world: World, close: np.ndarray, created: np.ndarray, won: np.ndarray
) -> np.ndarray:
    """Time scale that moves won deals due early in a quarter to the last days of the quarter before."""
    n = len(close)
    quarter = world.quarter_start(close)
    scale = (quarter - rng.uniform(0.3, 8, n) - created) / (close - created)
    pull = won & (close - quarter < QUARTER_PULL_DAYS) & (rng.random(n) < QUARTER_PULL_SHARE) & (scale >= 0.6)
    return np.where(pull, scale, 1.0)


def expected_close(rng: np.random.Generator, world: World, timeline: Timeline) -> np.ndarray:
    """An optimistic month-end guess made at creation and kept as entered.

    The value never moves afterwards, so reading it at any cutoff reveals nothing of the future; slips show as
    cutoffs passing it while the deal is still open.
    """
    n = len(timeline.created)
    won_path = timeline.at(np.arange(n), timeline.entry[:, 5]) - timeline.created
    return world.month_end(timeline.created + won_path * lognormal(rng, 0.8, 0.3, n))


def stage_changes(world: World, plan: Plan, timeline: Timeline) -> StageChanges:
    """Entries into each stage reached, plus planted regressions: back one stage and forward again."""
    n = len(timeline.created)
    back = np.flatnonzero(plan.regression_stage >= 0)
    stage = plan.regression_stage[back]
    entered, dwell = timeline.entry[back, stage], plan.dwell[back, stage]
    row = np.concatenate([np.repeat(np.arange(n), 5), back, back])
    code = np.concatenate([np.tile(np.arange(5), n), stage - 1, stage])
    active = np.concatenate([timeline.entry[:, :5].ravel(), entered + 0.35 * dwell, entered + 0.65 * dwell])
    keep = active < timeline.end[row]
    at = timeline.at(row[keep], active[keep])
    keep_at = at <= world.horizon
    order = np.lexsort((at[keep_at], row[keep][keep_at]))
    return StageChanges(row=row[keep][keep_at][order], stage=code[keep][keep_at][order], at=at[keep_at][order])


SENIOR_WINDOWS = {"ceo": (1, 3), "procurement": (2, 4), "finance": (3, 5)}  # stages in which each is met
KEYWORD_NOTES = {"budget_note": "budget", "competitor": "competitor", "price_comparison": "price"}
KEYWORD_LIFE = (0.05, 0.85)  # share of a deal's active life in which its keyword notes fall
ROUND_SLOT = (0.1, 0.9)  # where in its share of the stage each quote or contract round falls
POC_START = (0.1, 0.5)  # share of the demo stage (POC excluded) that passes before the POC starts
KEYWORD_MIX = {"meeting": 0.4, "call": 0.4, "message": 0.2}


def deal_events(rng: np.random.Generator, plan: Plan, timeline: Timeline) -> Events:
    """Every planned activity on the active clock; the caller cuts them at the close and the export."""
    entry, dwell = timeline.entry, plan.dwell
    groups = [
        _everyday(rng, *spread(rng, entry[:, k], entry[:, k + 1], rng.poisson(STAGE_RATE[k] * dwell[:, k])), mix)
        for k, mix in enumerate(STAGE_MIX)
    ]
    for role, (a, b) in SENIOR_WINDOWS.items():
        row, t = spread(rng, entry[:, a], entry[:, b], getattr(plan, role).astype(int))
        groups.append(_meetings(rng, row, t, {"meeting": 0.6, "visit": 0.4}, ROLE[role], "deal"))
    row, t = spread(rng, entry[:, 1], entry[:, 3], plan.cto_sessions)
    groups.append(_meetings(rng, row, t, {"demo": 0.6, "meeting": 0.4}, ROLE["cto"], "deal"))
    life = (KEYWORD_LIFE[0] * timeline.end, KEYWORD_LIFE[1] * timeline.end)  # shows whatever the outcome
    keywords = {
        group: getattr(plan, flag) * (1 + rng.poisson(0.3, len(dwell))) for flag, group in KEYWORD_NOTES.items()
    }
    keywords["project"] = rng.poisson(0.6, len(dwell))
    for group, counts in keywords.items():
        groups.append(_meetings(rng, *spread(rng, *life, counts), KEYWORD_MIX, ROLE["other"], group))
    groups += _poc(rng, plan, entry)
    quote_row, quote_t = _rounds(rng, entry[:, 3], dwell[:, 3], plan.quote_rounds)
    quote_role = np.where(plan.procurement[quote_row], ROLE["procurement"], ROLE["other"])
    groups.append(
        events(
            rng,
            quote_row,
            True,
            quote_t,
            TYPE["quote_sent"],
            OUTBOUND,
            quote_role,
            notes(rng, "quote", len(quote_row), 0.7),
        )
    )
    contract_row, contract_t = _rounds(rng, entry[:, 4], dwell[:, 4], plan.contract_rounds)
    contract_role = np.array([ROLE["procurement"], ROLE["finance"], ROLE["other"]])[
        pick(rng, np.array([0.4, 0.3, 0.3]), len(contract_row))
    ]
    groups.append(
        events(
            rng,
            contract_row,
            True,
            contract_t,
            TYPE["contract_revision"],
            OUTBOUND,
            contract_role,
            notes(rng, "contract", len(contract_row), 0.7),
        )
    )
    return Events.concat(groups)


def _everyday(rng: np.random.Generator, row: np.ndarray, t: np.ndarray, mix: dict[str, float]) -> Events:
    """Calls, messages, meetings with engineers and others; a few calls and messages come in."""
    n = len(row)
    kind = kinds(rng, mix, n)
    two_way = np.isin(kind, [TYPE["call"], TYPE["message"], TYPE["email"]])
    direction = np.where(two_way & (rng.random(n) < 0.15), INBOUND, OUTBOUND)
    role = np.array([ROLE["engineer"], ROLE["other"], -1])[pick(rng, np.array([0.45, 0.45, 0.1]), n)]
    r = rng.random(n)
    note = np.where(r < 0.45, notes(rng, "deal", n), np.where(r < 0.6, notes(rng, "vague", n), -1))
    return events(rng, row, True, t, kind, direction, role, note)


def _meetings(
    rng: np.random.Generator, row: np.ndarray, t: np.ndarray, mix: dict[str, float], role: int, note_group: str
) -> Events:
    n = len(row)
    return events(rng, row, True, t, kinds(rng, mix, n), OUTBOUND, role, notes(rng, note_group, n, 0.8))


def _poc(rng: np.random.Generator, plan: Plan, entry: np.ndarray) -> list[Events]:
    """POC start and end inside the demo stage, which the plan has lengthened by the POC."""
    rows = np.flatnonzero(plan.poc_days > 0)
    before = plan.dwell[rows, 2] - plan.poc_days[rows]
    start = entry[rows, 2] + rng.uniform(*POC_START, len(rows)) * before
    return [
        events(
            rng, rows, True, start, TYPE["poc_start"], OUTBOUND, ROLE["engineer"], notes(rng, "poc_start", len(rows))
        ),
        events(
            rng,
            rows,
            True,
            start + plan.poc_days[rows],
            TYPE["poc_end"],
            OUTBOUND,
            ROLE["engineer"],
            notes(rng, "poc_end", len(rows)),
        ),
    ]


def _rounds(
    rng: np.random.Generator, entered: np.ndarray, dwell: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Repeated rounds (quotes, contract revisions) spaced through a stage, in order."""
    row = np.repeat(np.arange(len(counts)), counts)
    slot = (ranks(counts) + rng.uniform(*ROUND_SLOT, len(row))) / counts[row]
    return row, entered[row] + slot * dwell[row]


def expected_deal_value(accounts: Accounts) -> float:
    """Mean deal amount implied by the product mix, company sizes and discounts: the planners' figure."""
    leads = np.diff(accounts.popularity, prepend=0.0)
    price = (PRODUCT_MIX / PRODUCT_MIX.sum(axis=1, keepdims=True)) @ PRODUCT_PRICE
    value = price[accounts.industry] * SIZE_AMOUNT[accounts.size] * np.exp(AMOUNT_SIGMA**2 / 2)
    return float((leads * value).sum() / leads.sum() * (1 - DISCOUNT_BASE / 100))
