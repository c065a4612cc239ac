"""Out-of-time quality on exports shaped like real ones that defeated earlier versions: leads table only,
growing volume and conversions months after creation (``growing``); a channel taking over and the base rate
rising late (``regime``). salesml is trained with defaults on the earliest 75% of leads and scores the latest 25%
with their outcomes removed; it must rank them at least as well as a plain logistic regression and a default
LightGBM fitted on the same early leads' columns, and train without any setting changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.crm.dataset import read_dataset
from features.synth.shapes import synthesize_shape
from training.compare import compare_baselines, early_export, early_export_at_cut, split_entities

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


def test_at_the_cut_the_early_leads_show_only_what_was_known_then(tmp_path: Path) -> None:
    """The fresh-export protocol: the same early leads, no outcome after the first late lead's creation, the
    export dated then; slow conversions are still to come, so fewer show than in the whole export."""
    synthesize_shape(tmp_path / "growing", "growing", leads=2_000, seed=0)
    ds = read_dataset(tmp_path / "growing")
    late, _ = split_entities(ds, "lead", 0.25)
    cut = ds.tables["leads"]["created_at"][late].min()
    known, whole = early_export_at_cut(ds, "lead", late).tables["leads"], early_export(ds, "lead", late)
    assert set(known["lead_id"]) == set(whole.tables["leads"]["lead_id"])
    for column in ("converted_at", "disqualified_at"):
        assert (known[column].dropna() <= cut).all(), column
    assert 0 < known["converted_at"].notna().sum() < whole.tables["leads"]["converted_at"].notna().sum()
    result = compare_baselines(tmp_path / "growing", "lead_score", trials=1, at_cut=True)
    assert "as known at the cut" in result.split
    assert result.test_entities == int(late.sum())  # the late leads are scored and judged as before
