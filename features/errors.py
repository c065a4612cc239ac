"""Errors a user can fix. Each carries how it is answered: the CLI prints it as one line (no traceback) and exits
with its ``exit_code``; the service answers its ``http_status`` with the message."""

from __future__ import annotations

from http import HTTPStatus


class SalesmlError(Exception):
    """What every user-fixable error shares. ``field`` names the request field the error is about, for the
    service's answer (none: the request as a whole)."""

    exit_code: int = 2
    http_status: HTTPStatus = HTTPStatus.UNPROCESSABLE_ENTITY

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field


class DataError(SalesmlError):
    """Input data that cannot be read or lacks something required (a file, a column), or a request that asks what
    the data cannot answer (a time outside the history, a period without targets)."""


class NotEnoughData(DataError):
    """Too few labelled rows to train and test a model honestly: ``salesml train`` registers a prior model instead
    (``training.prior``)."""


class NotFound(SalesmlError):
    """An id the data does not hold (a lead or deal asked for by id): the service answers 404."""

    http_status = HTTPStatus.NOT_FOUND


class StoreError(SalesmlError):
    """salesml's local store is damaged. Not a DataError, which commands that go on without a model catch as
    'no model yet' (the manager report, export): a damaged store must stop them all."""

    http_status = HTTPStatus.SERVICE_UNAVAILABLE


class Unavailable(SalesmlError):
    """The service does not hold the model or history a call needs (never exported, or damaged files): the call
    is answered with why and what to do."""

    http_status = HTTPStatus.SERVICE_UNAVAILABLE


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, to quote inside a one-line error."""
    return " ".join(str(exc).split())


class MessageError(SalesmlError):
    """A locale salesml has no words for, or message files that lack a word or disagree on its fields."""
