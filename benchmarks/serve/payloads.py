"""Request bodies for the serving benchmark: leads of the synthetic CRM the model was trained on, with realistic
activity histories, as a CRM sends them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROUTE = "/v1/leads/score"
TOP, BATCH = 5, 1_000  # factors each way; leads a batch request
SINGLE_ID = "BENCH-0001"

# Activity mix of a lead being worked: (type, share, direction or None for either, duration range in s or None)
MIX = (
    ("call", 0.30, "outbound", (20, 900)),
    ("email", 0.20, None, None),
    ("web_visit", 0.18, "inbound", (10, 600)),
    ("message", 0.10, None, None),
    ("visit", 0.07, "outbound", (1_800, 7_200)),
    ("download", 0.05, "inbound", None),
    ("meeting", 0.05, "outbound", (1_800, 5_400)),
    ("form", 0.03, "inbound", None),
    ("demo", 0.02, "outbound", (2_400, 5_400)),
)
NOTES = (
    "客户关注预算审批流程和上线周期",
    "已沟通需求，约了下周电话",
    "客户在比价，关注交付时间",
    "初步了解需求",
    "Asked about delivery time",
    "Budget approved for Q1, wants a demo for the CTO",
    "产品手册下载",
    "跟进中",
)
ROLES = ("ceo", "cto", "procurement", "finance", "engineer")


def _iso(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Crm:
    """Values the synthetic CRM uses, so requests name real reps, accounts and categories."""

    as_of: pd.Timestamp
    reps: list[str]
    accounts: list[str]
    categories: dict[str, list[str]]

    @classmethod
    def read(cls, data: Path) -> Crm:
        leads = pd.read_parquet(data / "leads.parquet")
        as_of = pd.Timestamp(leads["created_at"].max()).ceil("D") + pd.Timedelta(hours=9)
        columns = ("source", "region", "industry", "company_size")
        return cls(
            as_of,
            sorted(pd.read_parquet(data / "reps.parquet")["rep_id"].astype(str)),
            sorted(pd.read_parquet(data / "accounts.parquet")["account_id"].astype(str)),
            {c: sorted(leads[c].dropna().astype(str).unique()) for c in columns},
        )


def lead(crm: Crm, rng: np.random.Generator, lead_id: str, activities: int, days: float = 10.0) -> dict[str, Any]:
    """A lead created about ``days`` before ``as_of`` with ``activities`` events between then and ``as_of``."""
    created = crm.as_of - pd.Timedelta(days=days) + pd.Timedelta(minutes=int(rng.integers(0, 120)))
    owner = str(rng.choice(crm.reps))
    span_s = (crm.as_of - created).total_seconds()
    offsets = np.sort(rng.uniform(60, span_s - 60, activities))
    shares = np.array([m[1] for m in MIX])
    kinds = rng.choice(len(MIX), size=activities, p=shares / shares.sum())
    events = []
    for offset, k in zip(offsets, kinds, strict=True):
        kind, _, direction, duration = MIX[k]
        when = created + pd.Timedelta(seconds=float(offset))
        event: dict[str, Any] = {"occurred_at": _iso(when), "type": kind}
        event["direction"] = direction or ("inbound" if rng.random() < 0.4 else "outbound")
        if duration is not None:
            event["duration_s"] = int(rng.integers(*duration))
        if kind in ("visit", "meeting", "demo"):
            event["contact_role"] = str(rng.choice(ROLES))
        if rng.random() < 0.4:
            event["note"] = str(rng.choice(NOTES))
        if event["direction"] == "outbound":
            event["rep_id"] = owner
        if rng.random() < 0.2:  # logged later, but before as_of
            late = min(when + pd.Timedelta(hours=float(rng.uniform(1, 48))), crm.as_of)
            event["recorded_at"] = _iso(late)
        events.append(event)
    events[0] = {"occurred_at": _iso(created + pd.Timedelta(seconds=30)), "type": "form", "direction": "inbound"}
    return {
        "lead_id": lead_id,
        "created_at": _iso(created),
        **{c: str(rng.choice(values)) for c, values in crm.categories.items()},
        "owner_rep_id": owner,
        "account_id": str(rng.choice(crm.accounts)),
        "activities": events,
    }


def body(crm: Crm, leads: list[dict[str, Any]]) -> bytes:
    request = {"as_of": _iso(crm.as_of), "locale": "zh-CN", "top": TOP, "leads": leads}
    return json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def single_body(crm: Crm, activities: int, seed: int) -> bytes:
    return body(crm, [lead(crm, np.random.default_rng(seed), SINGLE_ID, activities)])


def numbered(payload: bytes, i: int) -> bytes:
    """The single-lead request with its lead under the i-th id."""
    return payload.replace(f'"{SINGLE_ID}"'.encode(), f'"{SINGLE_ID}-{i:06d}"'.encode(), 1)


def batch_body(crm: Crm, size: int, seed: int, low: int = 20, high: int = 100) -> bytes:
    rng = np.random.default_rng(seed)
    counts = rng.integers(low, high + 1, size)
    return body(crm, [lead(crm, rng, f"BENCH-{seed}-{i:04d}", int(n)) for i, n in enumerate(counts)])
