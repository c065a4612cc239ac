"""Logged predictions joined with the outcomes a newer CRM export shows, by the label rule training uses.

A prediction gets its label only once its label window has closed by the export (``label_known_at``): the same rows
training would keep, so realised figures compare with the test figures. The slice columns (lead source, region,
industry, company size, deal size band, owner team) come from the export's own records of the entity.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc, to_utc_scalar
from features.pit.frames import LEAD_HORIZON_DAYS, entity_table, label_frame, label_known_at
from features.pit.timeline import NAT, lookup, times

#: The prediction log's daily files (``serving.predlog`` writes them).
LOG_FILE = "predictions-{:%Y-%m-%d}.jsonl"
NO_LOG = "--log: no prediction log folder at {folder}"
#: The field marking a challenger's record of a shadow-scored call (never answered; ``serving.shadow``).
SHADOW = "shadow"
#: Deal size bands: quantiles of the export's amounts.
AMOUNT_BANDS = 4
SLICES = {
    "lead": ("source", "region", "industry", "company_size", "team"),
    "opportunity": ("source", "region", "industry", "size_band", "team"),
}


def read_log(directory: Path) -> list[dict[str, Any]]:
    """Every record in the prediction log directory, oldest file first. Records end at a line feed alone: a logged
    value may hold a character ``str.splitlines`` would split at (U+0085, U+2028, a form feed...), written as is."""
    return [
        json.loads(line)
        for file in sorted(directory.glob(LOG_FILE.replace("{:%Y-%m-%d}", "*")))
        for line in file.read_text(encoding="utf-8").split("\n")
        if line.strip()
    ]


def scored(
    records: list[dict[str, Any]], model: str, since: pd.Timestamp | None = None, shadow: bool = False
) -> pd.DataFrame:
    """The model's scored items in the log (one row each): call, time scored for, version, probability, grade,
    whether it warned, and its inputs (a dict); the answered ones, or (``shadow``) the challenger's shadow scores."""
    rows = [
        r
        for r in records
        if r.get("model") == model
        and "probability" in r
        and "inputs" in r
        and r.get("entity_id") is not None
        and bool(r.get(SHADOW)) == shadow
    ]
    frame = pd.DataFrame(
        {
            "request_id": [r.get("request_id") for r in rows],
            "entity_id": pd.Series([str(r["entity_id"]) for r in rows], dtype="string"),
            "cutoff_time": to_utc(pd.Series([r["as_of"] for r in rows], dtype=object)),
            "model_version": [str(r.get("model_version")) for r in rows],
            "probability": np.array([r["probability"] for r in rows], dtype=float),
            "grade": [r.get("grade") for r in rows],
            "warned": np.array([bool(r.get("warnings")) for r in rows], dtype=bool),
            "inputs": [r["inputs"] for r in rows],
        }
    )
    if since is not None:
        frame = frame[frame["cutoff_time"] >= since].reset_index(drop=True)
    return frame


def with_outcomes(
    ds: Dataset, entity: str, predictions: pd.DataFrame, label: str, horizon_days: int | None
) -> pd.DataFrame:
    """``predictions`` with ``label`` (1.0/0.0; NaN while its window is open, or for an entity the export lacks) and
    the slice columns; ``label`` and ``horizon_days`` as the model was trained (None: an eventual outcome)."""
    table, id_col = entity_table(ds, entity)
    codes = lookup(predictions["entity_id"], table[id_col])
    created = times(table, "created_at")[np.maximum(codes, 0)]
    cutoffs = predictions["cutoff_time"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
    known = (codes >= 0) & (created != NAT) & (created <= cutoffs)
    out = predictions.copy()
    out["label"] = np.nan
    frame = predictions.loc[known, ["entity_id", "cutoff_time"]].reset_index(drop=True)
    if len(frame):
        labels = label_frame(ds, entity, frame, horizon_days=horizon_days or LEAD_HORIZON_DAYS)[label]
        closed = label_known_at(ds, entity, frame, horizon_days) <= to_utc_scalar(ds.manifest.exported_at)
        value = labels.astype("Float64").where(closed.to_numpy() & labels.notna().to_numpy())
        out.loc[known, "label"] = value.to_numpy(dtype=float, na_value=np.nan)
    slices = _slice_columns(ds, entity, table.iloc[np.maximum(codes, 0)].reset_index(drop=True))
    for name in SLICES[entity]:
        out[name] = slices[name].where(known).to_numpy()
    return out


def _slice_columns(ds: Dataset, entity: str, rows: pd.DataFrame) -> pd.DataFrame:
    """Per row of the entity's table, its slice values; a deal's region and industry are its account's, its source
    its lead's."""
    reps = ds.get("reps").set_index("rep_id")["team"]
    out = pd.DataFrame({"team": rows["owner_rep_id"].map(reps).astype(object)})
    if entity == "lead":
        for name in ("source", "region", "industry", "company_size"):
            out[name] = rows[name].astype(object)
        return out
    accounts = ds.get("accounts").set_index("account_id")
    leads = ds.get("leads").set_index("lead_id")["source"]
    for name in ("region", "industry"):
        out[name] = rows["account_id"].map(accounts[name]).astype(object)
    out["source"] = rows["lead_id"].map(leads).astype(object)
    amounts = ds.get("opportunities")["amount"].astype(float)
    edges = np.unique(np.nanquantile(amounts, np.linspace(0, 1, AMOUNT_BANDS + 1)))
    band = pd.cut(rows["amount"].astype(float), edges, include_lowest=True)
    out["size_band"] = band.astype(str).where(band.notna()).astype(object)
    return out
