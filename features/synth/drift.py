"""A world that changes part-way: after a date the lead-source mix shifts and buyer intent shows differently.

Models are trained on the past and served on the future; this is how the simulator makes the future unlike the past.
After the date a paid channel (``ads``) takes a large share of the leads while referrals and trade shows dry up
(what a monitor sees in its inputs), and the relations a model learned change (what only outcomes show): the paid
channel's leads, once among the worst, now convert well, referrals lose their edge, buyers who research a lot on
the website now mostly compare and leave, smaller companies buy more readily than large ones, and early activation
counts for less. ``strength`` blends every change from none (0) to the full change (1). ``_truth/drift.json``
records the date, the mixes and every effect before and after.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from features.synth.draw import pick
from features.synth.world import COMPANY_SIZES, SOURCE_SHARE, SOURCES


@dataclass(frozen=True)
class LeadEffects:
    """The planted effects on a lead's conversion log-odds that a drifting world changes (the others stay)."""

    base: float
    source: np.ndarray
    size: np.ndarray
    engagement: float
    activation: float


TRUTH_FILE = "drift.json"
#: The source mix after the date (web_form, trade_show, referral, cold_call, ads, partner): ads take half.
DRIFTED_SOURCE_SHARE = np.array([0.20, 0.05, 0.02, 0.13, 0.50, 0.10])
#: The planted effects after the date; the base rises so that conversion overall stays about where it was.
DRIFTED = LeadEffects(
    base=-0.8,
    source=np.array([0.0, 0.12, 0.1, -0.56, 0.45, 0.4]),
    size=np.array([0.28, 0.2, 0.0, -0.36]),
    engagement=-0.7,
    activation=-0.2,
)
#: What each drifted effect is called among the planted drivers (``_truth/drivers.yaml``).
DRIVER_NAMES = {
    "source": "source",
    "size": "company_size",
    "engagement": "web_engagement",
    "activation": "activation_7d",
}


def _blend(before: np.ndarray | float, after: np.ndarray | float, strength: float) -> np.ndarray | float:
    return before + strength * (after - before)


@dataclass(frozen=True)
class Drift:
    """The change from the ``planted`` effects: from ``day`` (days since the window start) on, at ``strength`` (0:
    none, 1: the full change)."""

    date: pd.Timestamp
    day: float
    strength: float
    planted: LeadEffects

    @property
    def source_share(self) -> np.ndarray:
        return np.asarray(_blend(SOURCE_SHARE, DRIFTED_SOURCE_SHARE, self.strength))

    @property
    def effects(self) -> LeadEffects:
        return LeadEffects(
            **{
                f.name: _blend(getattr(self.planted, f.name), getattr(DRIFTED, f.name), self.strength)
                for f in fields(LeadEffects)
            }
        )

    def after(self, created: np.ndarray) -> np.ndarray:
        return created >= self.day

    def sources(self, rng: np.random.Generator, created: np.ndarray, source: np.ndarray) -> np.ndarray:
        """``source`` with the leads created after the date drawn again from the drifted mix (``rng`` a generator of
        its own, so the leads before the date keep their sources)."""
        return np.where(self.after(created), pick(rng, self.source_share, len(source)), source)

    def truth(self) -> dict[str, object]:
        """What changed and how much, for ``_truth/drift.json``."""
        after = self.effects
        effects = {
            DRIVER_NAMES[name]: {
                "before": _named(name, getattr(self.planted, name)),
                "after": _named(name, getattr(after, name)),
            }
            for name in DRIVER_NAMES
        }
        return {
            "date": self.date.isoformat(),
            "strength": self.strength,
            "shifted_features": ["source"],
            "source_share": {"before": _shares(SOURCE_SHARE), "after": _shares(self.source_share)},
            "changed_drivers": list(DRIVER_NAMES.values()),
            "effects_log_odds": effects,
            "base_log_odds": {"before": self.planted.base, "after": round(float(after.base), 4)},
        }

    def write_truth(self, directory: Path) -> None:
        (directory / TRUTH_FILE).write_text(json.dumps(self.truth(), indent=1), encoding="utf-8")


_LEVELS = {"source": SOURCES, "size": COMPANY_SIZES}


def _named(name: str, value: np.ndarray | float) -> dict[str, float] | float:
    """An effect in drift.json: per level for a categorical driver, one number per unit for the others."""
    values = np.asarray(value, dtype=float)
    if name in _LEVELS:
        return {level: round(float(x), 4) for level, x in zip(_LEVELS[name], values, strict=True)}
    return round(float(values), 4)


def _shares(shares: np.ndarray) -> dict[str, float]:
    return {source: round(float(x), 4) for source, x in zip(SOURCES, shares / shares.sum(), strict=True)}
