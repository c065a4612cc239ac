"""Request parsing benchmark: a scoring body read by the request model's pydantic validation (as before) and by the
columnar path (``serving.schemas.columnar``), side by side in one run.

Run: ``.venv/bin/python -m benchmarks.parsing [--quick] [--repeats N]``. The bodies are the serving benchmark's
(``benchmarks.serve.payloads``): one lead with 100 activities, and 1,000 leads with 20-100 each. Each is timed
parsed alone, and parsed with what the service then does per activity before the features: the canonical
activity rows (``serving.context``), the warnings and the prediction log's input hashes. The two ways alternate
within each repeat, so both see the same machine. Prints a markdown section and, unless ``--quick``, writes its
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pandas as pd

from benchmarks.report import machine, write_section
from benchmarks.serve.payloads import BATCH, Crm, batch_body, single_body
from serving.context import _activity_rows, activity_warnings
from serving.predlog import input_hash
from serving.schemas.columnar import MIN_BODY_BYTES
from serving.schemas.scoring import LeadScoreRequest, _columnar

CRM = Crm(
    pd.Timestamp("2026-01-10T09:00:00Z"),
    [f"R{i:04d}" for i in range(40)],
    [f"C{i:07d}" for i in range(500)],
    {"source": ["web_form", "ads"], "region": ["east", "south"], "industry": ["software"], "company_size": ["1-49"]},
)
REPEATS = {"full": (500, 20), "quick": (5, 1)}  # single-lead and batch repeats


def by_model(body: bytes) -> LeadScoreRequest:
    """The parse before the columnar path: the model's own validation, as BentoML ran it."""
    return LeadScoreRequest.__pydantic_validator__.validate_json(body)


def by_columns(body: bytes) -> LeadScoreRequest:
    """The columnar path alone, whatever the body's size."""
    parsed = _columnar(LeadScoreRequest).parse(body)
    if parsed is None:
        raise RuntimeError("the columnar path did not take the benchmark's body")
    return parsed  # type: ignore[return-value]


def by_service(body: bytes) -> LeadScoreRequest:
    """The parse BentoML runs now: the columnar path for a large body it takes, the model's validation otherwise."""
    return LeadScoreRequest.model_validate_json(body)


WAYS = {"pydantic": by_model, "columnar": by_columns, "service": by_service}


def with_rows(parse: Callable[[bytes], LeadScoreRequest]) -> Callable[[bytes], Any]:
    """The parse, then what the service does per activity before the features."""

    def run(body: bytes) -> Any:
        leads = parse(body).leads
        rows = _activity_rows("lead", [(lead.lead_id, lead.activities) for lead in leads])
        warnings = activity_warnings(leads)
        return rows, warnings, [input_hash(lead) for lead in leads]

    return run


def alternating(body: bytes, ways: dict[str, Callable[[bytes], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each way on ``body``, the ways taking turns within each repeat."""
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            began = time.perf_counter()
            way(body)
            seconds[name].append(time.perf_counter() - began)
    return {name: statistics.median(s) for name, s in seconds.items()}


def report(command: str, rows: list[tuple[str, str, dict[str, float]]], load: tuple[float, float]) -> str:
    lines = [
        "## Request parsing (benchmarks/parsing.py)",
        "",
        f"`{command}` on {machine()}, {date.today().isoformat()}.",
        "The serving benchmark's bodies, each parsed by the request model's pydantic validation (as before), by the "
        "columnar path alone (msgspec, times checked and converted as columns) and as the service parses them now "
        f"(the columnar path for bodies of {MIN_BODY_BYTES // 2**10} KiB or more, the model below), the three "
        "alternating within each repeat; then the same with what the service does per activity before the features "
        "(canonical activity rows, warnings, the prediction log's input hashes). Medians; 1-min load average "
        f"{load[0]:.1f} before, {load[1]:.1f} after (other work on the machine).",
        "",
        "| request | step | pydantic (before) | columnar path | the service now | speed-up, now |",
        "|---|---|---|---|---|---|",
    ]
    for request, step, s in rows:
        before, columns, now = (s[way] * 1e3 for way in WAYS)
        lines.append(
            f"| {request} | {step} | {before:.2f} ms | {columns:.2f} ms | {now:.2f} ms | {before / now:.1f}x |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few repeats; does not write BENCHMARKS.md")
    parser.add_argument("--repeats", type=int, help="single-lead repeats (default: 500, or 5 with --quick)")
    args = parser.parse_args()
    single_repeats, batch_repeats = REPEATS["quick" if args.quick else "full"]
    single_repeats = args.repeats or single_repeats
    bodies = {
        "1 lead, 100 activities": (single_body(CRM, 100, 7), single_repeats),
        f"{BATCH:,} leads, 20-100 activities each": (batch_body(CRM, BATCH, 8), batch_repeats),
    }
    rows, before = [], os.getloadavg()[0]
    for request, (body, repeats) in bodies.items():
        activities = body.count(b'"occurred_at"')
        label = f"{request} ({activities:,} activities, {len(body) / 2**20:.2f} MiB)"
        for step, wrap in (("parse", lambda p: p), ("parse, activity rows, warnings, input hashes", with_rows)):
            rows.append((label, step, alternating(body, {w: wrap(parse) for w, parse in WAYS.items()}, repeats)))
    command = (
        ".venv/bin/python -m benchmarks.parsing" + (" --quick" if args.quick else "") + f" --repeats {single_repeats}"
    )
    text = report(command, rows, (before, os.getloadavg()[0]))
    print(text)
    if not args.quick:
        write_section("parsing", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
