"""The `make demo` path end to end through the real CLI: synth -> validate -> features build (Parquet round trip)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from features.crm.dataset import read_manifest
from features.pit.catalog import feature_catalog
from tests.helpers import assert_one_line_error, salesml


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "data"
    proc = salesml("data", "synth", "--out", out, "--leads", 3000, "--seed", 3)
    assert proc.returncode == 0, proc.stderr
    return out


def test_synthetic_dataset_validates_clean(demo: Path) -> None:
    proc = salesml("data", "validate", demo)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("entity", ["lead", "opportunity"])
def test_features_build_writes_every_catalog_feature(demo: Path, tmp_path: Path, entity: str) -> None:
    out = tmp_path / f"{entity}.parquet"
    proc = salesml("features", "build", "--data", demo, "--entity", entity, "--out", out)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_parquet(out)
    names = [f.name for f in feature_catalog(read_manifest(demo), entity)]
    assert list(table.columns[-len(names) :]) == names
    assert len(table) > 0 and table["label"].notna().any()
    assert table["cutoff_time"].dt.tz is not None


def test_features_build_with_a_cutoffs_file(demo: Path, tmp_path: Path) -> None:
    leads = pd.read_parquet(demo / "leads.parquet").head(5)
    cutoffs = tmp_path / "cutoffs.csv"
    pd.DataFrame({"entity_id": leads["lead_id"], "cutoff_time": leads["created_at"] + pd.Timedelta("2D")}).to_csv(
        cutoffs, index=False
    )
    out = tmp_path / "scored.parquet"
    proc = salesml("features", "build", "--data", demo, "--entity", "lead", "--cutoffs", cutoffs, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert pd.read_parquet(out)["entity_id"].tolist() == leads["lead_id"].tolist()


def test_unknown_entity_is_one_line_error(demo: Path, tmp_path: Path) -> None:
    proc = salesml("features", "build", "--data", demo, "--entity", "customer", "--out", tmp_path / "x.parquet")
    assert_one_line_error(proc, "customer")


def test_missing_dataset_is_one_line_error(tmp_path: Path) -> None:
    proc = salesml("features", "build", "--data", tmp_path, "--entity", "lead", "--out", tmp_path / "x.parquet")
    assert_one_line_error(proc, "manifest.yaml")


def test_serve_without_anything_exported_says_what_to_do(tmp_path: Path) -> None:
    env = {"BENTOML_HOME": str(tmp_path / "empty"), "SALESML_API_KEYS": "k"}
    proc = salesml("serve", "--port", "3999", env=env)
    assert_one_line_error(proc, "nothing exported", "salesml export --data DIR")


def test_serve_without_keys_refuses_to_start(tmp_path: Path) -> None:
    env = {"BENTOML_HOME": str(tmp_path / "empty"), "SALESML_API_KEYS": "", "SALESML_API_KEY_FILE": ""}
    assert_one_line_error(salesml("serve", "--port", "3999", env=env), "no API keys", "--no-auth")
