"""The note keyword heat maps: mentions of each keyword category on the open deals, per deal and per team."""

from __future__ import annotations

import pandas as pd

from features.crm.dataset import Dataset
from features.pit.catalog import note_name
from features.pit.keywords import DEFAULT_LEXICON, Lexicon
from training.report import charts
from training.report.section import Section

HEAT_DEALS = 15  # open deals with the most keyword mentions in the per-deal heat map


def keyword_section(
    ds: Dataset, deals: pd.DataFrame | None, t: dict[str, str], zh_labels: bool, lexicon: Lexicon = DEFAULT_LEXICON
) -> Section:
    """Note keyword mentions on the open deals (as known at the report time): the deals with most mentions, and
    each team's mentions per open deal, by category."""
    section = Section("keywords", t["keywords"], paragraphs=[t["kw_note"]])
    if not ds.has("activities") or "note" not in ds.get("activities").columns:
        section.notes.append(f"{t['skipped']}: activities have no note column")
        return section
    if deals is None or not len(deals):
        section.notes.append(f"{t['skipped']}: no open deals")
        return section
    names = [c.zh if zh_labels else c.en for c in lexicon.values()]
    counts = pd.DataFrame(deals[[note_name(k) for k in lexicon]].to_numpy(), columns=names, index=deals["entity_id"])
    top = counts.loc[counts.sum(axis=1).sort_values(ascending=False, kind="stable").index[:HEAT_DEALS]]
    top = top[top.sum(axis=1) > 0]
    if len(top):
        section.pictures.append({"title": t["kw_deals"].format(n=len(top)), "uri": charts.heat_map(top, ".0f")})
    reps = ds.get("reps")
    owners = ds.get("opportunities").set_index("opportunity_id").get("owner_rep_id")
    if "team" not in reps.columns or owners is None:
        section.notes.append(f"{t['skipped']}: {t['kw_teams']} (no reps.team or opportunities.owner_rep_id)")
        return section
    team = counts.index.map(owners).map(reps.set_index("rep_id")["team"])
    per_team = counts.groupby(pd.Series(team, index=counts.index).fillna("(none)").to_numpy()).mean()
    section.pictures.append({"title": t["kw_teams"], "uri": charts.heat_map(per_team, ".2f")})
    return section
