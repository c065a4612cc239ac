"""How the service answers a user's error (``features.errors.SalesmlError``): with the error's ``http_status``, the
one place a status is chosen for an error.

A 422 (a request the data cannot answer: ``as_of`` outside the history, no targets for the period) is raised as the
validation error BentoML answers a bad body with, so the guard (``serving.http``) gives it the answer of any
invalid request: the field path and a one-line message. Any other status (503: a model or the history not loaded)
is answered here with the message, which BentoML would replace by a generic one for every 5xx.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any, TypeVar

import bentoml
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from features.errors import SalesmlError

Method = TypeVar("Method", bound=Callable[..., Any])


def as_invalid(error: SalesmlError) -> ValidationError:
    """The error as pydantic's, at its field (none: the body as a whole)."""
    refused = PydanticCustomError("refused", "{message}", {"message": str(error)})
    loc = (error.field,) if error.field else ()
    return ValidationError.from_exception_data("request", [InitErrorDetails(type=refused, loc=loc, input=None)])


def answer(ctx: bentoml.Context, error: SalesmlError) -> JSONResponse:
    """The answer to a call that failed with ``error``."""
    if error.http_status == HTTPStatus.UNPROCESSABLE_ENTITY:
        raise as_invalid(error) from error
    ctx.response.status_code = error.http_status  # BentoML answers with the context's status
    return JSONResponse({"message": str(error)})


def answered(method: Method) -> Method:
    """An endpoint method whose user errors are answered by ``answer`` (``ctx`` is passed by keyword)."""
    if inspect.iscoroutinefunction(method):

        @wraps(method)
        async def answered_async(self: Any, *args: Any, ctx: bentoml.Context, **kwargs: Any) -> Any:
            try:
                return await method(self, *args, ctx=ctx, **kwargs)
            except SalesmlError as error:
                return answer(ctx, error)

        return answered_async  # type: ignore[return-value]

    @wraps(method)  # sync methods stay sync: BentoML runs them in a thread, off the event loop
    def answered_sync(self: Any, *args: Any, ctx: bentoml.Context, **kwargs: Any) -> Any:
        try:
            return method(self, *args, ctx=ctx, **kwargs)
        except SalesmlError as error:
            return answer(ctx, error)

    return answered_sync  # type: ignore[return-value]
