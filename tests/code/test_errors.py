"""One error hierarchy: each user error carries its CLI exit code and HTTP status, and both sides answer with them."""

from __future__ import annotations

import json
from http import HTTPStatus
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from features.cli import user_errors
from features.crm.importers import UnfitImport
from features.errors import DataError, NotFound, SalesmlError, StoreError, Unavailable
from serving.http import refused
from serving.refusals import answer


@pytest.mark.parametrize(
    ("error", "exit_code", "status"),
    [
        (DataError("no such column"), 2, 422),
        (UnfitImport("leads: 80% quarantined"), 1, 422),
        (StoreError("mlflow.db is unreadable"), 2, 503),
        (Unavailable("lead_score was never exported"), 2, 503),
        (NotFound("no lead 'L1' in the history"), 2, 404),
    ],
)
def test_each_error_carries_its_exit_code_and_status(error: SalesmlError, exit_code: int, status: int) -> None:
    assert (error.exit_code, error.http_status) == (exit_code, status)

    @user_errors
    def command() -> None:
        raise error

    with pytest.raises(SystemExit) as exited:
        command()
    assert exited.value.code == exit_code


def _ctx() -> SimpleNamespace:
    return SimpleNamespace(response=SimpleNamespace(status_code=HTTPStatus.OK))


@pytest.mark.parametrize(
    ("field", "expected"),
    [("as_of", {"loc": ["as_of"], "message": "as_of: too late"}), (None, {"loc": [], "message": "body: too late"})],
)
def test_a_422_is_answered_as_an_invalid_request_at_its_field(field: str | None, expected: dict) -> None:
    """The guard turns BentoML's answer to the validation error into the service's 422 body."""
    with pytest.raises(ValidationError) as raised:
        answer(_ctx(), DataError("too late", field=field))  # type: ignore[arg-type]
    body = refused(raised.value.errors(include_context=False, include_input=False))
    assert body == {
        "detail": [{"loc": expected["loc"], "msg": "too late", "type": "refused"}],
        "message": expected["message"],
    }


def test_a_503_is_answered_with_its_message() -> None:
    ctx = _ctx()
    response = answer(ctx, Unavailable("no CRM history in this service"))  # type: ignore[arg-type]
    assert ctx.response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert json.loads(response.body) == {"message": "no CRM history in this service"}
