"""The Dask feature build gives exactly the local build's table: on a partitioned copy of the small simulated CRM,
and whatever the partition counts and the frame's row order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from features.crm.dataset import Dataset, read_dataset, time_ns, to_utc, write_dataset
from features.pit.build import FAMILIES, build_features
from features.pit.distributed import Tables, distributed_features
from features.pit.frames import entity_frame
from features.pit.joins import JOINS, MISSING_KEY, add_counts, bucket, count_events

ENTITIES = ["lead", "opportunity"]


@pytest.fixture(scope="module")
def small(small_data: Path) -> Dataset:
    return read_dataset(small_data)


@pytest.fixture(scope="module")
def small_parts(small: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small CRM with every table written as 5 parts."""
    out = tmp_path_factory.mktemp("parts") / "crm"
    write_dataset(Dataset(small.manifest, dict(small.tables)), out, partitions=5)
    return out


def _shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


@pytest.mark.parametrize("entity", ENTITIES)
def test_every_family_is_built_by_some_join(entity: str) -> None:
    assert {family for join in JOINS[entity] for family in join.families} == set(FAMILIES[entity])


@pytest.mark.slow  # the whole small CRM through the cluster, per entity (make test runs it)
@pytest.mark.parametrize("entity", ENTITIES)
def test_dask_gives_exactly_the_local_features(
    entity: str, small: Dataset, small_parts: Path, dask_client: object
) -> None:
    frame = _shuffled(entity_frame(small, entity), seed=3)
    with_owner = entity == "lead"  # what-if rows: some leads scored as if another rep owned them
    if with_owner:
        reps = small.get("reps")["rep_id"].to_numpy()
        frame["owner_rep_id"] = pd.array(np.where(np.arange(len(frame)) % 7 == 0, reps[0], None), dtype="string")
    local = build_features(small, entity, frame)
    table = distributed_features(Tables.read(small_parts), entity, frame, partitions=8)
    assert table.npartitions == 8
    got = table.compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(got, local, check_exact=True)
    assert got.isna().to_numpy().any()  # NaN where NaN was compared, not only numbers


def test_an_export_without_optional_columns_gives_the_local_features(
    small: Dataset, tmp_path: Path, dask_client: object
) -> None:
    """The export lacks some canonical columns (a source may not have them): absent on both paths alike."""
    leads = small.get("leads").drop(columns=["phone", "region", "company_size"])
    thin = Dataset(small.manifest, {**small.tables, "leads": leads})
    write_dataset(thin, tmp_path / "crm", partitions=3)
    frame = entity_frame(thin, "lead").head(300)
    got = distributed_features(Tables.read(tmp_path / "crm"), "lead", frame, partitions=4).compute()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), build_features(thin, "lead", frame), check_exact=True)


@pytest.mark.slow  # about 9 s an example: each sends a fresh in-memory dataset through the cluster
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(entity="lead", partitions=1, table_parts=16, seed=0)  # the extremes every run, random draws besides
@example(entity="opportunity", partitions=16, table_parts=1, seed=1)
@given(
    entity=st.sampled_from(ENTITIES),
    partitions=st.integers(1, 16),
    table_parts=st.integers(1, 16),
    seed=st.integers(0, 2**31 - 1),
)
def test_the_features_do_not_depend_on_partitioning(
    small: Dataset, dask_client: object, entity: str, partitions: int, table_parts: int, seed: int
) -> None:
    frame = _shuffled(entity_frame(small, entity), seed).head(400)
    local = build_features(small, entity, frame)
    got = distributed_features(Tables.of(small, table_parts), entity, frame, partitions).compute()
    pd.testing.assert_frame_equal(got.reset_index(drop=True), local, check_exact=True)


def test_the_local_build_never_imports_dask(small_data: Path) -> None:
    probe = (
        "import sys; from pathlib import Path; from features.crm.dataset import read_dataset;"
        "from features.pit.build import build_features; from features.pit.frames import entity_frame;"
        f"ds = read_dataset(Path({str(small_data)!r})); build_features(ds, 'lead', entity_frame(ds, 'lead'));"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"


def test_each_parts_counts_take_the_room_of_its_events(small: Dataset) -> None:
    """Everyone's counts by every cutoff, summed from the parts, equal the counts over the whole table; a part's
    own counts hold a number per cutoff it has events for, not one per cutoff (millions at scale)."""
    leads = small.get("leads")
    times = np.unique(time_ns(to_utc(leads["created_at"])))  # cutoffs falling on events' own times
    whole = count_events(leads, "leads", small.manifest, times)
    bounds = np.linspace(0, len(leads), 5).astype(int)
    pieces = [leads.iloc[first:last] for first, last in zip(bounds[:-1], bounds[1:], strict=True)]
    parts = [count_events(piece, "leads", small.manifest, times) for piece in pieces]
    summed = parts[0]
    for part in parts[1:]:
        summed = add_counts(summed, part)
    assert (
        set(whole)
        == set(summed)
        == {"rep_leads_created", "rep_leads_resolved", "rep_industry_leads_resolved", "rep_source_leads_resolved"}
    )
    for name, counts in whole.items():
        expected, got = counts.totals(times), summed[name].totals(times)
        assert np.array_equal(got.events, expected.events) and np.array_equal(got.marked, expected.marked), name
        assert expected.events[-1] >= expected.marked[-1] and expected.events[-1] > 0, name
        assert all(len(part[name].bins) <= len(piece) < len(times) for part, piece in zip(parts, pieces, strict=True))
    created = summed["rep_leads_created"].totals(times).events
    assert np.array_equal(created, np.searchsorted(np.sort(time_ns(to_utc(leads["created_at"]))), times, "right"))
    assert summed["rep_leads_resolved"].totals(times).marked[-1] > 0  # conversions: the marked resolutions


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=60), st.integers(0, 59))
def test_a_key_goes_to_one_bucket_wherever_it_stands(keys: list[str | None], cut: int) -> None:
    """Equal keys get one bucket whether they stand in one array or a slice of it, a missing key that of
    ``MISSING_KEY``; the records of a key meet its frame rows only so."""
    whole = pd.Series(keys, dtype="string")
    cut = min(cut, len(keys) - 1)
    every = bucket(whole, 1_000_003)
    assert (bucket(whole.iloc[cut:], 1_000_003) == every[cut:]).all()
    seen: dict[str, int] = {}
    for key, part in zip(whole.fillna(MISSING_KEY), every, strict=True):
        assert seen.setdefault(key, part) == part


def test_distinct_keys_spread_evenly_over_the_buckets() -> None:
    """Ids that differ in one character (as CRM ids do) fill 100 buckets within 4 standard deviations each."""
    counts = np.bincount(bucket(pd.Series([f"L-{i:08d}" for i in range(200_000)]), 100), minlength=100)
    assert np.abs(counts - 2_000).max() < 4 * np.sqrt(2_000)
