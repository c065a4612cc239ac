"""Point-in-time properties: features never see the future, labels never see the past.

``leaked_columns`` is the reusable checker: build twice, on a dataset and on the same dataset changed only
after every cutoff of the frame, and name the columns whose values differ. A leaky builder shows it bites.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from features.crm.dataset import Dataset
from features.pit.build import Execution, build_features
from features.pit.frames import label_frame
from tests import strategies as s

Builder = Callable[[Dataset, str, pd.DataFrame], pd.DataFrame]
ENTITIES = ["lead", "opportunity"]
PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
#: Through a Dask cluster (the module's ``dask_client``) each example takes seconds: fewer of them.
DASK_PROPERTY = settings(
    PROPERTY,
    max_examples=4,
    suppress_health_check=[*PROPERTY.suppress_health_check, HealthCheck.function_scoped_fixture],
)


def leaked_columns(build: Builder, before: Dataset, after: Dataset, entity: str, frame: pd.DataFrame) -> list[str]:
    """Columns whose values differ (exactly, NaN equal to NaN) when built from ``before`` and from ``after``.

    With ``after`` differing from ``before`` only in what becomes known after every cutoff of ``frame``,
    any column named is a leak.
    """
    a, b = build(before, entity, frame), build(after, entity, frame)
    return [c for c in a.columns.union(b.columns) if c not in a or c not in b or not a[c].equals(b[c])]


def _frame_and_cutoff(data: st.DataObject, ds: Dataset, entity: str) -> tuple[pd.DataFrame, pd.Timestamp]:
    """A random frame and one of its cutoffs."""
    frame = data.draw(s.frames(ds, entity))
    return frame, data.draw(st.sampled_from(sorted(frame["cutoff_time"])))


def _builder(ds: Dataset, entity: str, frame: pd.DataFrame) -> pd.DataFrame:
    return build_features(ds, entity, frame)


def _dask_builder(ds: Dataset, entity: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The Dask build (on the module's cluster), the dataset cut into 3 partitions and shuffled into 4."""
    from features.pit.distributed import Tables, distributed_features

    return distributed_features(Tables.of(ds, 3), entity, frame, partitions=4).compute().reset_index(drop=True)


def assert_features_ignore_the_future(builder: Builder, entity: str, data: st.DataObject) -> None:
    ds = data.draw(s.datasets())
    frame, cutoff = _frame_and_cutoff(data, ds, entity)
    after = data.draw(s.changes_after(ds, cutoff))
    assert leaked_columns(builder, ds, after, entity, frame[frame["cutoff_time"] <= cutoff]) == []


@pytest.mark.parametrize(("execution", "threads"), [("vectorised", 1), ("per_row", 1), ("vectorised", 3)])
@pytest.mark.parametrize("entity", ENTITIES)
@PROPERTY
@given(data=st.data())
def test_features_ignore_everything_known_only_after_the_cutoff(
    entity: str, execution: Execution, threads: int, data: st.DataObject
) -> None:
    """On both executions of the families that have two (``features.pit.build.PER_ROW``), and with the families run
    on threads at once (a large frame's build)."""
    builder = partial(build_features, execution=execution, threads=threads)
    assert_features_ignore_the_future(builder, entity, data)


@pytest.mark.slow  # a few seconds an example: two builds through the cluster's shuffles
@pytest.mark.parametrize("entity", ENTITIES)
@DASK_PROPERTY
@given(data=st.data())
def test_dask_features_ignore_everything_known_only_after_the_cutoff(
    entity: str, data: st.DataObject, dask_client: object
) -> None:
    assert_features_ignore_the_future(_dask_builder, entity, data)


@pytest.mark.slow  # as above
@pytest.mark.parametrize("entity", ENTITIES)
@DASK_PROPERTY
@given(data=st.data())
def test_dask_gives_the_local_features_on_random_datasets(
    entity: str, data: st.DataObject, dask_client: object
) -> None:
    ds = data.draw(s.datasets())
    frame = data.draw(s.frames(ds, entity))
    pd.testing.assert_frame_equal(_dask_builder(ds, entity, frame), _builder(ds, entity, frame), check_exact=True)


@pytest.mark.parametrize("entity", ENTITIES)
@PROPERTY
@given(data=st.data())
def test_labels_ignore_everything_at_or_before_the_cutoff(entity: str, data: st.DataObject) -> None:
    ds = data.draw(s.datasets())
    frame, cutoff = _frame_and_cutoff(data, ds, entity)
    frame = frame[frame["cutoff_time"] >= cutoff]
    before = data.draw(s.changes_before(ds, cutoff))
    pd.testing.assert_frame_equal(label_frame(ds, entity, frame), label_frame(before, entity, frame))


def _one_lead(converted: pd.Timestamp) -> Dataset:
    lead = {"lead_id": "L0", "created_at": s.BASE, "converted_at": converted}
    return s.dataset(s.manifest(), {"leads": [lead], "opportunities": []})


def _one_deal(closed: pd.Timestamp, outcome: str) -> Dataset:
    deal = {"opportunity_id": "O0", "created_at": s.BASE, "closed_at": closed, "outcome": outcome}
    return s.dataset(s.manifest(), {"leads": [], "opportunities": [deal]})


@settings(max_examples=40, deadline=None)
@given(cutoff=st.integers(0, s.LAST), ahead=st.integers(1, 30 * 4), behind=st.integers(0, s.LAST))
def test_moving_a_conversion_across_the_cutoff_flips_the_lead_label(cutoff: int, ahead: int, behind: int) -> None:
    frame = pd.DataFrame({"entity_id": ["L0"], "cutoff_time": [s.at(cutoff)]})
    within = label_frame(_one_lead(s.at(cutoff + ahead)), "lead", frame)  # converts within 30 days after
    earlier = label_frame(_one_lead(s.at(min(behind, cutoff))), "lead", frame)  # converted by the cutoff
    assert within["label"].tolist() == [True]
    assert earlier["label"].tolist() == [False]


@settings(max_examples=40, deadline=None)
@given(cutoff=st.integers(0, s.LAST), ahead=st.integers(1, 30 * 4), behind=st.integers(0, s.LAST))
def test_moving_a_win_across_the_cutoff_flips_the_deal_labels(cutoff: int, ahead: int, behind: int) -> None:
    frame = pd.DataFrame({"entity_id": ["O0"], "cutoff_time": [s.at(cutoff)]})
    labels = ["label", "label_30d", "label_60d", "label_90d"]
    within = label_frame(_one_deal(s.at(cutoff + ahead), "won"), "opportunity", frame)
    earlier = label_frame(_one_deal(s.at(min(behind, cutoff)), "won"), "opportunity", frame)
    assert within[labels].iloc[0].tolist() == [True] * 4
    assert earlier[labels].iloc[0].tolist() == [False] * 4


def _leaky_builder(ds: Dataset, entity: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Correct features plus one that counts every activity of the entity, ignoring the cutoff."""
    out = build_features(ds, entity, frame)
    acts = ds.get("activities")
    counts = acts.loc[acts["entity_type"] == entity, "entity_id"].value_counts() if "entity_id" in acts else {}
    out["all_activities_ever"] = frame["entity_id"].map(counts).fillna(0).to_numpy()
    return out


def test_the_checker_names_the_column_that_leaks() -> None:
    activity = {"activity_id": "A0", "entity_type": "lead", "entity_id": "L0", "type": "call"}
    lead = {"lead_id": "L0", "created_at": s.BASE}
    frame = pd.DataFrame({"entity_id": ["L0"], "cutoff_time": [s.at(4)]})
    before = s.dataset(s.manifest(), {"leads": [lead], "activities": [{**activity, "occurred_at": s.at(2)}]})
    after = s.dataset(
        s.manifest(),
        {"leads": [lead], "activities": [{**activity, "occurred_at": s.at(2)}, {**activity, "occurred_at": s.at(5)}]},
    )
    assert leaked_columns(_builder, before, after, "lead", frame) == []
    assert leaked_columns(_leaky_builder, before, after, "lead", frame) == ["all_activities_ever"]


def test_the_property_finds_a_leaky_builder() -> None:
    @settings(max_examples=200, deadline=None, phases=[Phase.generate], database=None)
    @given(data=st.data())
    def property_with_leaky_builder(data: st.DataObject) -> None:
        ds = data.draw(s.datasets())
        frame, cutoff = _frame_and_cutoff(data, ds, "lead")
        after = data.draw(s.changes_after(ds, cutoff))
        assert leaked_columns(_leaky_builder, ds, after, "lead", frame[frame["cutoff_time"] <= cutoff]) == []

    with pytest.raises(AssertionError, match="all_activities_ever"):
        property_with_leaky_builder()
