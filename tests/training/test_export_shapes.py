"""Out-of-time quality on exports shaped like real ones that defeated earlier versions: leads table only,
growing volume and conversions months after creation (``growing``); a channel taking over and the base rate
rising late (``regime``). salesml is trained with defaults on the earliest 75% of leads and scores the latest 25%
with their outcomes removed; it must rank them at least as well as a plain logistic regression and a default
LightGBM fitted on the same early leads' columns, and train without any setting changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.synth.shapes import synthesize_shape
from training.compare import compare_baselines

pytestmark = pytest.mark.slow
BASELINES = ("plain logistic regression", "default LightGBM")


@pytest.mark.parametrize("shape", ["growing", "regime"])
def test_default_training_ranks_late_leads_at_least_as_well_as_plain_baselines(shape: str, tmp_path: Path) -> None:
    data = tmp_path / shape
    synthesize_shape(data, shape, seed=0)  # the real exports' sizes: 8,000 and 41,000 leads
    result = compare_baselines(data, "lead_score", test_share=0.25)
    print(shape, result.auc, result.salesml)
    assert result.test_positives >= 150
    assert result.auc["salesml"] >= max(result.auc[name] for name in BASELINES)
    assert result.salesml["promoted"]  # shows skill, so it is served
    assert result.salesml["distinct_probabilities"] >= 20
