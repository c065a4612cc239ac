"""The live service fuzzed from its own OpenAPI document (``/docs.json``) with schemathesis.

Every operation in the document is called with the requests schemathesis generates from it, always with a valid key
(the ``Authorization`` header is fixed, so the bodies, not the key, are what varies): schema-valid bodies (positive
mode) and bodies that break the schema (negative mode) for the scoring and forecast endpoints, one call for each
operation that takes no input. Each answer must be:

- no server error (5xx);
- a status, content type, headers and body the document declares for the operation;
- a 4xx for a request that breaks the schema (negative mode): 413 included (more than 1,000 items), which
  schemathesis does not expect by default;
- not a 2xx for the same request without a key or with a made-up one (``ignored_auth`` re-sends each 2xx that way).

Not checked: that every schema-valid request is accepted (``positive_data_acceptance``). A body the schema allows is
still refused with 422 for what JSON Schema cannot say (an event after ``as_of``, a repeated id, a missing body, a
forecast's ``as_of`` outside the history, no targets for a period), and the document lists 422 for that.

Deterministic (``derandomize``): the same requests on every run.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.serving.server import KEY, Server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    ignored_auth,
]
AUTH = {"Authorization": f"Bearer {KEY}"}
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": ["4xx", "5xx"]}}})
POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
SCORING = ("POST /v1/leads/score", "POST /v1/opportunities/score")
FORECASTS = ("POST /v1/forecast", "POST /v1/targets/attainment")
WORKFLOW = (
    "POST /v1/leads/sweep",
    "POST /v1/activities/quality",
    "POST /v1/opportunities/whatif",
    "POST /v1/leads/whatif",
)
TRENDS = ("GET /v1/leads/{lead_id}/trend", "GET /v1/opportunities/{opportunity_id}/trend")
#: Generated cases per (operation, mode); operations not named here (no input: /healthz, /v1/models, ...) get one.
BUDGET = {
    **{(label, mode): n for label in SCORING for mode, n in ((POSITIVE, 300), (NEGATIVE, 120))},
    **{(label, mode): n for label in FORECASTS for mode, n in ((POSITIVE, 60), (NEGATIVE, 60))},
    **{(label, mode): n for label in WORKFLOW for mode, n in ((POSITIVE, 60), (NEGATIVE, 40))},
    ("POST /v1/checks", POSITIVE): 60,
    ("POST /v1/checks", NEGATIVE): 40,
    ("GET /v1/report", POSITIVE): 20,  # one query parameter (locale): few distinct cases
    ("GET /v1/report", NEGATIVE): 20,
    ("POST /v1/leads/route", POSITIVE): 60,
    ("POST /v1/leads/route", NEGATIVE): 40,
    **{(label, mode): n for label in TRENDS for mode, n in ((POSITIVE, 30), (NEGATIVE, 10))},  # ids: almost all 404
}
MIN_CASES = 700
#: Positive cases of a scoring or forecast endpoint that must be answered (200), so the fuzz reaches the model and
#: not only 422s.
MIN_SCORED = 10


def fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    examples: int,
    call: Callable[[schemathesis.Case], schemathesis.Response],
) -> None:
    """Up to ``examples`` generated cases of one operation, each sent by ``call`` and its answer checked."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode, headers=AUTH))
    def run(case: schemathesis.Case) -> None:
        response = call(case)
        case.validate_response(response, checks=CHECKS, headers=AUTH)

    run()


def describe(error: BaseException) -> str:
    """Schemathesis's report (failure, response, curl command) of every failure in a possibly nested group."""
    if isinstance(error, BaseExceptionGroup) and not isinstance(error, schemathesis.errors.FailureGroup):
        return "\n".join(describe(e) for e in error.exceptions)
    notes = "\n".join(getattr(error, "__notes__", []))
    return f"{type(error).__name__}: {error}\n{notes}".strip()


@pytest.mark.slow
def test_fuzz_the_openapi_document(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/docs.json", config=CONFIG, timeout=30)
    operations = {op.label: op for op in (result.ok() for result in schema.get_all_operations())}
    assert {
        *SCORING,
        *FORECASTS,
        *WORKFLOW,
        *TRENDS,
        "GET /v1/models",
        "GET /v1/report",
        "GET /healthz",
        "GET /readyz",
    } <= set(operations), sorted(operations)

    executed: Counter[tuple[str, str]] = Counter()
    statuses: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    started = time.monotonic()
    with requests.Session() as session:

        def call(case: schemathesis.Case) -> schemathesis.Response:
            executed[case.operation.label, case.meta.generation.mode.value] += 1
            response = case.call(base_url=server.url, session=session, timeout=60)
            statuses[case.operation.label, response.status_code] += 1
            return response

        for label, operation in operations.items():
            for mode in (POSITIVE, NEGATIVE):
                examples = BUDGET.get((label, mode), 1 if mode is POSITIVE else 0)
                if not examples:
                    continue
                try:
                    fuzz(operation, mode, examples, call)
                except (Exception, BaseExceptionGroup) as error:
                    failures.append(f"--- {label} ({mode.value}) ---\n{describe(error)}")

    total = sum(executed.values())
    summary = (
        f"{total} cases in {time.monotonic() - started:.0f} s; executed: {dict(executed)}; statuses: {dict(statuses)}"
    )
    print(summary)
    assert not failures, f"{len(failures)} operation(s) failed ({summary}):\n\n" + "\n\n".join(failures)
    assert total >= MIN_CASES, summary
    for label in (*SCORING, *FORECASTS):
        assert statuses[label, 200] >= MIN_SCORED, summary
