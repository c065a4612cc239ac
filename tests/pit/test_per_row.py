"""The activity families' per-row execution (a request's few rows) gives the vectorised execution's features.

Compared exactly (values and dtypes) on random small datasets with the hard shapes (times on a grid that lands on
every window's edge, unknown types, missing directions, durations, roles and notes, back-filled activities), and on
2,000 random rows of the simulated CRM cut into frames of a request's size, what-if owners included.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.crm.dataset import Dataset, read_dataset
from features.crm.schema import ENTITIES
from features.pit.activity_log import Raw, entity_codes
from features.pit.build import FAMILIES, build_features, family_columns
from features.pit.history import History
from features.pit.per_row import FEW_ROWS, Activities
from features.pit.timeline import DAY_NS, times
from tests import strategies as s

KINDS = list(ENTITIES)
#: Offsets of a cutoff from an activity's known time that land on the families' edges (windows, trend, activation).
EDGES_DAYS = (0, 1, 7, 14, 30)


@pytest.mark.parametrize("entity", KINDS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_per_row_gives_the_vectorised_features_on_random_datasets(entity: str, data: st.DataObject) -> None:
    ds = data.draw(s.datasets())
    frame = data.draw(s.frames(ds, entity, max_rows=FEW_ROWS))
    if data.draw(st.booleans()):  # what-if rows: another owner
        frame["owner_rep_id"] = data.draw(
            st.lists(st.sampled_from(["R0", "R1", None]), min_size=len(frame), max_size=len(frame))
        )
    vectorised = build_features(ds, entity, frame, execution="vectorised")
    families = {
        e: list(family_columns(ds, entity, frame, FAMILIES[entity], execution=e)) for e in ("vectorised", "per_row")
    }
    assert families["per_row"] == families["vectorised"]  # the same columns in the same order (a Dask build's meta)
    pd.testing.assert_frame_equal(build_features(ds, entity, frame, execution="per_row"), vectorised, check_exact=True)
    pd.testing.assert_frame_equal(build_features(ds, entity, frame), vectorised, check_exact=True)  # auto: per row


def _random_rows(ds: Dataset, entity: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` random (entity, cutoff) rows: cutoffs after creation, a third on an edge of one of the entity's own
    activities; a tenth of the rows with another owner."""
    table, key = ds.get(ENTITIES[entity][0]), ENTITIES[entity][1]
    picked = rng.integers(0, len(table), n)
    created = times(table, "created_at")[picked]
    cutoffs = created + rng.integers(0, 120 * DAY_NS, n)
    acts = ds.get("activities")
    mine = acts[acts["entity_type"] == entity]
    known = np.maximum(times(mine, "occurred_at"), times(mine, "recorded_at"))
    by_id = pd.Series(known, index=mine["entity_id"].to_numpy()).groupby(level=0).max()
    ids = table[key].to_numpy()[picked]
    last = by_id.reindex(ids).to_numpy()
    edge = (rng.random(n) < 1 / 3) & ~np.isnan(last)
    shifted = last[edge].astype(np.int64) + rng.choice(EDGES_DAYS, edge.sum()) * DAY_NS
    cutoffs[edge] = np.maximum(shifted, created[edge])
    frame = pd.DataFrame({"entity_id": ids, "cutoff_time": pd.to_datetime(cutoffs, utc=True)})
    reps = ds.get("reps")["rep_id"].to_numpy()
    owners = np.where(rng.random(n) < 0.1, rng.choice(reps, n), None)
    frame["owner_rep_id"] = pd.array(owners, dtype="str")
    return frame


@pytest.mark.parametrize("entity", KINDS)
def test_per_row_gives_the_vectorised_features_on_a_thousand_rows_of_the_crm(entity: str, small_data: Path) -> None:
    ds = read_dataset(small_data)
    History.of(ds).kept()
    rng = np.random.default_rng(11)
    frame = _random_rows(ds, entity, 1_000, rng)
    whole = build_features(ds, entity, frame)
    sizes = rng.integers(1, FEW_ROWS + 1, len(frame))
    starts = np.cumsum([0, *sizes])
    starts = starts[starts < len(frame)]
    parts = [frame.iloc[a : a + b].reset_index(drop=True) for a, b in zip(starts, sizes, strict=False)]
    by_rows = pd.concat([build_features(ds, entity, part) for part in parts], ignore_index=True)
    pd.testing.assert_frame_equal(by_rows, whole, check_exact=True)
    assert (whole["act_all_n_total"] > 0).mean() > 0.5  # most rows have activities to count
    assert (whole["act_all_n_total"] == 0).any()  # and some none


def test_an_unknown_execution_is_refused(small_data: Path) -> None:
    ds = read_dataset(small_data)
    lead = ds.get("leads").iloc[0]
    frame = pd.DataFrame({"entity_id": [lead["lead_id"]], "cutoff_time": [lead["created_at"]]})
    with pytest.raises(ValueError, match="execution must be one of"):
        build_features(ds, "lead", frame, execution="row_by_row")  # type: ignore[arg-type]


def test_activities_given_as_values_are_the_tables_and_need_the_per_row_execution(small_data: Path) -> None:
    """A request's activities given as values give the features the dataset's table gives; a vectorised build,
    which reads the table, refuses them rather than count activities it would not see."""
    ds = read_dataset(small_data)
    leads, acts = ds.get("leads"), ds.get("activities")
    frame = pd.DataFrame(
        {"entity_id": leads["lead_id"][:3], "cutoff_time": leads["created_at"][:3] + pd.Timedelta("9D")}
    )
    codes = entity_codes(acts, "lead", leads["lead_id"])
    given = Activities(Raw.read(acts), acts["note"].to_numpy(dtype=object, na_value=None).tolist(), codes)
    without = Dataset(ds.manifest, {name: table for name, table in ds.tables.items() if name != "activities"})
    from_values = build_features(without, "lead", frame, activities=given)
    pd.testing.assert_frame_equal(from_values, build_features(ds, "lead", frame), check_exact=True)
    assert (from_values["act_all_n_total"] > 0).any()
    with pytest.raises(ValueError, match="row-by-row execution only"):
        build_features(without, "lead", frame, activities=given, execution="vectorised")
