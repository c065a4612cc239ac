"""Silent-lead sweep: re-score every open lead as of a time and flag grade drops and silence.

Field practice: each 24 h without an action a lead drops a grade (A -> B -> C); untouched after 72 h it moves to
the high-performer pool with a note on why. Here:

- score now = the lead-score model as of ``as_of``; score then = the same model as of the previous sweep
  (``since``, default 24 h earlier), both from ``features.pit.build`` (the training code path), in one batch;
- grade fell = the model's grade now is below its grade then (a lead created after ``since`` has no grade then);
- silent = hours since the last outbound action known at ``as_of`` (the feature ``act_outbound_hours_since_last``:
  activities with direction outbound, the rep reaching out); a lead never reached counts from its creation;
- effective grade = the model grade stepped down one per full 24 h silent (floor C); 72 h or more silent:
  recommend reassignment to the high-performer pool.

Only flagged leads (grade fell, or silent 24 h or more) are listed, each with its evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc_scalar
from features.errors import DataError
from features.messages import Locale, text
from features.pit import catalog
from features.pit.build import build_features
from features.pit.frames import entity_table, scoring_frame
from features.scoring.scorer import Scorer

STEP_HOURS = 24  # one grade down per full step of silence
REASSIGN_HOURS = 72  # silent this long: to the high-performer pool
GRADES = ("A", "B", "C")
SILENCE = catalog.recency_name("outbound")
#: Actions, most urgent first: the order rows are listed in.
ACTIONS = ("reassign", "follow_up", "review")
#: The rule figures the notes quote.
NOTE_FIGURES = {"step_hours": STEP_HOURS, "reassign_hours": REASSIGN_HOURS}


@dataclass(frozen=True)
class Sweep:
    """The flagged leads with their evidence, and what was swept."""

    rows: pd.DataFrame
    as_of: pd.Timestamp
    since: pd.Timestamp
    open_leads: int

    def counts(self) -> dict[str, int]:
        """Open leads swept, and how many fell a grade, were silent 24 h+ and 72 h+."""
        r = self.rows
        return {
            "open_leads": self.open_leads,
            "flagged": len(r),
            "grade_fell": int(r["grade_fell"].sum()),
            "silent_24h": int((r["silent_hours"] >= STEP_HOURS).sum()),
            "reassign": int((r["action"] == "reassign").sum()),
        }


def sweep_window(ds: Dataset, as_of: object | None, since: object | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The sweep time (default: the export) and the previous one (default: 24 h before); DataError when unusable."""
    try:
        at = to_utc_scalar(as_of if as_of is not None else ds.manifest.exported_at)
        before = to_utc_scalar(since) if since is not None else at - pd.Timedelta(hours=STEP_HOURS)
    except ValueError as exc:
        raise DataError(f"--as-of/--since: not a time ({exc})") from exc
    if before >= at:
        raise DataError(f"since ({before.isoformat()}) must be before as_of ({at.isoformat()})")
    return at, before


def sweep(
    ds: Dataset,
    scorer: Scorer,
    as_of: object | None = None,
    since: object | None = None,
    lead_ids: Sequence[str] | None = None,
    locale: Locale = "en",
) -> Sweep:
    """Re-score the leads open at ``as_of`` (all, or those of ``lead_ids``) now and at ``since``; the flagged ones."""
    if scorer.entity != "lead":
        raise DataError(f"the sweep needs the lead-score model, not {scorer.model_name} ({scorer.entity})")
    at, before = sweep_window(ds, as_of, since)
    now = _open_leads(ds, at, lead_ids)
    table, id_col = entity_table(ds, "lead")
    created = table.set_index(id_col)["created_at"].reindex(now["entity_id"])
    then = now[(created <= before).to_numpy()].assign(cutoff_time=before)
    features = build_features(ds, "lead", pd.concat([now, then], ignore_index=True))
    scored = scorer.predict(features)
    current, earlier = scored.iloc[: len(now)].reset_index(drop=True), scored.iloc[len(now) :]
    earlier.index = then.index
    evidence = _evidence(features.iloc[: len(now)], current, earlier.reindex(now.index), table, at)
    flagged = evidence[evidence["grade_fell"] | (evidence["silent_hours"] >= STEP_HOURS)]
    flagged = flagged.assign(note=_notes(flagged, locale))
    order = np.lexsort((-flagged["silent_hours"].to_numpy(), flagged["action"].map(ACTIONS.index).to_numpy()))
    return Sweep(flagged.iloc[order].reset_index(drop=True), at, before, len(now))


def _open_leads(ds: Dataset, at: pd.Timestamp, lead_ids: Sequence[str] | None) -> pd.DataFrame:
    """The (lead, as_of) frame of the leads open at ``at``; DataError for ids that are not leads of the dataset."""
    frame = scoring_frame(ds, "lead", at)
    if lead_ids is None:
        return frame
    table, id_col = entity_table(ds, "lead")
    unknown = sorted(set(lead_ids) - set(table[id_col].dropna()))
    if unknown:
        raise DataError(f"{len(unknown)} lead id(s) are not in the history (first: {unknown[0]!r})")
    return frame[frame["entity_id"].isin(list(lead_ids))].reset_index(drop=True)


def _evidence(
    features: pd.DataFrame, now: pd.DataFrame, then: pd.DataFrame, leads: pd.DataFrame, at: pd.Timestamp
) -> pd.DataFrame:
    """Per open lead: the scores then and now, the silence and what it means for the grade."""
    recency = features[SILENCE].to_numpy(dtype=float)
    silent = np.where(np.isnan(recency), features["age_days"].to_numpy(dtype=float) * 24, recency)
    last = at - pd.to_timedelta(np.round(recency * 3600), unit="s")
    steps = (silent // STEP_HOURS).astype(int)
    rank_now = now["grade"].map(GRADES.index).to_numpy(dtype=np.int64)  # int even with no leads
    rank_then = then["grade"].map({g: i for i, g in enumerate(GRADES)}).to_numpy(dtype=float)  # NaN: no grade then
    fell = rank_now > np.nan_to_num(rank_then, nan=len(GRADES))
    owners = leads.set_index("lead_id")["owner_rep_id"] if "owner_rep_id" in leads.columns else pd.Series(dtype=str)
    return pd.DataFrame(
        {
            "lead_id": features["entity_id"].to_numpy(),
            "owner_rep_id": owners.reindex(features["entity_id"]).to_numpy(),
            "as_of": at,
            "last_outbound_at": last,
            "silent_hours": np.round(silent, 1),
            "never_contacted": np.isnan(recency),
            "probability_then": then["probability"].to_numpy(),
            "score_then": then["score"].astype("Int64").array,
            "grade_then": then["grade"].to_numpy(),
            "probability_now": now["probability"].to_numpy(),
            "score_now": now["score"].to_numpy(),
            "grade_now": now["grade"].to_numpy(),
            "grade_fell": fell,
            "steps_down": steps,
            "effective_grade": np.array(GRADES)[np.minimum(rank_now + steps, len(GRADES) - 1)],
            "action": np.where(silent >= REASSIGN_HOURS, "reassign", np.where(steps >= 1, "follow_up", "review")),
        }
    )


def _notes(rows: pd.DataFrame, locale: Locale) -> list[str]:
    """Why each lead is listed, in the locale's words."""

    def note(key: str, **values: object) -> str:
        return text(f"sweep.note.{key}", locale, **NOTE_FIGURES, **values)

    out = []
    for r in rows.itertuples():
        parts = []
        if r.silent_hours >= STEP_HOURS:
            last = f"{r.last_outbound_at:%Y-%m-%d %H:%M} UTC" if not r.never_contacted else ""
            parts.append(note("never" if r.never_contacted else "silent", hours=int(r.silent_hours), last=last))
            if r.effective_grade != r.grade_now:
                parts.append(note("step", now=r.grade_now, effective=r.effective_grade, steps=r.steps_down))
            if r.action == "reassign":
                parts.append(note("pool"))
        if r.grade_fell:
            parts.append(
                note("fell", then=r.grade_then, now=r.grade_now, score_then=r.score_then, score_now=r.score_now)
            )
        out.append("; ".join(parts))
    return out
