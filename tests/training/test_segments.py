"""Segment specs and routing: a bad ``segments`` is a one-line error; each row goes to its segment's model."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from features.scoring.segments import predict_routed, segment_model_name
from tests.helpers import Stores, assert_one_line_error, salesml
from training.spec import BUILT_IN, load_spec


def spec_with(tmp_path: Path, segments: dict) -> Path:
    spec = yaml.safe_load((BUILT_IN / "lead_score.yaml").read_text(encoding="utf-8")) | {"segments": segments}
    path = tmp_path / "lead_score_segments.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_segments_spec_names_the_column_of_its_by(tmp_path: Path) -> None:
    spec, _ = load_spec(spec_with(tmp_path, {"by": "team", "min_rows": 500, "min_positives": 50}))
    assert (spec.segments.by, spec.segments.column, spec.segments.min_rows) == ("team", "rep_team", 500)
    assert load_spec("lead_score")[0].segments is None  # the built-in specs train no segments


@pytest.mark.slow  # salesml processes
@pytest.mark.parametrize(
    ("segments", "fragment"),
    [({"by": "country"}, "segments.by"), ({"by": "region", "min_rows": 0}, "segments.min_rows")],
)
def test_a_bad_segments_spec_is_a_one_line_error(tmp_path: Path, segments: dict, fragment: str) -> None:
    proc = salesml("train", "--model", spec_with(tmp_path, segments), "--data", tmp_path)
    assert_one_line_error(proc, fragment)


def test_segment_model_names_are_registry_safe() -> None:
    assert segment_model_name("lead_score", "team", "East-1 (Shanghai)") == "lead_score.team.east_1_shanghai"


def test_rows_go_to_their_segments_model_and_the_rest_to_the_global_one(small_crm: Stores) -> None:
    scorer = small_crm.trained["lead_score"].scorer
    table = scorer.training_reference.head(60).reset_index(drop=True)
    table["region"] = np.where(np.arange(len(table)) % 3 == 0, "east", "north")
    east = copy.deepcopy(scorer)
    east.metadata = {**scorer.metadata, "segment": {"by": "region", "column": "region", "value": "east"}}
    routed = predict_routed(table, scorer, [east], top=3, locale="en")
    mine = table["region"].eq("east").to_numpy()
    assert (routed.model == np.where(mine, 1, 0)).all()
    assert routed.segment == ["east" if m else None for m in mine]
    alone, _ = scorer.predict_with_factors(table, top=3, locale="en")
    pd.testing.assert_series_equal(routed.scored["probability"], alone["probability"])
    assert len(routed.reasons) == len(table) and all(r is not None for r in routed.reasons)
