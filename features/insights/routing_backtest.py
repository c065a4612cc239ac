"""How the routing rule would have done: the model's and the field rule's first choices for past leads against the
rep who actually got each lead, and the conversion of leads whose owner was that choice against the others'."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, to_utc_scalar
from features.insights.routing import (
    LOAD_CAP_MIN,
    MODEL_ORDER,
    RULE_ORDER,
    ProbabilityModel,
    lead_history,
    ordered,
    score_as_owner,
    won_customers,
    won_deals,
)
from features.pit.frames import LEAD_HORIZON_DAYS
from features.pit.timeline import DAY_NS, NAT, column, times


def backtest(
    ds: Dataset, model: ProbabilityModel, start: pd.Timestamp, end: pd.Timestamp, cap_factor: float | None
) -> pd.DataFrame:
    """Per lead created in [start, end) with an owner and a known 30-day outcome: its owner, the model's and the
    rule's first choice among the reps employed at its creation (routed then, as of its created_at), the true
    owner's rank in each, and whether it converted within 30 days. HR's active flag is today's status, not
    history's, so only left_at and hired_at are checked here."""
    leads = ds.get("leads")
    created, converted = times(leads, "created_at"), times(leads, "converted_at")
    horizon = LEAD_HORIZON_DAYS * DAY_NS
    keep = (
        (created != NAT)
        & (created >= start.value)
        & (created < end.value)
        & (created + horizon <= to_utc_scalar(ds.manifest.exported_at).value)
        & column(leads, "owner_rep_id").notna().to_numpy()
    )
    chosen, at = leads[keep].reset_index(drop=True), created[keep]
    reps = ds.get("reps")
    hired, left = times(reps, "hired_at"), times(reps, "left_at")
    employed = ((hired == NAT) | (hired[None, :] <= at[:, None])) & ~((left != NAT) & (left[None, :] <= at[:, None]))
    lead, rep = np.nonzero(employed)
    pairs = pd.DataFrame(
        {
            "lead": lead,
            "lead_id": chosen["lead_id"].to_numpy()[lead],
            "cutoff_time": chosen["created_at"].to_numpy()[lead],
            "rep_id": reps["rep_id"].astype(str).to_numpy()[rep],
            "region": column(reps, "region").astype("string").to_numpy()[rep],
        }
    )
    pairs = pairs.join(score_as_owner(lead_history(ds, chosen["lead_id"]), model, pairs))
    won = won_deals(ds)
    wins = {i: won_customers(won, pd.Timestamp(t, tz="UTC")) for i, t in enumerate(at)}
    pairs["won_customers_90d"] = [wins[i].get(r, 0) for i, r in zip(pairs["lead"], pairs["rep_id"], strict=True)]
    pairs["region_match"] = pairs["region"].eq(chosen["region"].to_numpy()[pairs["lead"]]).fillna(False).astype(bool)
    median = pairs.groupby("lead")["open_leads"].transform("median").to_numpy()
    cap = np.maximum(cap_factor * median, LOAD_CAP_MIN) if cap_factor is not None else np.inf
    pairs["at_cap"] = pairs["open_leads"].to_numpy() >= cap
    model_order = ordered(pairs, {"lead": True, **MODEL_ORDER})
    rule_order = ordered(pairs, {"lead": True, **RULE_ORDER})
    out = pd.DataFrame(
        {
            "lead_id": chosen["lead_id"].astype(str),
            "created_at": chosen["created_at"],
            "owner_rep_id": chosen["owner_rep_id"].astype(str),
            "model_first": _firsts(model_order[~model_order["at_cap"]], len(chosen)),
            "rule_first": _firsts(rule_order, len(chosen)),
            "model_probability": model_order.groupby("lead")["probability"].first().reindex(range(len(chosen))),
            "converted_30d": (converted[keep] != NAT) & (converted[keep] - at <= horizon),
        }
    )
    return out


def _firsts(ordered: pd.DataFrame, n: int) -> np.ndarray:
    """Per lead 0..n-1, the rep first in ``ordered`` (None when it has none)."""
    first = ordered.groupby("lead", sort=False)["rep_id"].first()
    return first.reindex(range(n)).to_numpy(dtype=object)


@dataclass(frozen=True)
class Share:
    """Leads in a group and how many converted within 30 days, with a 95% Wilson interval of the rate."""

    n: int
    converted: int

    @property
    def rate(self) -> float:
        return self.converted / self.n if self.n else float("nan")

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        if not self.n:
            return float("nan"), float("nan")
        p, n = self.rate, self.n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return centre - half, centre + half


def agreement(per_lead: pd.DataFrame, choice: str) -> tuple[Share, Share, tuple[float, float, float]]:
    """Leads whose actual owner was ``choice`` (model_first or rule_first) against the others, and the difference
    of their conversion rates with a 95% normal interval. Observational: owners were not assigned at random."""
    agreed = (per_lead["owner_rep_id"] == per_lead[choice]).to_numpy()
    converted = per_lead["converted_30d"].to_numpy(dtype=bool)
    same = Share(int(agreed.sum()), int(converted[agreed].sum()))
    other = Share(int((~agreed).sum()), int(converted[~agreed].sum()))
    diff = same.rate - other.rate
    se = np.sqrt(sum(s.rate * (1 - s.rate) / s.n for s in (same, other) if s.n)) if same.n and other.n else np.nan
    return same, other, (diff, diff - 1.96 * se, diff + 1.96 * se)
