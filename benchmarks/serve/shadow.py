"""``python -m benchmarks.serve --shadow``: what shadow scoring costs a single-lead call. The same stores, with a
lead_score challenger exported beside the champion, served at ``SALESML_SHADOW_SHARE`` 0 and then 1 in one run; each
server gets the same single-lead request one at a time (the open loop's warm-up) and then the open loop at
``--probe-rate``, below capacity. Done when share 1 adds at most ``MAX_ADDED`` to the p50."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import numpy as np

from benchmarks.report import figure_table, machine
from benchmarks.serve.load import KEY, Load, open_loop
from benchmarks.serve.payloads import Crm, single_body
from benchmarks.serve.report import Size
from benchmarks.server import Server
from benchmarks.stores import Stores

SHARES = ("0", "1")
MAX_ADDED = 0.30  # share 1 may add this much to the single-lead p50
MODEL = "lead_score"
START_S = 180


def measure_shadow(args: argparse.Namespace, size: Size, root: Path, cores: list[int]) -> dict[str, Load]:
    """The open-loop runs at each share, on stores in ``root`` with a challenger."""
    stores, _ = Stores.prepare(root, size.store)
    stores.keys.write_text(f"{KEY}\n", encoding="utf-8")
    if not (root / "bentoml" / "models" / f"{MODEL}_challenger").is_dir():
        stores.with_challenger(MODEL)
    single = single_body(Crm.read(stores.data), args.activities, size.store.seed)
    loads = {}
    for share in SHARES:
        env = {"SALESML_SHADOW_SHARE": share, "SALESML_WORKERS": str(args.workers)}
        server = Server(stores, root / f"predictions-shadow-{share}", env=env, cores=cores).start(START_S)
        try:
            print(f"share {share}: {args.probe_rate:g}/s for {size.duration_s:g} s...", file=sys.stderr)
            loads[share] = open_loop(server, single, args.probe_rate, size.duration_s, args.cap)
        finally:
            server.stop()
    return loads


def p50_ms(latency: list[float]) -> float:
    return 1e3 * float(np.median(latency))


def shadow_report(loads: dict[str, Load], command: str, loadavg: tuple[float, float]) -> str:
    """The section of BENCHMARKS.md: p50 one at a time and under the open loop at each share, and the added share."""
    off, on = loads["0"], loads["1"]
    alone = p50_ms(on.unloaded) / p50_ms(off.unloaded) - 1
    loaded = on.ms(0.5) / off.ms(0.5) - 1
    rows = [
        ("single-lead p50, one at a time (50 calls), share 0 / 1", _pair(p50_ms(off.unloaded), p50_ms(on.unloaded))),
        (
            f"single-lead p50, open loop {off.rate:g}/s for {off.duration_s:g} s, share 0 / 1",
            _pair(off.ms(0.5), on.ms(0.5)),
        ),
        ("single-lead p99, open loop, share 0 / 1", _pair(off.ms(0.99), on.ms(0.99))),
        ("server CPU a call one at a time, share 0 / 1", _pair(1e3 * off.unloaded_cpu_s, 1e3 * on.unloaded_cpu_s)),
        (
            "added to the p50: one at a time / open loop",
            f"{alone:+.0%} / {loaded:+.0%} (target: at most +{MAX_ADDED:.0%})",
        ),
        ("errors, share 0 / 1", f"{off.error_count} / {on.error_count}"),
        ("load average (1 min) before / after", f"{loadavg[0]:.1f} / {loadavg[1]:.1f}"),
    ]
    met = max(alone, loaded) <= MAX_ADDED
    lines = [
        "## Serving: shadow scoring (benchmarks/serve.py --shadow)",
        "",
        f"{command} on {machine()}, {dt.date.today()}.",
        "The same stores with a lead_score challenger (a copy of the champion) exported beside it, served at"
        " `SALESML_SHADOW_SHARE` 0 and then 1 in one run: at 1 every call is also scored by the challenger on the"
        " champion's features, after the answer, and logged apart. Same single-lead request (100 activities).",
        "",
        *figure_table(rows),
        "",
        f"Verdict: {'met' if met else 'NOT met'}.",
    ]
    return "\n".join(lines)


def _pair(a: float, b: float) -> str:
    return f"{a:,.1f} ms / {b:,.1f} ms"


def run_shadow(args: argparse.Namespace, size: Size, root: Path, cores: list[int]) -> str:
    """Measure on the server ``cores`` (this process already runs on the others) and the report."""
    before = os.getloadavg()[0]
    loads = measure_shadow(args, size, root, cores)
    command = (
        f"`.venv/bin/python -m benchmarks.serve --shadow{' --quick' if args.quick else ''} --duration"
        f" {size.duration_s:g} --probe-rate {args.probe_rate:g} --cap {args.cap:g} --workers {args.workers}"
        f" --leads {size.store.leads} --trials {size.store.trials}`"
    )
    return shadow_report(loads, command, (before, os.getloadavg()[0]))
