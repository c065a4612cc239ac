"""What-if actions: which next action would raise an open deal's (or lead's) probability most.

Each candidate action is a hypothetical rep activity (``ACTIONS``) placed at ``as_of`` plus the action's delay and
known at once. The entity is scored through the same feature code as always (``features.pit.build.build_features``
on the dataset with the hypothetical row added, one frame row a second after the action) and, for the comparison,
at that same cutoff without it: ``change`` is the action's own effect, not the clock's. The factors that moved are the
difference of ``Scorer.predict_with_factors``'s factor effects between the two. An action already done, or not
possible in the entity's stage (``STAGE_RULES``), is not proposed but listed as skipped with why; a closed deal or
a converted or disqualified lead is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, conform_values
from features.crm.schema import DEFAULT_STAGES, ENTITIES
from features.errors import DataError
from features.messages import Locale, text
from features.pit.activity_log import INBOUND_TYPES, MIN_EFFECTIVE_CALL_S
from features.pit.build import build_features
from features.pit.history import History
from features.pit.timeline import column, flags, times
from features.scoring.segments import AnyScorer, scored_segments

FOLLOW_UP_HOURS = 24.0  # default N of "a follow-up within N hours"
INBOUND_RESPONSE_HOURS = 1.0  # an inbound contact answered within this many hours
MOVED_MIN = 0.005  # a factor whose effect changes less than half a point did not move
KNOWN_AFTER = pd.Timedelta(seconds=1)  # the cutoff after an action: it is known
#: Scored rows: per entity id the probability and stage index, each row's factor effects, the factors' names.
Scored = tuple[pd.DataFrame, list[dict[str, float]], dict[str, str]]
SEGMENT = "segment"  # the scores' column naming the segment value whose model scored the row


@dataclass(frozen=True)
class Action:
    """A candidate action as the activity it would add (schema types and contact roles only)."""

    type: str
    contact_role: str | None = None
    duration_s: float | None = None
    delay_hours: float = 0.0  # after as_of; follow_up takes the caller's N
    next_step: str | None = None


ACTIONS: dict[str, Action] = {
    "meet_cto": Action("meeting", "cto", 3600.0),
    "meet_cfo": Action("meeting", "finance", 3600.0),
    "meet_ceo": Action("meeting", "ceo", 3600.0),
    "demo": Action("demo", "engineer", 3600.0),
    "poc_start": Action("poc_start", "engineer"),
    "follow_up": Action("call", None, 5.0 * MIN_EFFECTIVE_CALL_S, FOLLOW_UP_HOURS),
    "next_step": Action("email", None, None, 0.0, "next meeting agreed"),
    "quote_revision": Action("quote_sent"),
    "inbound_response": Action("call", None, 5.0 * MIN_EFFECTIVE_CALL_S),
}
#: The funnel stages each action is possible in (a lead counts as the first stage; None: any stage). No demo once
#: a quote is out, no POC before needs are confirmed or once the deal is past the quote stage, and a quote can only
#: be revised once the deal reached the quote stage. A funnel whose stage names differ from these is not checked.
STAGE_RULES: dict[str, tuple[str, ...] | None] = {
    "meet_cto": None,
    "meet_cfo": None,
    "meet_ceo": None,
    "demo": ("lead", "needs_confirmed", "demo"),
    "poc_start": ("needs_confirmed", "demo", "quote"),
    "follow_up": None,
    "next_step": None,
    "quote_revision": ("quote", "contract"),
    "inbound_response": None,
}
KNOWN_STAGES = tuple(s.name for s in DEFAULT_STAGES)
#: The actions a lead can take: those possible in the first stage (no POC or quote before a deal exists).
LEAD_ACTIONS = tuple(key for key, stages in STAGE_RULES.items() if stages is None or "lead" in stages)


@dataclass
class Moved:
    """A factor whose effect on the probability the action changed."""

    factor: str
    name: str
    before: float
    after: float

    @property
    def change(self) -> float:
        return self.after - self.before


@dataclass
class Option:
    """One proposed action: the probability at its cutoff without and with it, and the factors it moved."""

    action: str
    name: str
    occurs_at: pd.Timestamp
    p_before: float
    p_after: float
    moved: list[Moved] = field(default_factory=list)

    @property
    def change(self) -> float:
        return self.p_after - self.p_before


@dataclass
class Skipped:
    action: str
    name: str
    reason: str


@dataclass
class WhatIf:
    """An entity's proposed actions, best first, and those skipped with why; ``segment``: the segment value whose
    own model scored it (None: the global model)."""

    entity_id: str
    as_of: pd.Timestamp
    stage: str | None
    p_now: float
    options: list[Option]
    skipped: list[Skipped]
    segment: str | None = None


def what_if(
    ds: Dataset,
    scorer: AnyScorer,
    ids: Sequence[str],
    as_of: pd.Timestamp,
    actions: Sequence[str] | None = None,
    follow_up_hours: float = FOLLOW_UP_HOURS,
    locale: Locale = "zh-CN",
    history: History | None = None,
) -> list[WhatIf]:
    """The candidate ``actions`` (default: all of ``ACTIONS``) for each of the model's entities ``ids`` as of
    ``as_of``; DataError for an unknown action or id, or an entity that is closed or not yet created at ``as_of``."""
    ids = list(dict.fromkeys(ids))
    chosen = list(dict.fromkeys(actions or ACTIONS))
    unknown = [a for a in chosen if a not in ACTIONS]
    if unknown:
        raise DataError(f"unknown action {unknown[0]!r}; use one of: {', '.join(ACTIONS)}")
    entity = scorer.entity
    _check_open(ds, entity, ids, as_of)
    history = history or History.of(ds)
    now = _scored(ds, scorer, entity, [(i, as_of) for i in ids], history, locale)
    names = ds.manifest.stage_names()
    stages = [_stage_name(names, now[0].loc[k, "stage_index"]) if entity == "opportunity" else "lead" for k in ids]
    plans = {key: _delay(key, follow_up_hours) for key in chosen}
    takes, skipped = _sorted_out(ds, entity, dict(zip(ids, stages, strict=True)), plans, as_of, locale)
    options: dict[str, list[Option]] = {i: [] for i in ids}
    for key, takers in takes.items():
        at = as_of + plans[key]
        rows = [(i, at + KNOWN_AFTER) for i in takers]
        before = _scored(ds, scorer, entity, rows, history, locale)
        after = _scored(_with_action(ds, entity, key, takers, at), scorer, entity, rows, history, locale)
        for entity_id in takers:
            options[entity_id].append(_option(key, at, before, after, entity_id, locale))
    return [
        WhatIf(
            i,
            as_of,
            stage,
            float(now[0].loc[i, "probability"]),
            _ranked(options[i]),
            skipped[i],
            now[0].loc[i, SEGMENT],
        )
        for i, stage in zip(ids, stages, strict=True)
    ]


def _sorted_out(
    ds: Dataset,
    entity: str,
    stages: dict[str, str],
    plans: dict[str, pd.Timedelta],
    as_of: pd.Timestamp,
    locale: Locale,
) -> tuple[dict[str, list[str]], dict[str, list[Skipped]]]:
    """Per action, the entities it is proposed to; per entity, the actions skipped and why."""
    acts = _known_activities(ds, entity, list(stages), as_of)
    created = ds.get(ENTITIES[entity][0]).set_index(ENTITIES[entity][1])["created_at"]
    takes: dict[str, list[str]] = {}
    skipped: dict[str, list[Skipped]] = {i: [] for i in stages}
    for entity_id, stage in stages.items():
        mine = acts[acts["entity_id"] == entity_id]
        if entity == "lead":  # a new lead is the customer's first contact: answering it is the first response
            mine = pd.concat([_arrival(entity_id, created[entity_id]), mine], ignore_index=True)
        for key, delay in plans.items():
            why = _why_not(key, entity, stage, mine, as_of, as_of + delay)
            if why is None:
                takes.setdefault(key, []).append(entity_id)
            else:
                skipped[entity_id].append(Skipped(key, _name(key, locale), _say(f"skip.{why}", locale)))
    return takes, skipped


def _delay(key: str, follow_up_hours: float) -> pd.Timedelta:
    hours = follow_up_hours if key == "follow_up" else ACTIONS[key].delay_hours
    return pd.Timedelta(hours=hours)


def _ranked(options: list[Option]) -> list[Option]:
    return sorted(options, key=lambda o: (-o.change, o.action))


def _name(key: str, locale: Locale) -> str:
    return _say(f"action.{key}", locale)


def _say(key: str, locale: Locale) -> str:
    """A what-if message in the locale's words, the rule figures filled in."""
    return text(f"whatif.{key}", locale, hours=f"{INBOUND_RESPONSE_HOURS:g}")


def _check_open(ds: Dataset, entity: str, ids: Sequence[str], as_of: pd.Timestamp) -> None:
    """Refuse unknown ids and entities not open at ``as_of``: nothing a rep does changes a closed one."""
    table_name, key = ENTITIES[entity]
    table = ds.get(table_name).set_index(key)
    ends = ("closed_at",) if entity == "opportunity" else ("converted_at", "disqualified_at")
    for entity_id in ids:
        if entity_id not in table.index:
            raise DataError(f"{entity} {entity_id!r} is not in the data")
        row = table.loc[entity_id]
        if row["created_at"] > as_of:
            raise DataError(f"{entity} {entity_id!r} was created after as_of ({as_of.isoformat()})")
        for end in ends:
            closed = row.get(end)
            if pd.notna(closed) and closed <= as_of:
                outcome = row.get("outcome") if entity == "opportunity" else end.removesuffix("_at")
                raise DataError(
                    f"{entity} {entity_id!r} is closed ({outcome}, {closed:%Y-%m-%d}): what-if needs an open one"
                )


def _scored(
    ds: Dataset,
    scorer: AnyScorer,
    entity: str,
    rows: list[tuple[str, pd.Timestamp]],
    history: History,
    locale: Locale,
) -> Scored:
    """Per entity id: the probability and stage index, every factor's effect, and the factors' display names."""
    frame = pd.DataFrame({"entity_id": [i for i, _ in rows], "cutoff_time": pd.Series([t for _, t in rows])})
    table = build_features(ds, entity, frame, history=history)
    scores, reasons = scorer.predict_with_factors(table, top=len(scorer.inputs), locale=locale)
    scores.index = frame["entity_id"]
    scores["stage_index"] = table["stage_index"].to_numpy() if "stage_index" in table else np.nan
    scores[SEGMENT] = pd.Series(scored_segments(scorer, table), index=scores.index, dtype=object)  # None kept None
    effects = [{e.factor: e.delta_probability for side in r.values() for e in side} for r in reasons]
    names = {e.factor: e.name for r in reasons for side in r.values() for e in side}
    return scores, effects, names


def _option(key: str, at: pd.Timestamp, before: Scored, after: Scored, entity_id: str, locale: Locale) -> Option:
    """The action's probabilities and the factors whose effect moved by at least MOVED_MIN, largest first."""
    row = before[0].index.get_loc(entity_id)
    was, now = before[1][row], after[1][row]
    names = {**before[2], **after[2]}
    moved = [Moved(f, names[f], was.get(f, 0.0), now.get(f, 0.0)) for f in was.keys() | now.keys()]
    moved = sorted((m for m in moved if abs(m.change) >= MOVED_MIN), key=lambda m: (-abs(m.change), m.factor))
    p_before = float(before[0]["probability"].iloc[row])
    p_after = float(after[0]["probability"].iloc[row])
    return Option(key, _name(key, locale), at, p_before, p_after, moved)


def _stage_name(names: list[str], index: float) -> str:
    """The deal's current funnel stage (the first one before any stage change)."""
    return names[int(index)] if pd.notna(index) else names[0] if names else KNOWN_STAGES[0]


def _known_activities(ds: Dataset, entity: str, ids: Sequence[str], as_of: pd.Timestamp) -> pd.DataFrame:
    """The entities' activities known by ``as_of`` (as the features know them: from occurred or recorded, the later),
    with ``known_at`` and ``inbound``."""
    acts = ds.get("activities")
    mine = acts[flags(column(acts, "entity_type"), entity) & column(acts, "entity_id").isin(list(ids)).to_numpy()]
    known = np.maximum(times(mine, "occurred_at"), times(mine, "recorded_at"))
    direction = column(mine, "direction")
    inbound = flags(direction, "inbound") | (direction.isna().to_numpy() & flags(column(mine, "type"), *INBOUND_TYPES))
    out = pd.DataFrame(
        {
            "entity_id": column(mine, "entity_id").to_numpy(),
            "type": column(mine, "type").to_numpy(),
            "contact_role": column(mine, "contact_role").to_numpy(),
            "next_step": column(mine, "next_step").to_numpy(),
            "known_at": pd.to_datetime(known, utc=True),
            "inbound": inbound,
        }
    )
    return out[out["known_at"] <= as_of].sort_values("known_at", kind="stable").reset_index(drop=True)


def _arrival(lead_id: str, created_at: pd.Timestamp) -> pd.DataFrame:
    """A lead's creation as an inbound contact."""
    return pd.DataFrame(
        {"entity_id": [lead_id], "type": [None], "contact_role": [None], "next_step": [None], "known_at": [created_at]}
    ).assign(inbound=True)


def _why_not(
    key: str, entity: str, stage: str, acts: pd.DataFrame, as_of: pd.Timestamp, at: pd.Timestamp
) -> str | None:
    """Why an action is not proposed (a ``whatif.skip`` message key), or None when it is possible and not done."""
    allowed = STAGE_RULES[key]
    if allowed is not None and stage in KNOWN_STAGES and stage not in allowed:
        return "lead" if entity == "lead" else "stage"
    action = ACTIONS[key]
    outbound = acts[~acts["inbound"]]
    if key.startswith("meet_"):
        return "met" if acts["contact_role"].eq(action.contact_role).any() else None
    if key in ("demo", "poc_start"):
        return "done" if acts["type"].eq(action.type).any() else None
    if key == "quote_revision":
        return None if acts["type"].eq("quote_sent").any() else "no_quote"
    if key == "follow_up":
        return "followed_up" if (outbound["known_at"] > as_of - (at - as_of)).any() else None
    if key == "next_step":
        last = outbound["next_step"].iloc[-1] if len(outbound) else None
        return "next_step_set" if isinstance(last, str) and last.strip() else None
    return _inbound_why_not(acts, outbound, at)


def _inbound_why_not(acts: pd.DataFrame, outbound: pd.DataFrame, at: pd.Timestamp) -> str | None:
    """An inbound contact can be answered within the hour when the latest one is unanswered and recent enough."""
    inbound = acts[acts["inbound"]]
    if inbound.empty:
        return "no_inbound"
    last = inbound["known_at"].max()
    if (outbound["known_at"] >= last).any():
        return "answered"
    return "late" if at > last + pd.Timedelta(hours=INBOUND_RESPONSE_HOURS) else None


def _with_action(ds: Dataset, entity: str, key: str, ids: list[str], at: pd.Timestamp) -> Dataset:
    """The dataset with the action as an activity of each entity at ``at``, by the entity's owner, known at once."""
    action = ACTIONS[key]
    table_name, id_col = ENTITIES[entity]
    owners = ds.get(table_name).set_index(id_col)["owner_rep_id"]
    n = len(ids)
    rows = conform_values(
        "activities",
        {
            "activity_id": [f"whatif-{key}-{i}" for i in ids],
            "entity_type": [entity] * n,
            "entity_id": list(ids),
            "rep_id": [owners.get(i) for i in ids],
            "occurred_at": [at] * n,
            "recorded_at": [at] * n,
            "type": [action.type] * n,
            "direction": ["outbound"] * n,
            "duration_s": [action.duration_s] * n,
            "contact_role": [action.contact_role] * n,
            "next_step": [action.next_step] * n,
        },
    )
    acts = pd.concat([ds.get("activities"), rows], ignore_index=True)
    return Dataset(ds.manifest, {**ds.tables, "activities": acts})
