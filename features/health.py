"""Data health of a canonical dataset: column coverage, quarantined rows, the stage funnel, stage dwell and lead
activation, for the explore notebook.

Every summary reads the dataset as exported; for a view as of an earlier time pass ``features.pit.dataset_as_of``
(then nothing later is counted). Activation comes from the lead features, so it is the number the models see.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features, typical_dwell_days
from features.dataset import Dataset, read_manifest
from features.schema import TABLE_ORDER

QUARANTINE_DIR = "quarantine"
ACTIVATION_DAYS = 7
ACTIVATION_HEALTHY = 0.65  # field reference: a week's new leads activated at this rate or more is healthy
ACTIVATION_WARNING = 0.52  # below this a week is a warning


def coverage(ds: Dataset) -> pd.DataFrame:
    """Per table and column, the share of rows with a value, emptiest first: a column an importer left mostly
    empty shows here before it silently becomes a useless feature."""
    parts = [
        pd.DataFrame({"table": name, "column": df.columns, "rows": len(df), "filled": df.notna().mean().to_numpy()})
        for name in TABLE_ORDER
        if ds.has(name)
        for df in [ds.get(name)]
    ]
    return pd.concat(parts, ignore_index=True).sort_values("filled", kind="stable", ignore_index=True)


def quarantine_summary(data: Path) -> pd.DataFrame:
    """Per table: rows kept, rows quarantined at import (from the manifest) and the most frequent first broken
    rule from ``quarantine/<table>.csv``, so an analyst sees what was set aside and why."""
    manifest = read_manifest(data)
    rows = []
    for name in TABLE_ORDER:
        file = data / QUARANTINE_DIR / f"{name}.csv"
        reasons = pd.read_csv(file, usecols=["reason"])["reason"] if file.exists() else pd.Series(dtype=str)
        first_rule = reasons.astype(str).str.split(r";|: ", regex=True).str[0].value_counts()
        rows.append(
            {
                "table": name,
                "kept": manifest.counts.get(name, 0),
                "quarantined": manifest.quarantined.get(name, len(reasons)),
                "top_reasons": "; ".join(f"{rule} ({n})" for rule, n in first_rule.head(3).items()),
            }
        )
    return pd.DataFrame(rows)


def _stage_index(ds: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """Stage changes with the stage's position in the manifest's funnel (unknown stages dropped)."""
    names = ds.manifest.stage_names()
    changes = ds.get("stage_changes")
    changes = changes.assign(step=changes["stage"].map({n: i for i, n in enumerate(names)}))
    return changes.dropna(subset=["step"]).astype({"step": int}), names


def funnel(ds: Dataset) -> pd.DataFrame:
    """Per funnel stage: deals that reached it, the share of the previous stage that did, and how many of them
    are won, lost or still open at the export (a deal reaches every stage up to its furthest one)."""
    changes, names = _stage_index(ds)
    furthest = changes.groupby("opportunity_id")["step"].max()
    deals = ds.get("opportunities").set_index("opportunity_id")
    outcome = deals["outcome"].reindex(furthest.index).fillna("open").astype(str)
    reached = np.array([(furthest >= i).sum() for i in range(len(names))])
    out = pd.DataFrame({"stage": names, "reached": reached})
    out["from_previous"] = out["reached"] / np.concatenate([[len(furthest)], reached[:-1]]).clip(1)
    for result in ("won", "lost", "open"):
        out[result] = [int(((furthest >= i) & (outcome == result)).sum()) for i in range(len(names))]
    return out


def stage_dwell(ds: Dataset) -> pd.DataFrame:
    """Days spent in each stage (to the next stage change or the close) beside the field's typical dwell; deals
    still in a stage at the export are counted apart, not as finished stays."""
    changes, names = _stage_index(ds)
    changes = changes.sort_values(["opportunity_id", "changed_at"])
    closed = changes["opportunity_id"].map(ds.get("opportunities").set_index("opportunity_id")["closed_at"])
    left = changes.groupby("opportunity_id")["changed_at"].shift(-1).fillna(closed)
    days = (left - changes["changed_at"]).dt.total_seconds() / 86_400
    stays = pd.DataFrame({"stage": changes["stage"], "days": days})
    finished = stays.dropna().groupby("stage")["days"]
    out = pd.DataFrame({"stage": names, "typical_days": typical_dwell_days(names)[:-1]}).set_index("stage")
    out["finished"] = finished.size()
    out["median_days"] = finished.median()
    out["p90_days"] = finished.quantile(0.9)
    out["still_in_stage"] = stays["days"].isna().groupby(stays["stage"]).sum()
    return out.fillna({"finished": 0, "still_in_stage": 0}).astype({"finished": int, "still_in_stage": int})


def lead_activation(ds: Dataset, freq: str = "W-SUN") -> pd.DataFrame:
    """Per week of creation: new leads whose first 7 days are over at the export, the share with at least two
    effective interactions in those days (the lead features' ``activated_7d``), and the field's verdict."""
    leads = ds.get("leads")
    done = leads["created_at"] + pd.Timedelta(days=ACTIVATION_DAYS) <= ds.manifest.exported_at
    frame = pd.DataFrame(
        {
            "entity_id": leads.loc[done, "lead_id"].to_numpy(),
            "cutoff_time": (leads.loc[done, "created_at"] + pd.Timedelta(days=ACTIVATION_DAYS)).to_numpy(),
        }
    )
    table = build_features(ds, "lead", frame)
    week = leads.loc[done, "created_at"].dt.tz_convert(None).dt.to_period(freq).to_numpy()
    out = table.groupby(week)["activated_7d"].agg(new_leads="size", activation_rate="mean")
    out.index = out.index.astype(str).rename("week")
    verdict = np.where(out["activation_rate"] >= ACTIVATION_HEALTHY, "healthy", "watch")
    out["verdict"] = np.where(out["activation_rate"] < ACTIVATION_WARNING, "warning", verdict)
    return out.reset_index()
