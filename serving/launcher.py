"""``python -m serving.launcher METRICS_DIR serve ...``: BentoML's command line, with a Prometheus multiprocess
directory of the server's own.

BentoML keeps one such directory per store (``BENTOML_HOME/prometheus_multiproc_dir``) and empties it whenever any
server of that store starts, so a second server (another port, a test, a benchmark) would wipe the metrics and
gauges of the one already running. ``salesml serve`` names one directory per port instead.
"""

from __future__ import annotations

import sys
from pathlib import Path


def metrics_dir(home: Path, port: int) -> Path:
    """The Prometheus files of the server on ``port``: two servers cannot hold one port at once."""
    return home / "metrics" / str(port)


def main(argv: list[str]) -> None:
    """Run BentoML's command line on ``argv[1:]`` with ``argv[0]`` as the Prometheus multiprocess directory."""
    from bentoml._internal.configuration.containers import BentoMLContainer
    from bentoml_cli.cli import cli

    BentoMLContainer.prometheus_multiproc_dir.set(argv[0])
    cli(argv[1:], prog_name="bentoml")


if __name__ == "__main__":
    main(sys.argv[1:])
