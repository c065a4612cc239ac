"""Errors a user can fix: the CLI prints them as one line and exits with code 2 (no traceback)."""


class DataError(Exception):
    """Input data that cannot be read or lacks something required (a file, a column)."""

    exit_code = 2


class StoreError(Exception):
    """salesml's local store is damaged. Not a DataError, which commands that go on without a model catch as
    'no model yet' (the manager report, export): a damaged store must stop them all."""

    exit_code = 2


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, to quote inside a one-line error."""
    return " ".join(str(exc).split())
