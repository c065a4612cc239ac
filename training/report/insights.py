"""``salesml insights``: conversion and win rate by the value of each champion's top key factors, from the history.

The factors are the champion's own (its training report's global factors, by mean |SHAP| on test), each shown by
its leading feature; the rates are the history's, one case per lead or deal (``features.insights.values``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from features.crm.dataset import Dataset, read_dataset
from features.errors import DataError
from features.insights.values import ValueRate, latest_labelled, value_rates
from features.messages import Locale, local
from features.pit.build import build_features
from features.pit.catalog import CUTOFF_CALENDAR
from training.data import resolve_horizon, snapshot_frame
from training.report.champions import Champion, load_champion
from training.spec import load_spec

#: Features that say when a snapshot was taken, not what the lead or deal is: by them the rates would show the
#: snapshot policy (a lead last seen open at 14 days rarely converts), so the factors they lead are left out.
SNAPSHOT_FEATURES = ("age_days", *CUTOFF_CALENDAR)


@dataclass(frozen=True)
class FactorValues:
    """One key factor of a model: its name in the locale, the feature shown, its direction and the rate per value."""

    factor: str
    feature: str
    direction: str
    rates: list[ValueRate]


@dataclass(frozen=True)
class ModelInsights:
    """A champion's version, the label counted, how many cases, and its top key factors by value."""

    model: str
    version: str
    label: str
    cases: int
    factors: list[FactorValues]


def model_insights(name: str, data: Path, top: int, locale: Locale) -> ModelInsights:
    """The ``top`` key factors of ``name``'s champion by value on the history in ``data``; DataError without a
    champion or without a labelled case."""
    with tempfile.TemporaryDirectory() as tmp:
        champion = load_champion(name, Path(tmp))
    if champion is None:
        raise DataError(f"no {name} champion to take the key factors from: run salesml train --model {name}")
    return champion_insights(champion, read_dataset(data), top, locale)


def champion_insights(champion: Champion, ds: Dataset, top: int, locale: Locale) -> ModelInsights:
    """The ``top`` key factors of a champion by value on the history ``ds``; DataError without a labelled case."""
    spec, horizon = resolve_horizon(load_spec(champion.name)[0], ds)
    cases = latest_labelled(snapshot_frame(spec, ds), spec.label)
    if cases.empty:
        raise DataError(f"{ds.manifest.source}: no {spec.entity} with a known outcome to count")
    table = build_features(ds, spec.entity, cases[["entity_id", "cutoff_time"]])
    y = cases[spec.label].astype(int).to_numpy()
    kinds = {f.name: f.kind for f in champion.scorer.inputs}
    shown = [f for f in champion.report["global_factors"] if f["leading_feature"] not in SNAPSHOT_FEATURES][:top]
    factors = [
        FactorValues(
            local((factor["zh"], factor["en"]), locale),
            factor["leading_feature"],
            factor["direction"],
            value_rates(table[factor["leading_feature"]], y, kinds[factor["leading_feature"]] != "categorical"),
        )
        for factor in shown
    ]
    return ModelInsights(champion.name, champion.version, horizon, len(cases), factors)
