"""Lead routing: which rep gets a lead, by the field's hard rules and by the lead-score model, with the basis.

The first rule that applies decides (``Routing.rule``):

1. ``failed_routings``: after ``MAX_FAILED_ROUTINGS`` (3) failed routings a person decides (manual);
2. ``preferred_rep``: the rep the customer chose, when eligible;
3. ``account_owner``: the rep who owns the account (the owner of its latest lead or deal known at as_of), when
   eligible: an account stays with its rep;
4. ``no_eligible_rep``: nobody qualifies, so a person routes it (manual) rather than a guess;
5. ``model``: the lead scored once per eligible rep as its owner (``features.pit.build`` with the owner overridden, the
   lead-score model), region match first, then by probability; a rep whose open-lead load is at or above the load
   cap is skipped; ``load_cap``: every eligible rep is at the cap (manual).

Eligible: a rep in the reps table, hired by as_of, not left by then (left_at), not marked inactive (reps.active;
HR status is often stale, so both are checked), and among the candidates the caller named (if any). The field's
rule is ranked beside it as the baseline: region match first, then the customers the rep won in the last 90 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc_scalar
from features.messages import Locale, text
from features.pit.build import build_features
from features.pit.timeline import DAY_NS, NAT, column, times

MANUAL = "manual"
MAX_FAILED_ROUTINGS = 3
WIN_WINDOW_DAYS = 90  # the field's "customers won in the last 3 months"
LOAD_CAP_FACTOR = 1.5  # default cap: this many times the median open-lead load among the eligible reps
LOAD_CAP_MIN = 5.0  # ... but never below this many open leads (a quiet team's median can be 0)
LOAD_FEATURE = "rep_open_leads_n"
#: The two rankings as sort keys (column: ascending): the model's puts capped reps last, the field rule breaks ties
#: of customers won by the lighter load; both end on the rep id so that ties always break the same way.
MODEL_ORDER = {"at_cap": True, "region_match": False, "probability": False, "rep_id": True}
RULE_ORDER = {"region_match": False, "won_customers_90d": False, "open_leads": True, "rep_id": True}

#: The rule figures the reasons quote.
REASON_FIGURES = {"max": MAX_FAILED_ROUTINGS, "days": WIN_WINDOW_DAYS}


def say(locale: Locale, key: str, **values: object) -> str:
    """A reason or note in the locale's words, its fields filled in."""
    return text(f"routing.reason.{key}", locale, **REASON_FIGURES, **values)


class ProbabilityModel(Protocol):
    """What routing needs of a model: probabilities for a feature table (``features.scoring.scorer.Scorer`` is one)."""

    def predict(self, table: pd.DataFrame) -> pd.DataFrame: ...


@dataclass(frozen=True)
class LeadToRoute:
    """A lead in the dataset to route as of a time, with what the caller knows beyond the CRM."""

    lead_id: str
    as_of: pd.Timestamp
    preferred_rep_id: str | None = None
    failed_routings: int = 0
    candidates: tuple[str, ...] | None = None  # only these reps (None: every rep)


@dataclass
class Candidate:
    """An eligible rep, ranked by the model and by the field's rule."""

    rep_id: str
    region: str | None
    region_match: bool
    won_customers_90d: int
    open_leads: float
    probability: float
    rule_rank: int
    model_rank: int | None  # None: skipped at the load cap
    reasons: list[str] = field(default_factory=list)


@dataclass
class Excluded:
    rep_id: str
    reason: str  # left, inactive, not_hired, unknown_rep
    detail: str


@dataclass
class Routing:
    """The decision (a rep id or ``manual``), the rule that made it, its basis, and everything ranked or excluded."""

    lead_id: str
    as_of: pd.Timestamp
    decision: str
    rule: str
    basis: str
    candidates: list[Candidate]
    excluded: list[Excluded]
    load_cap: float | None
    notes: list[str]


def eligible_reps(
    ds: Dataset, as_of: pd.Timestamp, candidates: Sequence[str] | None, locale: Locale
) -> tuple[pd.DataFrame, list[Excluded], list[str]]:
    """Reps who may get work at ``as_of`` (rep_id, region), those excluded with why, and notes on what was not
    checked. Reps outside ``candidates`` are not considered at all; named candidates unknown to the reps table are
    excluded."""
    reps = ds.get("reps")
    notes = [] if "active" in reps.columns else [say(locale, "no_active_column")]
    ids = reps["rep_id"].astype(str)
    if candidates is not None:
        named = list(dict.fromkeys(candidates))
        reps, ids = reps[ids.isin(named).to_numpy()], ids[ids.isin(named)]
        unknown = [Excluded(r, "unknown_rep", say(locale, "unknown_rep")) for r in named if r not in set(ids)]
    else:
        unknown = []
    at = as_of.value
    left_at, hired_at = times(reps, "left_at"), times(reps, "hired_at")
    left = (left_at != NAT) & (left_at <= at)
    inactive = column(reps, "active").eq(False).to_numpy(dtype=bool, na_value=False)
    not_hired = (hired_at != NAT) & (hired_at > at)
    excluded = list(unknown)
    for rep_id, was_left, left_time, off, early in zip(ids, left, left_at, inactive, not_hired, strict=True):
        if was_left:
            day = pd.Timestamp(left_time, tz="UTC").date().isoformat()
            excluded.append(Excluded(rep_id, "left", say(locale, "left", at=day)))
        elif off:
            excluded.append(Excluded(rep_id, "inactive", say(locale, "inactive")))
        elif early:
            excluded.append(Excluded(rep_id, "not_hired", say(locale, "not_hired")))
    keep = ~(left | inactive | not_hired)
    regions = column(reps, "region").astype("string")[keep]
    return pd.DataFrame({"rep_id": ids[keep].to_numpy(), "region": regions.to_numpy()}), excluded, notes


def account_owner(ds: Dataset, account_id: str | None, as_of: pd.Timestamp, lead_id: str) -> str | None:
    """Who owns the account at ``as_of``: the owner of its latest lead or deal created by then (not this lead)."""
    if account_id is None:
        return None
    rows = []
    for table in ("leads", "opportunities"):
        df = ds.get(table)
        mine = (
            column(df, "account_id").eq(account_id).to_numpy(dtype=bool, na_value=False)
            & column(df, "owner_rep_id").notna().to_numpy()
            & (times(df, "created_at") <= as_of.value)
        )
        if table == "leads":
            mine &= column(df, "lead_id").ne(lead_id).to_numpy(dtype=bool, na_value=True)
        rows.append(pd.DataFrame({"at": times(df, "created_at")[mine], "rep": column(df, "owner_rep_id")[mine]}))
    owned = pd.concat(rows, ignore_index=True)
    return None if owned.empty else str(owned.sort_values("at", kind="stable")["rep"].iloc[-1])


def won_deals(ds: Dataset) -> pd.DataFrame:
    """Won deals: rep, customer (the account; a deal without one counts alone) and close time (int ns)."""
    deals = ds.get("opportunities")
    won = column(deals, "outcome").eq("won").to_numpy(dtype=bool, na_value=False) & (times(deals, "closed_at") != NAT)
    deals = deals[won]
    return pd.DataFrame(
        {
            "rep": column(deals, "owner_rep_id").astype("string").to_numpy(),
            "customer": column(deals, "account_id").astype("string").fillna(column(deals, "opportunity_id")),
            "closed": times(deals, "closed_at"),
        }
    )


def won_customers(won: pd.DataFrame, as_of: pd.Timestamp) -> pd.Series:
    """Per rep, the customers won (``won_deals``) in the 90 days up to ``as_of``: the field's routing weight."""
    at = as_of.value
    recent = won[(won["closed"] <= at) & (won["closed"] > at - WIN_WINDOW_DAYS * DAY_NS)]
    return recent.groupby("rep")["customer"].nunique()


def lead_history(ds: Dataset, lead_ids: Sequence[str]) -> Dataset:
    """The dataset with only these leads' activities: lead features read no other activity, so scoring the leads
    on it gives what the whole history gives, faster."""
    acts = ds.get("activities")
    own = column(acts, "entity_type").eq("lead").to_numpy(dtype=bool, na_value=False) & column(acts, "entity_id").isin(
        list(lead_ids)
    ).to_numpy(dtype=bool, na_value=False)
    tables = {name: df for name, df in ds.tables.items() if name not in ("activities", "stage_changes")}
    return Dataset(ds.manifest, {**tables, "activities": acts[own]})


def score_as_owner(ds: Dataset, model: ProbabilityModel, pairs: pd.DataFrame) -> pd.DataFrame:
    """Per (lead_id, cutoff_time, rep_id) row: the lead's probability with that rep as its owner, and the rep's
    open-lead load then (the model's own feature), built by ``features.pit.build`` as for scoring."""
    frame = pd.DataFrame(
        {"entity_id": pairs["lead_id"], "cutoff_time": pairs["cutoff_time"], "owner_rep_id": pairs["rep_id"]}
    )
    table = build_features(ds, "lead", frame)
    return pd.DataFrame(
        {
            "probability": model.predict(table)["probability"].to_numpy(),
            "open_leads": table[LOAD_FEATURE].to_numpy(dtype=float),
        },
        index=pairs.index,
    )


def load_cap(open_leads: np.ndarray, factor: float | None) -> float | None:
    """The open-lead load at which a rep is skipped: ``factor`` x the median among the eligible reps (at least
    ``LOAD_CAP_MIN``); None: no cap."""
    if factor is None or len(open_leads) == 0:
        return None
    return max(factor * float(np.nanmedian(open_leads)) if np.isfinite(open_leads).any() else 0.0, LOAD_CAP_MIN)


def rank(pool: pd.DataFrame, region: str | None, cap: float | None) -> pd.DataFrame:
    """``pool`` (rep_id, region, won_customers_90d, probability, open_leads) with region_match, rule_rank (region
    first, then customers won, then fewer open leads) and model_rank (region first, then probability; reps at
    the cap get none), ordered by the model's ranking."""
    pool = pool.assign(region_match=pool["region"].eq(region).fillna(False).astype(bool) if region else False)
    rule = ordered(pool, RULE_ORDER)
    pool["rule_rank"] = pd.Series(np.arange(1, len(rule) + 1), index=rule.index)
    pool["at_cap"] = pool["open_leads"].ge(cap).to_numpy() if cap is not None else np.zeros(len(pool), dtype=bool)
    model = ordered(pool, MODEL_ORDER)
    ranks = np.where(model["at_cap"].to_numpy(), np.nan, np.arange(1, len(model) + 1))
    return model.assign(model_rank=ranks)


def route(
    ds: Dataset,
    model: ProbabilityModel,
    lead: LeadToRoute,
    *,
    cap_factor: float | None = LOAD_CAP_FACTOR,
    locale: Locale = "zh-CN",
) -> Routing:
    """Route one lead of ``ds`` (see the module's rules); ``ds`` holds the lead with its activities."""
    as_of = to_utc_scalar(lead.as_of)
    row = ds.get("leads").set_index("lead_id").loc[lead.lead_id]
    region = None if pd.isna(row.get("region")) else str(row["region"])
    account = None if pd.isna(row.get("account_id")) else str(row["account_id"])
    eligible, excluded, notes = eligible_reps(ds, as_of, lead.candidates, locale)
    if region is None:
        notes.append(say(locale, "no_region"))
    wins = won_customers(won_deals(ds), as_of)
    pool = eligible.assign(won_customers_90d=wins.reindex(eligible["rep_id"]).fillna(0).astype(int).to_numpy())
    if len(pool):
        pairs = pd.DataFrame({"lead_id": lead.lead_id, "cutoff_time": as_of, "rep_id": pool["rep_id"]})
        pool = pool.join(score_as_owner(lead_history(ds, [lead.lead_id]), model, pairs))
    else:
        pool = pool.assign(probability=np.array([], dtype=float), open_leads=np.array([], dtype=float))
    cap = load_cap(pool["open_leads"].to_numpy(dtype=float), cap_factor)
    ranked = rank(pool, region, cap)
    candidates = [_candidate(r, cap, locale) for r in ranked.itertuples()]
    answer = Routing(lead.lead_id, as_of, MANUAL, "", "", candidates, excluded, cap, notes)
    return _decide(answer, lead, account_owner(ds, account, as_of, lead.lead_id), account, locale)


def ordered(frame: pd.DataFrame, order: dict[str, bool]) -> pd.DataFrame:
    return frame.sort_values(list(order), ascending=list(order.values()), kind="stable")


def _decide(answer: Routing, lead: LeadToRoute, owner: str | None, account: str | None, locale: Locale) -> Routing:
    """The first hard rule that applies, else the model's first choice (manual when nobody qualifies)."""
    eligible = {c.rep_id for c in answer.candidates}
    why = {e.rep_id: e.detail for e in answer.excluded}
    if lead.failed_routings >= MAX_FAILED_ROUTINGS:
        return _decided(
            answer,
            MANUAL,
            "failed_routings",
            say(locale, "failed_routings", n=lead.failed_routings),
        )
    if lead.preferred_rep_id is not None:
        if lead.preferred_rep_id in eligible:
            rep = lead.preferred_rep_id
            return _decided(answer, rep, "preferred_rep", say(locale, "preferred_rep", rep=rep))
        detail = why.get(lead.preferred_rep_id, say(locale, "unknown_rep"))
        answer.notes.append(say(locale, "preferred_ineligible", rep=lead.preferred_rep_id, why=detail))
    if owner is not None:
        if owner in eligible:
            return _decided(answer, owner, "account_owner", say(locale, "account_owner", account=account, rep=owner))
        answer.notes.append(say(locale, "owner_ineligible", rep=owner, why=why.get(owner, say(locale, "unknown_rep"))))
    if not answer.candidates:
        return _decided(answer, MANUAL, "no_eligible_rep", say(locale, "no_eligible_rep"))
    first = answer.candidates[0]
    if first.model_rank is None:
        return _decided(answer, MANUAL, "load_cap", say(locale, "load_cap"))
    return _decided(answer, first.rep_id, "model", say(locale, "model", p=first.probability))


def _decided(answer: Routing, decision: str, rule: str, basis: str) -> Routing:
    answer.decision, answer.rule, answer.basis = decision, rule, basis
    return answer


def _candidate(r: object, cap: float | None, locale: Locale) -> Candidate:
    region = None if pd.isna(r.region) else str(r.region)
    reasons = [
        say(locale, "region_match" if r.region_match else "region_other", region=region or "-"),
        say(locale, "won_customers", n=int(r.won_customers_90d)),
        say(locale, "at_cap", n=r.open_leads, cap=cap) if r.at_cap else say(locale, "open_leads", n=r.open_leads),
        say(locale, "probability", p=r.probability),
    ]
    return Candidate(
        rep_id=str(r.rep_id),
        region=region,
        region_match=bool(r.region_match),
        won_customers_90d=int(r.won_customers_90d),
        open_leads=float(r.open_leads),
        probability=float(r.probability),
        rule_rank=int(r.rule_rank),
        model_rank=None if np.isnan(r.model_rank) else int(r.model_rank),
        reasons=reasons,
    )
