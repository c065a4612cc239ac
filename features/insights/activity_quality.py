"""Follow-up quality (0-100) per activity: how much it moved the deal, and the field's checks.

Field practice scores a follow-up on call length, documents uploaded and meeting-note keywords, and a follow-up
below 60 does not count; many records are vague ("已沟通", "待推进") or back-filled at month end. Here, for each rep
action (an outbound activity) on a deal or lead:

- movement: the entity's probability from the same model just before and just after the activity became known to
  the CRM. Features read an activity from ``known_at = max(occurred_at, recorded_at)`` (features.pit.frames), so
  "after" is the cutoff ``known_at`` and "before" one second earlier: nothing later is seen, and a back-filled activity
  moved the deal only when it was entered (its lateness and the activities entered at the same instant are shown).
  Mapped to 0-100 as ``50 + MOVEMENT_SCALE * Δ log-odds``, clipped: 50 is no change, +-1 log-odds (0.50 to 0.73
  or 0.27; 0.05 to 0.125 or 0.019) reaches 100 or 0 (on the demo data 95% of rep actions move less than 1.3);
- checks, each passed, failed or not applicable: ``duration`` (calls: at least 60 s), ``attachment`` (a document
  or meeting note attached; not applicable where activities.attachment is missing), ``next_step`` (one recorded;
  not applicable without an activities.next_step column, failed where it is empty),
  ``note`` (a note with substance: fails when empty or only a vague phrase);
- score = ``MOVEMENT_WEIGHT`` x movement + (1 - ``MOVEMENT_WEIGHT``) x 100 x passed / applicable checks;
  ``counts`` = score >= 60.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc_scalar
from features.errors import DataError
from features.pit.activity_log import INBOUND_TYPES, MIN_EFFECTIVE_CALL_S
from features.pit.build import build_features
from features.pit.frames import entity_table
from features.pit.keywords import DEFAULT_LEXICON, Lexicon, match_notes
from features.pit.timeline import HOUR_NS, NAT, column, flags, lookup, numeric, times, to_time
from features.scoring.scorer import Scorer

COUNTS_FROM = 60  # field practice: below 60 does not count
MOVEMENT_WEIGHT = 0.4
MOVEMENT_SCALE = 50.0  # score points per unit of log-odds
BACKFILL_HOURS = 24  # entered this long after it happened: back-filled
SECOND_NS = 10**9
P_FLOOR = 1e-4  # probabilities are clipped to [P_FLOOR, 1 - P_FLOOR] before taking log-odds
CHECKS = ("duration", "attachment", "next_step", "note")
#: Notes that say nothing happened beyond a contact (whole note, case, spaces and punctuation ignored).
VAGUE_NOTES = frozenset(
    (
        "已沟通",
        "待推进",
        "跟进中",
        "已跟进",
        "已联系",
        "已电话",
        "客户考虑中",
        "考虑中",
        "再联系",
        "followedup",
        "followup",
        "contacted",
        "touchedbase",
        "inprogress",
        "pending",
        "called",
    )
)
_PUNCTUATION = re.compile(r"[\s\.,;:!?~，。；：！？、…\-]+")


def is_vague(notes: pd.Series) -> np.ndarray:
    """Whether each note is only a vague phrase (missing notes are not vague: they are empty)."""
    normalised = notes.astype("string").str.lower().str.replace(_PUNCTUATION, "", regex=True)
    return normalised.isin(VAGUE_NOTES).to_numpy(dtype=bool, na_value=False)


def score_activities(
    ds: Dataset,
    scorer: Scorer,
    as_of: object | None = None,
    entity_ids: Sequence[str] | None = None,
    days: int | None = None,
    lexicon: Lexicon = DEFAULT_LEXICON,
) -> pd.DataFrame:
    """One row per rep action on the model's entity known by ``as_of`` (default: the export), of ``entity_ids``
    (default: all) and known in the ``days`` before ``as_of`` (default: ever): movement, checks, score, evidence."""
    entity = scorer.entity
    try:
        at = to_utc_scalar(as_of if as_of is not None else ds.manifest.exported_at)
    except ValueError as exc:
        raise DataError(f"as_of {as_of!r}: not a time ({exc})") from exc
    table, id_col = entity_table(ds, entity)
    if entity_ids is not None:
        unknown = sorted(set(entity_ids) - set(table[id_col].dropna()))
        if unknown:
            raise DataError(f"{len(unknown)} {entity} id(s) are not in the history (first: {unknown[0]!r})")
    acts = _rep_actions(ds, entity, at, entity_ids, None if days is None else at - pd.Timedelta(days=days))
    known = acts["known_at"].to_numpy(dtype=np.int64)
    created = times(table, "created_at")[lookup(acts["entity_id"], table[id_col])]
    before = np.maximum(known - SECOND_NS, created)
    frame = pd.DataFrame(
        {
            "entity_id": pd.concat([acts["entity_id"]] * 2, ignore_index=True),
            "cutoff_time": to_time(np.r_[before, known]),
        }
    )
    p = scorer.predict(build_features(ds, entity, frame))["probability"].to_numpy()
    p_before, p_after = p[: len(acts)], p[len(acts) :]
    return _scored(acts, p_before, p_after, lexicon)


def _rep_actions(
    ds: Dataset, entity: str, at: pd.Timestamp, entity_ids: Sequence[str] | None, since: pd.Timestamp | None
) -> pd.DataFrame:
    """The entity's outbound activities known in (since, at], with ``index`` (position among the entity's activities
    in table order, as a request lists them), ``known_at`` (ns) and how many others became known at that instant."""
    acts = ds.get("activities")
    mine = acts[flags(column(acts, "entity_type"), entity)].copy()
    mine["index"] = mine.groupby("entity_id", sort=False).cumcount()
    occurred = times(mine, "occurred_at")
    mine["known_at"] = np.where(occurred == NAT, NAT, np.maximum(occurred, times(mine, "recorded_at")))
    direction = column(mine, "direction")
    inbound = flags(direction, "inbound") | (direction.isna().to_numpy() & flags(column(mine, "type"), *INBOUND_TYPES))
    visible = (mine["known_at"] != NAT) & (mine["known_at"] <= at.value)
    mine["recorded_with"] = mine[visible].groupby(["entity_id", "known_at"])["index"].transform("size") - 1
    keep = visible & ~inbound
    if since is not None:
        keep &= mine["known_at"] > since.value
    if entity_ids is not None:
        keep &= mine["entity_id"].isin(list(entity_ids)).to_numpy(dtype=bool, na_value=False)
    return mine[keep].reset_index(drop=True)


def _scored(acts: pd.DataFrame, p_before: np.ndarray, p_after: np.ndarray, lexicon: Lexicon) -> pd.DataFrame:
    """Movement, checks and score with the evidence, per activity."""
    delta = _log_odds(p_after) - _log_odds(p_before)
    movement = np.clip(50 + MOVEMENT_SCALE * delta, 0, 100)
    checks = _checks(acts)
    passed = sum(checks[c].fillna(False).to_numpy(dtype=float) for c in CHECKS)
    applicable = sum(checks[c].notna().to_numpy(dtype=float) for c in CHECKS)
    structure = 100 * np.divide(passed, applicable, out=np.full(len(acts), np.nan), where=applicable > 0)
    blend = MOVEMENT_WEIGHT * movement + (1 - MOVEMENT_WEIGHT) * structure
    score = np.round(np.where(applicable > 0, blend, movement)).astype(int)
    occurred, known = times(acts, "occurred_at"), acts["known_at"].to_numpy(dtype=np.int64)
    late_h = (known - occurred) / HOUR_NS
    hits = match_notes(column(acts, "note"), lexicon)
    keywords = [
        ", ".join(k for k, hit in zip(hits, row, strict=True) if hit) for row in zip(*hits.values(), strict=True)
    ]
    return pd.DataFrame(
        {
            "activity_id": column(acts, "activity_id").to_numpy(),
            "index": acts["index"].to_numpy(),
            "entity_id": acts["entity_id"].to_numpy(),
            "type": column(acts, "type").to_numpy(),
            "rep_id": column(acts, "rep_id").to_numpy(),
            "occurred_at": to_time(occurred),
            "known_at": to_time(known),
            "recorded_late_hours": np.round(late_h, 2),
            "backfilled": late_h >= BACKFILL_HOURS,
            "recorded_with": acts["recorded_with"].to_numpy(dtype=np.int64),  # every scored row is visible
            "p_before": p_before,
            "p_after": p_after,
            "delta_probability": p_after - p_before,
            "delta_log_odds": delta,
            "movement": np.round(movement, 1),
            **{f"check_{c}": checks[c].to_numpy() for c in CHECKS},
            "checks_passed": passed.astype(int),
            "checks_applicable": applicable.astype(int),
            "note_keywords": keywords,
            "score": score,
            "counts": score >= COUNTS_FROM,
        }
    )


def _checks(acts: pd.DataFrame) -> dict[str, pd.Series]:
    """Each structural check per activity: True passed, False failed, NA not applicable (or not exported)."""
    na = pd.Series(pd.NA, index=acts.index, dtype="boolean")
    call = flags(column(acts, "type"), "call")
    duration = numeric(column(acts, "duration_s"))
    out = {"duration": na.mask(call, pd.Series(np.nan_to_num(duration) >= MIN_EFFECTIVE_CALL_S, index=acts.index))}
    out["attachment"] = acts["attachment"].astype("boolean") if "attachment" in acts.columns else na  # NA: unknown
    out["next_step"] = (
        acts["next_step"].str.strip().str.len().fillna(0).gt(0).astype("boolean") if "next_step" in acts.columns else na
    )
    note = column(acts, "note")
    substantive = note.str.strip().str.len().fillna(0).gt(0).to_numpy(dtype=bool) & ~is_vague(note)
    out["note"] = pd.Series(substantive, index=acts.index, dtype="boolean")
    return out


def _log_odds(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, P_FLOOR, 1 - P_FLOOR)
    return np.log(p / (1 - p))
