"""Point-in-time feature families for lead and deal entity frames.

Each family is vectorised over all frame rows at once on ``pit.Timeline`` (sorted (entity, time) keys,
searchsorted, prefix sums, segmented running max), so a row sees only what was known at its cutoff (see
features/pit/frames.py for when each event becomes known). The time each family windows on:

- activity counts, durations, trend, notes, decision chain: activities known by the cutoff; the windows
  (cutoff - w, cutoff] are on ``known_at`` too, so a back-filled activity counts as recent when logged;
- recency, first response and POC length: the ``occurred_at`` of those known activities (when it happened);
- activation: effective interactions known within 7 days of creation (known_at <= min(cutoff, created + 7 d));
- stage: stage changes with changed_at <= cutoff;
- rep and account history: deals and leads created, closed, converted or disqualified by the cutoff;
- static attributes and seasonality: the entity's own columns (known at creation) and the calendar.

Missing tables and columns (and columns in manifest.excluded_columns) give NaN or 0, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from features.crm.dataset import STRING_DTYPE, Dataset, time_ns, to_utc
from features.crm.schema import ACTIVITY_TYPES, CONTACT_ROLES, DIRECTIONS, ENTITIES, SENIOR_ROLES
from features.pit import catalog
from features.pit.frames import frame_codes
from features.pit.history import SMOOTHING, STREAMS, Events, History, visible
from features.pit.keywords import DEFAULT_LEXICON, Lexicon, match_notes
from features.pit.timeline import DAY_NS, HOUR_NS, NAT, Subset, Timeline, column, dense_rank, flags, lookup, times

#: Effective interactions: visits, meetings, demos, and calls that lasted a minute (field practice).
EFFECTIVE_TYPES = ("visit", "meeting", "demo")
MIN_EFFECTIVE_CALL_S = 60
ACTIVATION_DAYS = 7
ACTIVATION_MIN_INTERACTIONS = 2
#: Activity types taken as inbound when the direction is missing (everything else is outbound).
INBOUND_TYPES = ("web_visit", "download", "form")
#: Typical stage dwell (days) from the field reference; other stage names get the median.
FIELD_DWELL_DAYS = {"lead": 4.0, "needs_confirmed": 8.5, "demo": 6.5, "quote": 12.5, "contract": 2.5}
DWELL_ALIASES = {"first_contact": "lead", "proposal": "demo", "negotiation": "quote", "signing": "contract"}

#: Entity attributes an entity frame may set per row in place of the entity's own (what-if rows).
OVERRIDABLE = ("owner_rep_id",)

Array = np.ndarray | pd.api.extensions.ExtensionArray
Columns = dict[str, Array]


def numeric(values: pd.Series) -> np.ndarray:
    """Values as float64: booleans 0/1, missing or unreadable NaN."""
    if isinstance(values.dtype, pd.BooleanDtype):
        values = values.astype("Float64")
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def typical_dwell_days(stage_names: Sequence[str]) -> np.ndarray:
    """Typical days in each stage, then (last, for unknown stages) the median of the field figures."""
    median = float(np.median(list(FIELD_DWELL_DAYS.values())))
    return np.array([*(FIELD_DWELL_DAYS.get(DWELL_ALIASES.get(n, n), median) for n in stage_names), median])


def _at(values: Array, rows: np.ndarray, fill: object) -> Array:
    """``values[rows]``, with ``fill`` where ``rows`` is -1 (no such row)."""
    return pd.api.extensions.take(values, rows, allow_fill=True, fill_value=fill)


def _small(codes: np.ndarray) -> np.ndarray:
    """Vocabulary codes (-1: none) as int8, so that moving them around is cheap."""
    return codes.astype(np.int8)


class _ActivityLog:
    """One entity type's activities on a ``known_at`` timeline, with their attributes in timeline order."""

    def __init__(self, acts: pd.DataFrame, entity: str, ids: pd.Series) -> None:
        codes = np.where(flags(column(acts, "entity_type"), entity), lookup(column(acts, "entity_id"), ids), -1)
        occurred = times(acts, "occurred_at")
        known = np.where(occurred == NAT, NAT, np.maximum(occurred, times(acts, "recorded_at")))
        self.tl = tl = Timeline(codes, known)
        self._times, self._rank = dense_rank(tl.take(occurred))
        kind = tl.take(_small(lookup(column(acts, "type"), pd.Series(ACTIVITY_TYPES))))
        self.type = np.where(kind < 0, ACTIVITY_TYPES.index("other"), kind)
        direction = tl.take(_small(lookup(column(acts, "direction"), pd.Series(DIRECTIONS))))
        self.inbound = np.where(direction < 0, self.is_type(*INBOUND_TYPES), direction == DIRECTIONS.index("inbound"))
        duration = tl.take(numeric(column(acts, "duration_s")))
        self.effective = self.is_type(*EFFECTIVE_TYPES) | (self.is_type("call") & (duration >= MIN_EFFECTIVE_CALL_S))
        self.duration_s = np.where(np.isnan(duration), 0, np.rint(duration)).astype(np.int64)  # whole s: exact sums
        self.role = tl.take(_small(lookup(column(acts, "contact_role"), pd.Series(CONTACT_ROLES))))
        self.notes = column(acts, "note")

    def is_type(self, *names: str) -> np.ndarray:
        """Whether each activity (in timeline order) has one of these types."""
        wanted = np.zeros(len(ACTIVITY_TYPES), dtype=bool)
        wanted[[ACTIVITY_TYPES.index(name) for name in names]] = True
        return wanted[self.type]

    def subset(self, mask: np.ndarray) -> Subset:
        return Subset(self.tl, mask)

    def subjects(self) -> Iterator[tuple[str, Subset]]:
        """The subsets named in ``catalog.ACTIVITY_SUBJECTS``."""
        yield "all", self.subset(np.ones(len(self.tl), dtype=bool))
        yield "inbound", self.subset(self.inbound)
        yield "outbound", self.subset(~self.inbound)
        for name in ACTIVITY_TYPES:
            yield name, self.subset(self.is_type(name))

    def latest(self, subset: Subset, start: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Per query, the latest occurred_at among its visible activities in ``subset`` (NAT: none)."""
        return _at(self._times, subset.latest(self._rank, start, pos), NAT)

    def earliest(self, subset: Subset, start: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Per query, the earliest occurred_at among its visible activities in ``subset`` (NAT: none)."""
        top = len(self._times) - 1
        flipped = subset.latest(top - self._rank, start, pos)
        return _at(self._times, np.where(flipped >= 0, top - flipped, -1), NAT)


@dataclass
class _Rows:
    """The frame rows being featurised, sorted by (entity, cutoff) so that look-ups run in order."""

    ds: Dataset
    entity: str
    codes: np.ndarray
    cutoffs: np.ndarray
    lexicon: Lexicon
    history: History
    overrides: dict[str, pd.Series] = field(default_factory=dict)  # per row, values in place of the entity's own
    _tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    _since: dict[int, np.ndarray] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        """A dataset table without the columns features must not read (``history.visible``)."""
        if name not in self._tables:
            self._tables[name] = visible(self.ds, name)
        return self._tables[name]

    @property
    def entities(self) -> pd.DataFrame:
        return self.table(ENTITIES[self.entity][0])

    def attr(self, name: str) -> pd.Series:
        """The entity's own attribute, per row; where the frame overrides it (a what-if row), the frame's value."""
        own = self._own(name)
        return self.overrides[name].fillna(own) if name in self.overrides else own

    def _own(self, name: str) -> pd.Series:
        return column(self.entities, name).take(self.codes).reset_index(drop=True)

    def hidden_attr(self, name: str) -> pd.Series:
        """A post-outcome attribute, per row: only for the catalog's flagged copy that training guards."""
        return column(self.ds.get(ENTITIES[self.entity][0]), name).take(self.codes).reset_index(drop=True)

    @cached_property
    def created(self) -> np.ndarray:
        return times(self.entities, "created_at")[self.codes]

    @cached_property
    def log(self) -> _ActivityLog:
        return _ActivityLog(self.table("activities"), self.entity, column(self.entities, ENTITIES[self.entity][1]))

    @cached_property
    def start(self) -> np.ndarray:
        """Per row, the timeline position of its entity's first activity."""
        return self.log.tl.first(self.codes)

    @cached_property
    def now(self) -> np.ndarray:
        """Per row, the position just past its last activity known at the cutoff."""
        return self.log.tl.upto(self.codes, self.cutoffs)

    @cached_property
    def owner(self) -> pd.Series:
        return self.attr("owner_rep_id")

    @cached_property
    def owner_leads(self) -> tuple[np.ndarray, np.ndarray]:
        """The owner's leads resolved by the cutoff and its smoothed lead conversion rate (rep and rep-fit read it)."""
        resolved, _, conversion = self.rate("rep_leads_resolved", self.owner)
        return resolved, conversion

    @cached_property
    def seen(self) -> tuple[np.ndarray | slice, ...]:
        """Per change to the history, the rows that see it (calls scored in one batch see only their own)."""
        per_entity = self.history.per_entity
        ids = column(self.entities, ENTITIES[self.entity][1]).to_numpy(dtype=object)[self.codes] if per_entity else None
        return self.history.seen_by(ids)

    def count(self, stream: str, *asked: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the stream's events of its key by the cutoff, and the marked ones (``history.History``)."""
        return self.history.count(stream, asked, self.cutoffs, self.seen, self._own_events(stream))

    def rate(self, stream: str, *asked: pd.Series) -> tuple[np.ndarray, ...]:
        """``count``, and the share of marked events smoothed towards everyone's share at the cutoff."""
        n, k = self.count(stream, *asked)
        return n, k, self.history.smoothed(stream, n, k, self.cutoffs, self.seen)

    @cached_property
    def moved(self) -> dict[str, np.ndarray]:
        """Per column the frame overrides, the rows whose value differs from the entity's own (what-if rows)."""
        return {
            name: (given.notna() & given.ne(self._own(name)).fillna(True)).to_numpy(dtype=bool)
            for name, given in self.overrides.items()
        }

    def _own_events(self, stream: str) -> Events | None:
        """For a stream of this entity's table keyed by an overridden column: per row, the row's own entity's event
        by the cutoff, on what-if rows only. The history has the entity under its own value (its own owner), so
        without it the key the row asks about would lack the entity it is scored as having (one open lead short)."""
        spec = STREAMS[stream]
        moved = [self.moved[k] for k in spec.keys if k in self.moved]
        if spec.table != ENTITIES[self.entity][0] or not moved or not (rows := np.logical_or.reduce(moved)).any():
            return None
        at, marked = spec.events(self.entities)
        at, marked = at[self.codes], marked[self.codes]
        happened = rows & (at != NAT) & (at <= self.cutoffs)
        return happened, happened & marked

    def since(self, days: int) -> np.ndarray:
        """Per row, the position just past its last activity known ``days`` before the cutoff."""
        if days not in self._since:
            self._since[days] = self.log.tl.upto(self.codes, self.cutoffs - days * DAY_NS)
        return self._since[days]


def _static(r: _Rows) -> Columns:
    """The entity's own attributes (canonical and declared extras), known at creation."""
    out: Columns = {}
    for f in catalog.static_features(r.ds.manifest, r.entity):
        values = r.attr(f.source) if not f.post_outcome else r.hidden_attr(f.source)
        out[f.name] = values.astype(STRING_DTYPE).array if f.kind == "categorical" else numeric(values)
    return out


def _months(ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Calendar month (0-11) of each time, and when the next quarter starts."""
    month = ns.view("datetime64[ns]").astype("datetime64[M]")
    of_year = month.astype(np.int64) % 12
    next_quarter = month - (of_year % 3).astype("timedelta64[M]") + np.timedelta64(3, "M")
    return of_year, next_quarter.astype("datetime64[ns]").view(np.int64)


def _lifecycle(r: _Rows) -> Columns:
    """Age, and the calendar: the month the entity was created in and where the cutoff falls in its quarter."""
    created_month, _ = _months(r.created)
    cutoff_month, next_quarter = _months(r.cutoffs)
    return {
        "age_days": (r.cutoffs - r.created) / DAY_NS,
        "created_month": (created_month + 1).astype(np.int32),
        "created_month_of_quarter": (created_month % 3 + 1).astype(np.int32),
        "cutoff_month_of_quarter": (cutoff_month % 3 + 1).astype(np.int32),
        "cutoff_days_to_quarter_end": (next_quarter - r.cutoffs) / DAY_NS,
    }


def _activity(r: _Rows) -> Columns:
    """Per subject: counts to date and in each window, hours since the last one; and the 7-day trend."""
    log, out = r.log, {}
    for subject, events in log.subjects():
        out[catalog.count_name(subject, "total")] = events.count(r.start, r.now)
        for window, days in catalog.WINDOW_DAYS.items():
            out[catalog.count_name(subject, window)] = events.count(r.since(days), r.now)
        last = log.latest(events, r.start, r.now)
        out[catalog.recency_name(subject)] = np.where(last != NAT, (r.cutoffs - last) / HOUR_NS, np.nan)
    recent, prior = r.now - r.since(7), r.since(7) - r.since(14)  # every activity counts: positions suffice
    out["act_trend_7d"] = np.where(recent + prior > 0, (recent - prior) / np.maximum(recent + prior, 1), 0.0)
    return out


def _intensity(r: _Rows) -> Columns:
    """Minutes spent with the entity (all activities) and on the website (web visits)."""
    log = r.log
    spent = log.tl.prefix(log.duration_s)
    web = log.tl.prefix(np.where(log.is_type("web_visit"), log.duration_s, 0))
    return {
        "act_duration_min_total": (spent[r.now] - spent[r.start]) / 60,
        "act_duration_min_7d": (spent[r.now] - spent[r.since(7)]) / 60,
        "act_duration_min_30d": (spent[r.now] - spent[r.since(30)]) / 60,
        "web_dwell_min_total": (web[r.now] - web[r.start]) / 60,
        "web_dwell_min_30d": (web[r.now] - web[r.since(30)]) / 60,
    }


def _responses(log: _ActivityLog, codes: np.ndarray, cutoffs: np.ndarray, created: np.ndarray) -> Columns:
    """First-response latency (to the first outbound activity) and 7-day activation, as known at the cutoff."""
    start, now = log.tl.first(codes), log.tl.upto(codes, cutoffs)
    first = log.earliest(log.subset(~log.inbound), start, now)
    responded = first != NAT
    wait_h = np.maximum(np.where(responded, first, cutoffs) - created, 0) / HOUR_NS
    week = log.tl.upto(codes, np.minimum(cutoffs, created + ACTIVATION_DAYS * DAY_NS))
    effective = log.subset(log.effective).count(start, week)
    return {
        "first_response_h": np.where(responded, wait_h, np.nan),
        "no_response_yet": (~responded).astype(np.float64),
        "response_wait_h": wait_h,
        "effective_interactions_7d": effective.astype(np.float64),
        "activated_7d": (effective >= ACTIVATION_MIN_INTERACTIONS).astype(np.float64),
    }


def _response(r: _Rows) -> Columns:
    return _responses(r.log, r.codes, r.cutoffs, r.created)


def _lead_origin(r: _Rows) -> Columns:
    """The originating lead's response and activation at the deal's cutoff (NaN for deals without a lead)."""
    leads = r.table("leads")
    lead = lookup(r.attr("lead_id"), column(leads, "lead_id"))
    log = _ActivityLog(r.table("activities"), "lead", column(leads, "lead_id"))
    found = _responses(log, lead, r.cutoffs, _at(times(leads, "created_at"), lead, NAT))
    return {f"lead_{name}": np.where(lead >= 0, values, np.nan) for name, values in found.items()}


def _decision_chain(r: _Rows) -> Columns:
    """Distinct contact roles met, the senior ones among them, and CTO touches."""
    log = r.log
    met = {role: log.subset(log.role == i).count(r.start, r.now) for i, role in enumerate(CONTACT_ROLES)}
    return {
        "roles_met_n": np.sum([n > 0 for n in met.values()], axis=0, dtype=np.int32),
        "senior_roles_met_n": np.sum([met[role] > 0 for role in SENIOR_ROLES], axis=0, dtype=np.int32),
        "cto_touches_n": met["cto"],
    }


def _poc(r: _Rows) -> Columns:
    """POC length: the first poc_start to the last poc_end after it, or to the cutoff while running."""
    log = r.log
    started = log.earliest(log.subset(log.is_type("poc_start")), r.start, r.now)
    ended = log.latest(log.subset(log.is_type("poc_end")), r.start, r.now)
    has_poc = started != NAT
    finished = has_poc & (ended != NAT) & (ended >= started)
    return {
        "poc_days": np.where(has_poc, (np.where(finished, ended, r.cutoffs) - started) / DAY_NS, np.nan),
        "poc_running": (has_poc & ~finished).astype(np.float64),
    }


def _notes(r: _Rows) -> Columns:
    """Known notes mentioning each lexicon category."""
    log = r.log
    return {
        catalog.note_name(name): log.subset(log.tl.take(mentions)).count(r.start, r.now)
        for name, mentions in match_notes(log.notes, r.lexicon).items()
    }


def _stage(r: _Rows) -> Columns:
    """Current and furthest stage, days in each stage against typical dwell, and regressions."""
    changes, names = r.table("stage_changes"), r.ds.manifest.stage_names()
    stage = lookup(column(changes, "stage"), pd.Series(names, dtype=STRING_DTYPE))
    deal = lookup(column(changes, "opportunity_id"), column(r.entities, "opportunity_id"))
    changed_at = times(changes, "changed_at")
    tl = Timeline(deal, changed_at, tiebreak=stage + 1)  # changes at one time: funnel order, the furthest is current
    index, at = tl.take(stage), tl.take(changed_at)
    start, now = tl.first(r.codes), tl.upto(r.codes, r.cutoffs)
    current = tl.last(index, start, now, -1)
    entered = tl.last(at, start, now, NAT)
    days = np.where(entered != NAT, (r.cutoffs - entered) / DAY_NS, np.nan)
    same_deal = np.r_[False, tl.codes[1:] == tl.codes[:-1]]
    previous = np.where(same_deal, np.r_[-1, index[:-1]], -1)
    stay = np.where(same_deal, at - np.r_[at[:1], at[:-1]], 0)  # the previous stay, known when this change is
    furthest = Subset(tl, index >= 0).latest(index, start, now)
    out = {
        "stage_index": np.where(current >= 0, current, np.nan),
        "stage_max_index": np.where(furthest >= 0, furthest, np.nan),
        "stage_changes_n": (now - start).astype(np.int32),
        "stage_regressions_n": Subset(tl, (index >= 0) & (previous > index)).count(start, now),
        "days_in_stage": days,
        "stage_dwell_ratio": days / typical_dwell_days(names)[current],
    }
    for i, name in enumerate(names):
        done = tl.prefix(np.where(previous == i, stay, 0))
        ongoing = np.where(current == i, r.cutoffs - entered, 0)
        out[catalog.stage_days_name(name)] = (done[now] - done[start] + ongoing) / DAY_NS
    return out


def _median_upto(groups: np.ndarray, created: np.ndarray, values: np.ndarray, r: _Rows) -> np.ndarray:
    """Per row, the median value over its group's deals created by the cutoff (NaN: none yet)."""
    tl = Timeline(np.where(np.isnan(values), -1, groups), created)
    median = pd.Series(tl.take(values)).groupby(tl.codes, sort=False).expanding().median().to_numpy()
    query = groups[r.codes]
    return tl.last(median, tl.first(query), tl.upto(query, r.cutoffs), np.nan)


def _deal(r: _Rows) -> Columns:
    """Amount against the rep's and the product's median deal so far, and days past the expected close.

    expected_close_at is taken as set at creation: the schema keeps no history of it.
    """
    deals = r.entities
    amount, created = numeric(column(deals, "amount")), times(deals, "created_at")
    out = {}
    for name, by in (("amount_vs_rep_median", "owner_rep_id"), ("amount_vs_product_median", "product")):
        median = _median_upto(pd.factorize(column(deals, by))[0], created, amount, r)
        out[name] = amount[r.codes] / np.where(median > 0, median, np.nan)
    expected = times(deals, "expected_close_at")[r.codes]
    out["expected_close_slip_days"] = np.where(expected != NAT, (r.cutoffs - expected) / DAY_NS, np.nan)
    return out


def _rep(r: _Rows) -> Columns:
    """The owner's record and load at the cutoff: closed deals, win and lead conversion rates, open work."""
    reps, owner, cutoffs = r.history.table("reps"), r.owner, r.cutoffs
    closed, _, win_rate = r.rate("rep_deals_closed", owner)
    opened, _ = r.count("rep_deals_created", owner)
    ended, _ = r.count("rep_deals_ended", owner)
    assigned, _ = r.count("rep_leads_created", owner)
    resolved, conversion = r.owner_leads
    row = r.history.rows("reps", "rep_id", owner)
    hired, left = _at(times(reps, "hired_at"), row, NAT), _at(times(reps, "left_at"), row, NAT)
    has_rep = owner.notna().to_numpy()
    return {
        "rep_deals_closed_n": np.where(has_rep, closed, np.nan),
        "rep_win_rate": np.where(has_rep, win_rate, np.nan),
        "rep_lead_conversion_rate": np.where(has_rep, conversion, np.nan),
        "rep_open_deals_n": np.where(has_rep, np.maximum(opened - ended, 0), np.nan),
        "rep_open_leads_n": np.where(has_rep, np.maximum(assigned - resolved, 0), np.nan),
        "rep_tenure_days": np.where(hired != NAT, (cutoffs - hired) / DAY_NS, np.nan),
        "rep_has_left": np.where(row >= 0, (left != NAT) & (left <= cutoffs), np.nan),
        "rep_team": _at(column(reps, "team").astype(STRING_DTYPE).array, row, None),
        "rep_region": _at(column(reps, "region").astype(STRING_DTYPE).array, row, None),
    }


def _rep_fit(r: _Rows) -> Columns:
    """The owner's fit with the lead: its lead conversion on its past leads of this industry and of this source.

    Only the owner's leads resolved by the cutoff count; each rate is smoothed towards the owner's overall lead
    conversion rate at the cutoff, so a rep with few such leads gets about its overall rate (NaN without an owner).
    """
    _, conversion = r.owner_leads
    has_rep = r.owner.notna().to_numpy()
    out = {}
    for name in ("industry", "source"):
        n, k = r.count(f"rep_{name}_leads_resolved", r.owner, r.attr(name))
        out[f"rep_{name}_conversion_rate"] = np.where(has_rep, (k + SMOOTHING * conversion) / (n + SMOOTHING), np.nan)
    return out


def _account(r: _Rows) -> Columns:
    """The account's deals closed and won by the cutoff, and its firmographics."""
    accounts, account = r.history.table("accounts"), r.attr("account_id")
    closed, wins, win_rate = r.rate("account_deals_closed", account)
    row = r.history.rows("accounts", "account_id", account)
    has_account = account.notna().to_numpy()
    return {
        "account_deals_closed_n": np.where(has_account, closed, np.nan),
        "account_deals_won_n": np.where(has_account, wins, np.nan),
        "account_win_rate": np.where(has_account, win_rate, np.nan),
        "account_industry": _at(column(accounts, "industry").astype(STRING_DTYPE).array, row, None),
        "account_employees": _at(numeric(column(accounts, "employees")), row, np.nan),
        "account_annual_revenue": _at(numeric(column(accounts, "annual_revenue")), row, np.nan),
    }


Family = Callable[[_Rows], Columns]
_SHARED: tuple[Family, ...] = (_static, _lifecycle, _activity, _response, _intensity, _decision_chain, _poc, _notes)
FAMILIES: dict[str, tuple[Family, ...]] = {
    "lead": (*_SHARED, _rep, _rep_fit, _account),
    "opportunity": (*_SHARED, _stage, _deal, _lead_origin, _rep, _account),
}


def build_features(
    ds: Dataset,
    entity: str,
    frame: pd.DataFrame,
    progress: bool = False,
    *,
    lexicon: Lexicon = DEFAULT_LEXICON,
    history: History | None = None,
) -> pd.DataFrame:
    """Point-in-time features for an entity frame: each row's features as known at its cutoff.

    The offline retrieval of Feast's ``get_historical_features``: one output row per frame row, in the frame's
    order, with the frame's own columns (labels included) followed by one column per catalog feature
    (``features.pit.catalog.feature_catalog``). A row's features use only what was known at its ``cutoff_time``
    (UTC; an event at exactly the cutoff is known): an activity from ``max(occurred_at, recorded_at)``, a stage
    change from ``changed_at``, rep and account history from the leads and deals resolved by then. Training, batch
    scoring and the service all call this function, so a model is served the features it was trained on.

    Args:
        ds: The canonical dataset holding the entities and their history (``features.crm.dataset.read_dataset``).
        entity: ``"lead"`` or ``"opportunity"``.
        frame: One row per ``(entity_id, cutoff_time)``: ``entity_id`` an id of ``entity`` in ``ds``;
            ``cutoff_time`` a time or a string pandas parses (naive times are UTC), not before the entity's
            creation. Other columns (labels, ``static_snapshot``) are kept as they are. A column named in
            ``OVERRIDABLE`` (``owner_rep_id``) replaces the entity's own value where it is set: the same lead
            scored as if each candidate rep owned it (routing).
        progress: Show a progress bar, one step per feature family, on stderr.
        lexicon: The note keyword lexicon (``features.pit.keywords``); its categories are feature columns.
        history: The rep and account records to count; by default ``ds``'s own. The service passes its indexed
            history adjusted by the request (the same counts, faster).

    Returns:
        A new DataFrame with a fresh ``RangeIndex``: ``frame``'s columns, then the features in catalog order.
        ``attrs["features"]`` lists the feature names (Parquet keeps it).

    Raises:
        DataError: ``entity`` is not ``lead`` or ``opportunity``; ``frame`` lacks ``entity_id`` or
            ``cutoff_time``; an ``entity_id`` is not in ``ds``; a ``cutoff_time`` is unreadable or before the
            entity's creation (or the entity has no ``created_at``).
        RuntimeError: The built columns and the feature catalog disagree (a bug, not bad input).

    Example:
        >>> from pathlib import Path
        >>> import pandas as pd
        >>> from features.crm.dataset import read_dataset
        >>> ds = read_dataset(Path("/tmp/crm"))  # salesml data synth --out /tmp/crm --leads 1500 --seed 7
        >>> frame = pd.DataFrame({"entity_id": ["L00000001", "L00000001"],
        ...                       "cutoff_time": ["2024-01-02T00:00:00Z", "2024-01-09T00:00:00Z"]})
        >>> table = build_features(ds, "lead", frame)
        >>> table.shape, len(table.attrs["features"])
        ((2, 142), 140)
        >>> table["first_response_h"].round(2).tolist()
        [5.12, 5.12]
    """
    codes = frame_codes(ds, entity, frame)
    cutoffs = time_ns(to_utc(frame["cutoff_time"]))
    order = np.lexsort((cutoffs, codes))
    overrides = {
        name: frame[name].astype(STRING_DTYPE).take(order).reset_index(drop=True)
        for name in OVERRIDABLE
        if name in frame.columns
    }
    rows = _Rows(ds, entity, codes[order], cutoffs[order], lexicon, history or History.of(ds), overrides)
    columns: Columns = {}
    for family in _progress(FAMILIES[entity], progress):
        columns.update(family(rows))
    names = [f.name for f in catalog.feature_catalog(ds.manifest, entity, lexicon)]
    if set(names) != set(columns):
        raise RuntimeError(f"features and catalog disagree: {sorted(set(names) ^ set(columns))}")
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    features = pd.DataFrame({name: columns[name][back] for name in names})  # consolidated: cheap to add to later
    out = pd.concat([frame.reset_index(drop=True), features], axis=1)
    out.attrs["features"] = names
    return out


def _progress(families: Sequence[Family], enabled: bool) -> Iterator[Family]:
    """The families, with a progress bar on stderr when ``enabled``."""
    if not enabled:
        yield from families
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("features", total=len(families))
        for family in families:
            bar.update(task, description=family.__name__.strip("_"))
            yield family
            bar.advance(task)


def summary_table(table: pd.DataFrame, entity: str, out: Path) -> Table:
    """What was built: rows, entities, cutoffs, features, label rates and censoring."""
    summary = Table(title=f"{entity} features", show_header=False)
    summary.add_row("written to", str(out))
    summary.add_row("rows", f"{len(table):,}")
    summary.add_row("entities", f"{table['entity_id'].nunique():,}")
    if len(table):
        summary.add_row("cutoffs", f"{table['cutoff_time'].min()} .. {table['cutoff_time'].max()}")
    summary.add_row("features", str(len(table.attrs.get("features", []))))
    if "static_snapshot" in table.columns and table["static_snapshot"].any():
        summary.add_row("static snapshot", "one row per entity at creation, labels are final outcomes")
    for name in (c for c in table.columns if c.startswith("label")):
        known = table[name].dropna()
        rate = f"{known.astype(float).mean():.1%} positive" if len(known) else "none known"
        summary.add_row(name, f"{rate} of {len(known):,}; {len(table) - len(known):,} censored")
    return summary
