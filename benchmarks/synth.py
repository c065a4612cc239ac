"""Simulator benchmark: ``salesml data synth`` at 1M leads (about 10M activities), time and peak memory.

Run from the project root: ``.venv/bin/python -m benchmarks.synth [--quick] [--leads N] [--seed S] [--out DIR]``.
Prints the figures and, at full size, writes its section of BENCHMARKS.md (``--quick``: a smoke run on 2,000 leads).
Targets from the issue: under ~5 minutes on 2 cores, peak RSS under 6 GiB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

from benchmarks.report import figure_table, machine, peak_rss_gib, write_section
from features.synth import SynthResult, synthesize

SIZES = {"full": 1_000_000, "quick": 2_000}


def report(result: SynthResult, leads: int, seed: int, peak_gib: float, disk_mib: float) -> str:
    counts, lead_figures, deal_figures = result.counts, result.oracle["leads"], result.oracle["opportunities"]
    rows = [
        ("leads / opportunities", f"{counts['leads']:,} / {counts['opportunities']:,}"),
        ("stage changes / activities", f"{counts['stage_changes']:,} / {counts['activities']:,}"),
        ("reps / accounts / target rows", f"{counts['reps']:,} / {counts['accounts']:,} / {counts['targets']:,}"),
        ("wall time", f"{result.seconds:.1f} s"),
        ("peak RSS", f"{peak_gib:.2f} GiB"),
        ("Parquet on disk (tables + truth)", f"{disk_mib:,.0f} MiB"),
        (
            "lead conversion (drawn / by export)",
            f"{lead_figures['conversion_rate']:.1%} / {lead_figures['converted_by_export_rate']:.1%}",
        ),
        (
            "win rate (closed deals)",
            f"{deal_figures['win_rate']:.1%} ({deal_figures['n_open']:,} deals open at export)",
        ),
        ("oracle ROC AUC leads / deals", f"{lead_figures['roc_auc']:.3f} / {deal_figures['roc_auc']:.3f}"),
    ]
    lines = [
        f"## Simulator: `salesml data synth` at {leads:,} leads",
        "",
        f"`.venv/bin/python -m benchmarks.synth --leads {leads} --seed {seed}` on {machine()}, {dt.date.today()}.",
        "Targets: under ~5 min on 2 cores, peak RSS under 6 GiB.",
        "",
        *figure_table(rows),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on tiny data (not written to results)")
    parser.add_argument("--leads", type=int, help="leads to simulate (default: 1,000,000, or 2,000 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="keep the dataset here (default: a temporary directory)")
    args = parser.parse_args()
    leads = args.leads or SIZES["quick" if args.quick else "full"]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "synth"
        result = synthesize(out, leads=leads, seed=args.seed, progress=not args.quick)
        peak = peak_rss_gib()
        disk = sum(f.stat().st_size for f in out.rglob("*.parquet")) / 2**20
    text = report(result, leads, args.seed, peak, disk)
    if not args.quick:
        write_section("synth", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
