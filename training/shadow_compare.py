"""Champion against challenger on the same live calls: each challenger record of a shadow-scored call
(``serving.shadow``) paired with the champion's answered record of the same call and item.

The pairs show how often the two give the same grade, and how they rank: the realised ROC AUC of each where the
outcome is known (the monitoring join, the training label rule) with the paired bootstrap of their difference, as the
gate's floor judges a model against a baseline, and the estimated (CBPE) AUC of each where it is not. A challenger
that loses on labelled calls beyond noise is not promoted without ``--force``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.crm.dataset import Dataset
from features.errors import DataError
from features.insights.monitoring.outcomes import SHADOW, scored, with_outcomes
from features.insights.monitoring.quality import GRADES, estimated
from features.scoring.pyfunc import CHALLENGER, CHAMPION, alias_version
from features.scoring.scorer import Scorer
from training.metrics import auc_difference_interval
from training.registry import load_scorer
from training.split import MIN_EVAL_CLASS

KEYS = ["request_id", "entity_id"]
NO_CHALLENGER = "{name} has no challenger besides its champion v{champion}: nothing to compare"


@dataclass(frozen=True)
class Comparison:
    """The figures of champion and challenger on the calls both scored; AUCs are None where they cannot be had."""

    model: str
    champion: str
    challenger: str
    pairs: int
    agreement: float | None  # share of items given the same grade
    confusion: dict[str, dict[str, int]]  # champion's grade -> challenger's grade -> items
    labelled: int
    realised: dict[str, float | None]  # role -> ROC AUC on the labelled pairs
    difference_95: tuple[float, float] | None  # challenger minus champion, entities bootstrapped
    unlabelled: int
    estimated: dict[str, float | None]  # role -> CBPE ROC AUC on the unlabelled pairs

    @property
    def loses(self) -> bool:
        """Worse than the champion on labelled calls beyond noise: the whole interval of the difference below 0."""
        return self.difference_95 is not None and self.difference_95[1] < 0

    def verdict(self) -> str:
        """The comparison in one line."""
        who = f"{self.model} challenger v{self.challenger} against champion v{self.champion}"
        if not self.pairs:
            return f"{who}: no shadow-scored calls in the log (SALESML_SHADOW_SHARE, and export the challenger)"
        agree = f"grades agree on {self.agreement:.0%} of {self.pairs:,} items"
        if self.difference_95 is None:
            est = self.estimated
            guess = f"estimated ROC AUC {_auc(est['challenger'])} vs {_auc(est['champion'])}"
            return f"{who}: {agree}; too few labelled calls to judge ({self.labelled:,}); {guess}"
        low, high = self.difference_95
        outcome = "loses, beyond noise" if self.loses else "wins, beyond noise" if low > 0 else "ties within noise"
        return (
            f"{who}: {outcome}, realised ROC AUC {_auc(self.realised['challenger'])} vs"
            f" {_auc(self.realised['champion'])} on {self.labelled:,} labelled items (95% interval of the difference"
            f" {low:+.3f}..{high:+.3f}); {agree}"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"loses": self.loses, "verdict": self.verdict()}


def challenger_of(name: str) -> tuple[Scorer, str, str]:
    """The champion, its version and the challenger's; DataError when there is no challenger apart from it."""
    scorer, champion = load_scorer(name, CHAMPION)
    challenger = alias_version(name, CHALLENGER)
    if challenger is None or challenger == champion:
        raise DataError(NO_CHALLENGER.format(name=name, champion=champion))
    return scorer, champion, challenger


def has_shadow(records: list[dict[str, Any]], name: str, version: str) -> bool:
    """Whether the log holds shadow scores of ``name`` version ``version``."""
    return any(r.get(SHADOW) and r.get("model") == name and str(r.get("model_version")) == version for r in records)


def compare(
    ds: Dataset | None, records: list[dict[str, Any]], name: str, since: pd.Timestamp | None = None
) -> Comparison:
    """The registry's champion and challenger of ``name`` on the calls in ``records`` both scored, with the
    outcomes ``ds`` shows (None: none known)."""
    scorer, champion, challenger = challenger_of(name)
    answered = scored(records, name, since)
    shadow = scored(records, name, since, shadow=True)
    pairs = answered[answered["model_version"].eq(champion)].merge(
        shadow.loc[shadow["model_version"].eq(challenger), [*KEYS, "probability", "grade"]].drop_duplicates(KEYS),
        on=KEYS,
        suffixes=("", "_challenger"),
    )
    if ds is not None:
        meta = scorer.metadata
        pairs = with_outcomes(ds, scorer.entity, pairs, meta.get("label", "label"), meta.get("horizon_days"))
    else:
        pairs["label"] = np.nan
    labelled = pairs["label"].notna().to_numpy()
    p, q = pairs["probability"].to_numpy(), pairs["probability_challenger"].to_numpy()
    y = pairs["label"].to_numpy()[labelled].astype(int)
    judged = min(int(y.sum()), int((1 - y).sum())) >= MIN_EVAL_CLASS
    groups = pairs["entity_id"].to_numpy()[labelled]
    return Comparison(
        model=name,
        champion=champion,
        challenger=challenger,
        pairs=int(len(pairs)),
        agreement=float(pairs["grade"].eq(pairs["grade_challenger"]).mean()) if len(pairs) else None,
        confusion=_confusion(pairs["grade"], pairs["grade_challenger"]),
        labelled=int(labelled.sum()),
        realised={
            "champion": float(roc_auc_score(y, p[labelled])) if judged else None,
            "challenger": float(roc_auc_score(y, q[labelled])) if judged else None,
        },
        difference_95=auc_difference_interval(y, q[labelled], p[labelled], groups) if judged else None,
        unlabelled=int((~labelled).sum()),
        estimated={
            "champion": estimated(p[~labelled]).get("roc_auc"),
            "challenger": estimated(q[~labelled]).get("roc_auc"),
        },
    )


def _confusion(champion: pd.Series, challenger: pd.Series) -> dict[str, dict[str, int]]:
    table = pd.crosstab(champion, challenger).reindex(index=list(GRADES), columns=list(GRADES), fill_value=0)
    return {str(g): {str(h): int(n) for h, n in row.items()} for g, row in table.iterrows()}


def _auc(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
