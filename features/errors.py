"""Errors a user can fix: the CLI prints them as one line and exits with code 2 (no traceback)."""


class DataError(Exception):
    """Input data that cannot be read or lacks something required (a file, a column)."""

    exit_code = 2
