"""Per-segment models against the simulator's truth: with region-specific drivers planted
(``synthesize(segment_drivers=True)``, recorded in ``_truth/drivers.yaml``), lead_score trained with
``segments: {by: region}`` gets segment models that beat the global model on the test rows of the regions whose
drivers differ (and become their champions), while on the other regions what is served (the segment model where its
gate let it in, else the global one) is not more than ``MAX_LOSS`` ROC AUC below the global model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from features.synth import synthesize
from features.synth.output import TRUTH_DIR
from tests.helpers import train_in_store
from training.segments import segment_lines
from training.spec import BUILT_IN

LEADS, SEED, TRIALS = 12_000, 5, 2
#: Only the larger regions get a model of their own: both differing ones and at least one that does not differ.
SEGMENTS = {"by": "region", "min_rows": 9_000, "min_positives": 300}
MAX_LOSS = 0.01


@pytest.mark.slow
def test_segment_models_win_where_the_drivers_differ_and_lose_nothing_elsewhere(tmp_path: Path) -> None:
    synthesize(tmp_path / "crm", leads=LEADS, seed=SEED, segment_drivers=True)
    spec = yaml.safe_load((BUILT_IN / "lead_score.yaml").read_text(encoding="utf-8")) | {"segments": SEGMENTS}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = train_in_store(tmp_path / "store", str(tmp_path / "spec.yaml"), tmp_path / "crm", TRIALS)
    truth = yaml.safe_load((tmp_path / "crm" / TRUTH_DIR / "drivers.yaml").read_text(encoding="utf-8"))["segments"]
    trained = {s["value"]: s for s in result.report["segments"] if s["trained"]}
    for value, s in trained.items():
        print(f"{value}: segment model {s['segment_auc']:.3f}, global {s['global_auc']:.3f}, promoted {s['promoted']}")
    assert set(truth["differ"]) <= set(trained) and set(truth["same"]) & set(trained)
    for value in truth["differ"]:
        assert trained[value]["segment_auc"] > trained[value]["global_auc"], trained[value]
        assert trained[value]["promoted"], trained[value]
    segments = result.report["segments"]
    lines = dict(zip((s["value"] for s in segments), segment_lines(segments), strict=True))
    assert all(lines[value].endswith("; champion") for value in truth["differ"]), lines
    for value in set(truth["same"]) & set(trained):
        s = trained[value]
        served = s["segment_auc"] if s["promoted"] else s["global_auc"]
        assert served >= s["global_auc"] - MAX_LOSS, s
