"""``python -m benchmarks.serve``: build or reuse the stores, run the loads on the service and the floor, time the
service in-process, print the report and, at full size, write it to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

import benchmarks.serve
from benchmarks.report import write_section
from benchmarks.serve.inprocess import in_process, load_service
from benchmarks.serve.load import KEY, Batches, Load, batches, open_loop
from benchmarks.serve.payloads import BATCH, Crm, batch_body, single_body
from benchmarks.serve.report import Run, Size, report, targets
from benchmarks.serve.shadow import run_shadow
from benchmarks.server import Server
from benchmarks.stores import QUICK_STORE, Stores, StoreSize, workdir

CORES = 2
SERVICE_START_S = 180
BATCH_BODIES = 3  # distinct batch bodies the batch requests cycle through
SIZES = {
    "full": Size(StoreSize(20_000, 5, 7), duration_s=60.0, batches=10, repeats=500, probe_s=30.0, batch_repeats=7),
    "quick": Size(QUICK_STORE, duration_s=2.0, batches=1, repeats=20, probe_s=1.0, batch_repeats=1),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=benchmarks.serve.__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds (not written to results)")
    parser.add_argument("--duration", type=float, help="seconds of open-loop load (default: 60, or 2 with --quick)")
    parser.add_argument("--rate", type=float, default=100.0, help="single-lead requests a second (default: 100)")
    parser.add_argument(
        "--probe-rate", type=float, default=10.0, help="a second open-loop run at this rate, below capacity (0: none)"
    )
    parser.add_argument("--cap", type=float, default=10.0, help="seconds after its slot a request is abandoned")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes (salesml serve --workers)")
    parser.add_argument("--batches", type=int, help=f"{BATCH:,}-lead requests timed (default: 10, or 1 with --quick)")
    parser.add_argument("--activities", type=int, default=100, help="activities of the single lead (default: 100)")
    parser.add_argument("--leads", type=int, help="synthetic leads to train on (default: 20,000, or 2,000 --quick)")
    parser.add_argument("--trials", type=int, help="Optuna trials (default: 5, or 1 with --quick)")
    parser.add_argument("--repeats", type=int, help="in-process runs of the single request (default: 500, or 20)")
    parser.add_argument("--seed", type=int, help="of the synthetic CRM and the requests (default: 7)")
    parser.add_argument("--workdir", type=Path, help="keep the stores here and reuse them (default: a temporary dir)")
    parser.add_argument(
        "--floor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also put the same load on benchmarks.floor, the HTTP path with nothing scored (default: on)",
    )
    parser.add_argument(
        "--shadow",
        action="store_true",
        help="only what shadow scoring costs: the single-lead p50 at SALESML_SHADOW_SHARE 0 and 1 in one run",
    )
    return parser.parse_args()


def size_of(args: argparse.Namespace) -> Size:
    """The preset size with what the command line sets."""
    base = SIZES["quick" if args.quick else "full"]
    store = StoreSize(
        args.leads or base.store.leads,
        args.trials or base.store.trials,
        base.store.seed if args.seed is None else args.seed,
    )
    return Size(
        store,
        args.duration or base.duration_s,
        args.batches or base.batches,
        args.repeats or base.repeats,
        base.probe_s,
        base.batch_repeats,
    )


def split_cores() -> tuple[list[int], list[int]]:
    """Server on the first ``CORES`` cores; the load generator on the others, or beside it when there are none."""
    available = sorted(os.sched_getaffinity(0))
    server = available[:CORES]
    return server, available[CORES:] or server


def on_server(
    server: Server, args: argparse.Namespace, size: Size, single: bytes, bodies: list[bytes], probe_rate: float
) -> tuple[Load, Load | None, Batches, dict[str, Any]]:
    """The open-loop load, a second one below capacity (none when ``probe_rate`` is 0) and the batches on a started
    server, which is stopped after; and its processes and memory after the load."""
    try:
        print(f"open-loop load: {args.rate:g}/s for {size.duration_s:g} s...", file=sys.stderr)
        load = open_loop(server, single, args.rate, size.duration_s, args.cap)
        probe = None
        if probe_rate > 0:
            print(f"below capacity: {probe_rate:g}/s for {size.probe_s:g} s...", file=sys.stderr)
            probe = open_loop(server, single, probe_rate, size.probe_s, args.cap)
        print(f"batches: {size.batches} x {BATCH:,} leads...", file=sys.stderr)
        batch = batches(server, bodies, size.batches)
        info = {"processes": len(server.processes()), "rss_gib": server.rss_gib()}
    finally:
        server.stop()
    return load, probe, batch, info


def measure(args: argparse.Namespace, size: Size, root: Path) -> Run:
    """Every figure of the report, on stores in ``root``."""
    server_cores, client_cores = split_cores()
    os.sched_setaffinity(0, client_cores)
    before = os.getloadavg()[0]
    stores, setup = Stores.prepare(root, size.store)
    stores.keys.write_text(f"{KEY}\n", encoding="utf-8")
    crm = Crm.read(stores.data)
    single = single_body(crm, args.activities, size.store.seed)
    bodies = [batch_body(crm, BATCH, size.store.seed + i) for i in range(1, 1 + min(BATCH_BODIES, size.batches))]

    workers = {"SALESML_WORKERS": str(args.workers)}
    server = Server(stores, root / "predictions", env=workers, cores=server_cores).start(SERVICE_START_S)
    load, probe, batch, info = on_server(server, args, size, single, bodies, args.probe_rate)
    cores = {"cores": ",".join(map(str, server_cores)), "client": ",".join(map(str, client_cores))}
    floor = floor_batch = None
    if args.floor:
        print("floor: the same load on benchmarks.floor (nothing scored)...", file=sys.stderr)
        target = "benchmarks.floor:Floor"
        server = Server(stores, root / "predictions-floor", target=target, cores=server_cores).start(SERVICE_START_S)
        floor, _, floor_batch, _ = on_server(server, args, size, single, bodies, probe_rate=0)
    print("in-process...", file=sys.stderr)
    os.sched_setaffinity(0, server_cores)  # in-process runs where the server ran
    service = load_service(stores)
    return Run(
        size=size,
        quick=args.quick,
        workers=args.workers,
        activities=args.activities,
        single_bytes=len(single),
        setup=setup,
        server=info | cores,
        load=load,
        probe=probe,
        batch=batch,
        single=in_process(service, single, size.repeats),
        batch_in=in_process(service, bodies[0], size.batch_repeats),
        floor=floor,
        floor_batch=floor_batch,
        loadavg=(before, os.getloadavg()[0]),
    )


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the server and remove the stores on SIGTERM
    size = size_of(args)
    if args.shadow:
        return shadow_main(args, size)
    with workdir(args.workdir, "salesml-serve-bench-") as root:
        run = measure(args, size, root)
    flags = " --quick" if args.quick else ""
    command = (
        f"`.venv/bin/python -m benchmarks.serve{flags} --duration {size.duration_s:g} --rate {args.rate:g}"
        f" --probe-rate {args.probe_rate:g} --cap {args.cap:g} --workers {args.workers} --batches {size.batches}"
        f" --leads {size.store.leads} --trials {size.store.trials}{'' if args.floor else ' --no-floor'}`"
    )
    text = report(run, command)
    print(text)
    if args.quick:
        return 0
    write_section(section(args.workers), text)
    return 0 if all(t.met for t in targets(run)) else 1


def section(workers: int) -> str:
    """BENCHMARKS.md's section of a run: one worker's is the main one, each other count has its own beside it."""
    return "serve" if workers == 1 else f"serve-{workers}-workers"


def shadow_main(args: argparse.Namespace, size: Size) -> int:
    """``--shadow``: the report, written to BENCHMARKS.md unless ``--quick``."""
    server_cores, client_cores = split_cores()
    os.sched_setaffinity(0, client_cores)
    with workdir(args.workdir, "salesml-serve-bench-") as root:
        text = run_shadow(args, size, root, server_cores)
    print(text)
    if not args.quick:
        write_section("serve-shadow", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
