"""The Dask cluster a distributed build runs on: an embedded ``LocalCluster`` on 127.0.0.1, or a running scheduler
named by its address (``--scheduler`` or ``SALESML_DASK_SCHEDULER``); and the build's output, written part by part.
"""

from __future__ import annotations

import importlib.util
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
import pandas as pd
from dask.delayed import Delayed
from distributed import Client, KilledWorker, LocalCluster, as_completed
from distributed.client import FutureCancelledError

from features import settings
from features.crm.dataset import part_file
from features.errors import DataError
from features.outputs import output_dir
from features.progress import progress_bar

#: Seconds to wait for a named scheduler before giving up on it.
LOOPBACK = "127.0.0.1"


@contextmanager
def dask_client(workers: int, scheduler: str | None, say: Callable[[str], None]) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler`` (default: ``SALESML_DASK_SCHEDULER``), else of a LocalCluster of
    ``workers`` processes (one thread each) started here; ``say`` is told where its dashboard is. The embedded
    cluster is closed on the way out, Ctrl-C and errors included. DataError: the scheduler cannot be reached, or a
    worker died (most often out of memory), running a task or holding data sent to it."""
    address = scheduler or settings.DASK_SCHEDULER.get()
    cluster = None
    if address:
        try:
            client = Client(address, timeout=settings.DASK_CONNECT_S.get())
        except (OSError, TimeoutError, ValueError) as exc:
            raise DataError(f"Dask scheduler {address} unreachable ({' '.join(str(exc).split())})") from None
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host=LOOPBACK,
            dashboard_address=f"{LOOPBACK}:0",
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    dashboard = client.dashboard_link if importlib.util.find_spec("bokeh") else "off (pip install bokeh to see it)"
    say(f"Dask scheduler {client.scheduler.address}, dashboard {dashboard}")
    try:
        with interruptible():
            yield client
    except KilledWorker as exc:
        raise DataError(f"a Dask worker died running {exc.task} (out of memory?); give workers more memory") from None
    except FutureCancelledError as exc:  # a worker died holding pieces this process sent it: nothing can recompute them
        raise DataError(
            f"Dask cancelled the build ({exc.reason}): a worker died holding data sent to it (out of memory?); "
            "give workers more memory"
        ) from None
    except KeyboardInterrupt:
        _quiet_teardown()
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C stops the body even where Python drops the KeyboardInterrupt: a press that lands in a garbage
    collector callback (Dask's GC diagnosis runs in this process) or a ``__del__`` is printed and ignored, and the
    build would run on and report success. Each press is noted; a body that ends after one raises it again."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield
        return
    pressed = threading.Event()
    hook = sys.unraisablehook

    def on_press(signum: int, frame: object) -> None:
        pressed.set()
        raise KeyboardInterrupt

    def unraisable(info: sys.UnraisableHookArgs) -> None:
        if not isinstance(info.exc_value, KeyboardInterrupt):  # the dropped press is raised again below
            hook(info)

    previous = signal.signal(signal.SIGINT, on_press)
    sys.unraisablehook = unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = hook
    if pressed.is_set():
        raise KeyboardInterrupt


def _quiet_teardown() -> None:
    """Keep an interrupted build's teardown off the terminal: the scheduler runs in this process and logs each
    half-sent scatter and lost worker as an error with its traceback, which says nothing to whoever pressed Ctrl-C."""
    for name in ("distributed", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def write_parts(client: Client, parts: list[Delayed], out: Path, progress: bool = True) -> None:
    """A table's partitions (``dd.DataFrame.to_delayed``, or frames made from them) as ``out/part-*.parquet``, one
    file per partition in their order (earlier parts removed first), a bar on stderr counting the parts written."""
    output_dir(out)
    for old in out.glob("part-*.parquet"):
        old.unlink()
    writes = [dask.delayed(_write_part)(part, part_file(out, number)) for number, part in enumerate(parts)]
    with progress_bar("partitions written", len(writes), progress, counts=True) as bar:
        for written in as_completed(client.compute(writes)):
            written.result()  # a part that failed raises its error here
            bar.advance(1)


def _write_part(part: pd.DataFrame, file: Path) -> None:
    part.reset_index(drop=True).to_parquet(file, index=False)
