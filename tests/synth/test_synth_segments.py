"""Segment-specific drivers: an option of the simulator, recorded in the truth, the same for a seed, and real (the
true probability falls with the planted lead-source effect where the truth says it is reversed, rises elsewhere)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.synth import synthesize
from features.synth.leads import SEGMENT_DRIVERS, SOURCE_LOGIT
from features.synth.output import TRUTH_DIR
from features.synth.world import SOURCES
from tests.helpers import assert_one_line_error, salesml
from tests.synth.test_synth_drift import DEFAULT_FINGERPRINT, _fingerprint


def test_segment_drivers_are_recorded_deterministic_and_off_by_default(tmp_path: Path) -> None:
    synthesize(tmp_path / "a", leads=500, seed=3, segment_drivers=True)
    synthesize(tmp_path / "b", leads=500, seed=3, segment_drivers=True)
    synthesize(tmp_path / "off", leads=500, seed=3, segment_drivers=False)
    assert _fingerprint(tmp_path / "a") == _fingerprint(tmp_path / "b") != DEFAULT_FINGERPRINT
    assert _fingerprint(tmp_path / "off") == DEFAULT_FINGERPRINT
    truth = yaml.safe_load((tmp_path / "a" / TRUTH_DIR / "drivers.yaml").read_text(encoding="utf-8"))
    assert set(truth["segments"]["differ"]) == set(SEGMENT_DRIVERS) and truth["segments"]["by"] == "region"
    assert "segments" not in yaml.safe_load((tmp_path / "off" / TRUTH_DIR / "drivers.yaml").read_text())


def test_the_source_effects_are_reversed_only_in_their_region(tmp_path: Path) -> None:
    synthesize(tmp_path / "crm", leads=3000, seed=4, segment_drivers=True)
    leads = pd.read_parquet(tmp_path / "crm" / "leads.parquet", columns=["lead_id", "region", "source"])
    truth = pd.read_parquet(tmp_path / "crm" / TRUTH_DIR / "leads.parquet")
    frame = leads.astype({"lead_id": str}).merge(truth.astype({"lead_id": str}), on="lead_id")
    frame["planted_effect"] = frame["source"].map(dict(zip(SOURCES, SOURCE_LOGIT, strict=True)))
    (reversed_region,) = [r for r, (driver, _) in SEGMENT_DRIVERS.items() if driver == "lead source"]
    mine = frame["region"].eq(reversed_region)
    planted = ~frame["region"].isin(SEGMENT_DRIVERS)
    slope = {
        name: np.corrcoef(part["planted_effect"], part["p_convert"])[0, 1]
        for name, part in (("reversed", frame[mine]), ("planted", frame[planted]))
    }
    assert slope["reversed"] < -0.2 and slope["planted"] > 0.1, slope


@pytest.mark.slow  # salesml processes
def test_cli_plants_segment_drivers_and_refuses_them_with_a_shape(tmp_path: Path) -> None:
    made = salesml("data", "synth", "--out", tmp_path / "crm", "--leads", 300, "--segment-drivers")
    assert made.returncode == 0, made.stderr
    assert "segments" in yaml.safe_load((tmp_path / "crm" / TRUTH_DIR / "drivers.yaml").read_text(encoding="utf-8"))
    refused = salesml("data", "synth", "--out", tmp_path / "shaped", "--shape", "growing", "--segment-drivers")
    assert_one_line_error(refused, "--segment-drivers do not apply with --shape")
