"""Shared fixtures: where ../shared/data is, and skipping cleanly when a clone has none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SALESML_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared/data is only beside the project in CI and dev checkouts")
    return path


@pytest.fixture
def xeducation_csv() -> Path:
    return shared_path("x-education-leads", "Leads.csv")


@pytest.fixture
def maven_dir() -> Path:
    return shared_path("maven-crm-sales-opportunities")
