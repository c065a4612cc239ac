"""Where commands write: an output's directory is created with its parents (as every ``--out`` of the CLI does),
and a path where that cannot be done is a one-line error naming the option instead of a traceback."""

from __future__ import annotations

from pathlib import Path

from features.errors import DataError


def output_dir(path: Path, option: str = "--out") -> Path:
    """``path`` as a directory, created with its parents."""
    if path.exists() and not path.is_dir():
        raise DataError(f"{option}: {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{option}: cannot create the directory {path} ({exc.strerror})") from exc
    return path


def output_file(path: Path, option: str = "--out") -> Path:
    """``path`` as a file to write, its directory created; a directory of that name is a mistake."""
    if path.is_dir():
        raise DataError(f"{option}: {path} is a directory, not a file")
    output_dir(path.parent, option)
    return path
