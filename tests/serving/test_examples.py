"""The request examples: one file per endpoint that takes a body, each a valid request, each the example the OpenAPI
document shows, and each the file the docs' curl commands send (``examples/`` links to them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from pydantic import BaseModel

from serving.schemas.checks import ChecksRequest
from serving.schemas.common import EXAMPLES, example
from serving.schemas.forecast import AttainmentRequest, ForecastRequest
from serving.schemas.routing import RouteRequest
from serving.schemas.scoring import LeadScoreRequest, OpportunityScoreRequest
from serving.schemas.whatif import LeadWhatIfRequest, WhatIfRequest
from serving.schemas.workflow import QualityRequest, SweepRequest
from tests.helpers import ROOT

ENDPOINTS: dict[str, tuple[str, type[BaseModel]]] = {
    "/v1/leads/score": ("score-lead", LeadScoreRequest),
    "/v1/opportunities/score": ("score-opportunity", OpportunityScoreRequest),
    "/v1/forecast": ("forecast", ForecastRequest),
    "/v1/targets/attainment": ("attainment", AttainmentRequest),
    "/v1/checks": ("checks", ChecksRequest),
    "/v1/leads/sweep": ("sweep", SweepRequest),
    "/v1/activities/quality": ("activity-quality", QualityRequest),
    "/v1/leads/route": ("route-lead", RouteRequest),
    "/v1/opportunities/whatif": ("whatif-opportunity", WhatIfRequest),
    "/v1/leads/whatif": ("whatif-lead", LeadWhatIfRequest),
}
#: /docs.json is BentoML's document of the service, amended by the guard (``ApiGuard._document``).
DOCUMENT = (
    "import json; from serving.service import SalesML; from serving.openapi import documented; "
    "print(json.dumps(documented(SalesML.openapi_spec.asdict())))"
)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The service's /docs.json, built in a process of its own with an empty BentoML store."""
    env = os.environ | {"BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml")), "BENTOML_DO_NOT_TRACK": "true"}
    built = subprocess.run(
        [sys.executable, "-c", DOCUMENT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert built.returncode == 0, built.stderr
    return json.loads(built.stdout)


def test_each_endpoint_with_a_body_has_one_example_file() -> None:
    assert sorted(path.stem for path in EXAMPLES.glob("*.json")) == sorted(name for name, _ in ENDPOINTS.values())


@pytest.mark.parametrize(("name", "model"), ENDPOINTS.values(), ids=list(ENDPOINTS))
def test_each_example_is_a_valid_request(name: str, model: type[BaseModel]) -> None:
    model.model_validate_json((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", [name for name, _ in ENDPOINTS.values()])
def test_the_curl_file_is_the_example(name: str) -> None:
    """The docs' curl commands send ``examples/NAME.json``: a link to the file the OpenAPI document shows."""
    assert (ROOT / "examples" / f"{name}.json").resolve() == (EXAMPLES / f"{name}.json").resolve()


def test_the_openapi_document_shows_each_example(document: dict[str, Any]) -> None:
    with_body = {path for path, ops in document["paths"].items() for op in ops.values() if "requestBody" in op}
    assert with_body == set(ENDPOINTS)
    for path, (name, _) in ENDPOINTS.items():
        schema = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert schema["example"] == example(name), path
