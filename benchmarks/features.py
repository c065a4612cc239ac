"""Feature-building benchmark: ``build_features`` for 1M lead cutoffs over 10M activities, time and peak memory.

Run: ``.venv/bin/python -m benchmarks.features [--quick] [--repeats N]``. Generates the random canonical dataset of
``benchmarks.export`` (seeded), builds every lead feature, and times a DuckDB reference (ASOF JOINs over running counts)
of the activity window counts on the same data, and the same counts from ``pit.Timeline`` alone, checking that
all three agree. Prints a markdown section and, at full size, writes its section of BENCHMARKS.md.
Targets: ``build_features`` at most 2.0x the DuckDB reference timed in the same run (a ratio holds on a loaded or
a faster machine, where seconds do not), and at most 4 GiB peak RSS, on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from benchmarks.export import Size, dataset
from benchmarks.report import figure_table, machine, peak_rss_gib, write_section
from features.crm.dataset import Dataset, time_ns
from features.pit.build import build_features, default_threads
from features.pit.timeline import DAY_NS, Timeline, lookup

TARGET_RATIO, TARGET_GIB, CORES = 2.0, 4.0, 2
WINDOWS = {"total": None, "1d": 1, "7d": 7, "30d": 30}
SIZES = {"full": Size(10_000_000, 1_000_000, 250_000, 60_000), "quick": Size(200_000, 20_000, 5_000, 1_200, 30, 500)}


REFERENCE_SQL = """
CREATE OR REPLACE TEMP TABLE running AS
SELECT entity_id, known_at,
       count(*) OVER (PARTITION BY entity_id ORDER BY known_at RANGE UNBOUNDED PRECEDING) AS n
FROM (SELECT entity_id, greatest(occurred_at, coalesce(recorded_at, occurred_at))::TIMESTAMPTZ AS known_at
      FROM activities WHERE entity_type = 'lead');
SELECT f.row_id,
       coalesce(t.n, 0) AS total,
       coalesce(t.n, 0) - coalesce(d1.n, 0) AS "1d",
       coalesce(t.n, 0) - coalesce(d7.n, 0) AS "7d",
       coalesce(t.n, 0) - coalesce(d30.n, 0) AS "30d"
FROM (SELECT row_id, entity_id, cutoff_time::TIMESTAMPTZ AS cutoff_time FROM frame) f
ASOF LEFT JOIN running t ON f.entity_id = t.entity_id AND f.cutoff_time >= t.known_at
ASOF LEFT JOIN running d1 ON f.entity_id = d1.entity_id AND f.cutoff_time - INTERVAL 1 DAY >= d1.known_at
ASOF LEFT JOIN running d7 ON f.entity_id = d7.entity_id AND f.cutoff_time - INTERVAL 7 DAY >= d7.known_at
ASOF LEFT JOIN running d30 ON f.entity_id = d30.entity_id AND f.cutoff_time - INTERVAL 30 DAY >= d30.known_at
ORDER BY f.row_id
"""


def reference_counts(ds: Dataset, frame: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Activity counts known at each cutoff (to date, 1/7/30 days) from DuckDB, and the seconds the SQL took."""
    con = duckdb.connect()
    con.execute(f"SET threads = {CORES}")
    columns = ["entity_type", "entity_id", "occurred_at", "recorded_at"]
    con.register("activities", pa.Table.from_pandas(ds.tables["activities"][columns], preserve_index=False))
    con.register("frame", pa.Table.from_pandas(frame.assign(row_id=np.arange(len(frame))), preserve_index=False))
    began = time.perf_counter()
    *setup, query = REFERENCE_SQL.split(";")
    for statement in setup:
        con.execute(statement)
    counts = con.execute(query).df()
    return counts, time.perf_counter() - began


def engine_counts(ds: Dataset, frame: pd.DataFrame) -> tuple[dict[str, np.ndarray], float]:
    """The same counts with ``pit.Timeline`` alone (what build_features does for them), and the seconds taken."""
    began = time.perf_counter()
    acts, ids = ds.tables["activities"], ds.tables["leads"]["lead_id"]
    known = np.maximum(time_ns(acts["occurred_at"]), time_ns(acts["recorded_at"]))
    timeline = Timeline(lookup(acts["entity_id"], ids), known)
    codes, cutoffs = lookup(frame["entity_id"], ids), time_ns(frame["cutoff_time"])
    now = timeline.upto(codes, cutoffs)
    counts = {
        w: now - (timeline.first(codes) if d is None else timeline.upto(codes, cutoffs - d * DAY_NS))
        for w, d in WINDOWS.items()
    }
    return counts, time.perf_counter() - began


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small size for smoke runs (not written to results)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each side (the median is reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[:CORES])
    pa.set_cpu_count(min(CORES, len(available)))
    size = SIZES["quick" if args.quick else "full"]

    began = time.perf_counter()
    ds, frame = dataset(size, args.seed)
    generated_s, data_peak = time.perf_counter() - began, peak_rss_gib()
    build_s, built, reference, engine, build_peak = [], None, [], [], 0.0
    for _ in range(args.repeats):  # the three side by side in each round: a swing of the machine's load hits all
        built = None  # the peak is one build's: the last result is not kept alive through the next
        began = time.perf_counter()
        built = build_features(ds, "lead", frame)
        build_s.append(time.perf_counter() - began)
        build_peak = build_peak or peak_rss_gib()  # after the first build, before DuckDB runs in this process
        reference.append(reference_counts(ds, frame))
        engine.append(engine_counts(ds, frame))
    counts, own = reference[-1][0], engine[-1][0]
    agree = all(
        np.array_equal(built[f"act_all_n_{w}"].to_numpy(), counts[w].to_numpy())
        and np.array_equal(own[w], counts[w].to_numpy())
        for w in WINDOWS
    )
    build, ref = statistics.median(build_s), statistics.median(s for _, s in reference)
    counting = statistics.median(s for _, s in engine)

    command = f"`.venv/bin/python -m benchmarks.features{' --quick' if args.quick else ''} --repeats {args.repeats}`"
    rows = [
        ("data", f"{size.activities:,} activities on {size.leads:,} leads; {size.deals:,} deals; {size.reps} reps"),
        ("entity frame", f"{len(frame):,} (lead, cutoff) rows in random order"),
        ("features built", f"{len(built.attrs['features'])} per row (every lead family)"),
        ("`build_features` median (runs)", f"{build:.1f} s ({', '.join(f'{s:.1f}' for s in build_s)})"),
        ("`build_features` families at once (threads, the default)", f"{default_threads(len(frame))}"),
        ("peak RSS of the process after building", f"{build_peak:.2f} GiB ({data_peak:.2f} GiB before: the data)"),
        ("reference: DuckDB ASOF JOIN window counts, median", f"{ref:.1f} s ({CORES} threads)"),
        ("ratio `build_features` / reference", f"{build / ref:.2f}"),
        (
            "the same counts with `pit.Timeline` alone, median",
            f"{counting:.1f} s (ratio to reference {counting / ref:.2f})",
        ),
        ("counts agree (to date, 1 d, 7 d, 30 d), all three", "yes" if agree else "**NO**"),
        ("data generation (not timed above)", f"{generated_s:.1f} s"),
        ("load average of the machine (1, 5, 15 min) at the end", ", ".join(f"{x:.1f}" for x in os.getloadavg())),
    ]
    within = build / ref <= TARGET_RATIO and build_peak <= TARGET_GIB
    lines = [
        "## Point-in-time features: `build_features` for leads",
        "",
        f"{command} on {machine()}, {CORES} cores used, numpy {np.__version__}, "
        f"pandas {pd.__version__}, DuckDB {duckdb.__version__}, {dt.date.today()}.",
        f"Target: at most {TARGET_RATIO:.1f}x the reference's time and {TARGET_GIB:.0f} GiB peak RSS on {CORES} cores"
        + ("." if args.quick else f" ({'met' if within else '**missed**'})."),
        "The reference computes only the four all-activity counts; `build_features` computes every feature.",
        "",
        *figure_table(rows),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.quick:
        write_section("features", text)
    return 0 if agree and (args.quick or within) else 1


if __name__ == "__main__":
    sys.exit(main())
