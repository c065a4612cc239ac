"""Real-data harness: salesml trained with defaults on the earlier part of an export, scored on the later part,
beside a plain logistic regression and a default LightGBM (``training.compare.compare_baselines``).

Run: ``.venv/bin/python -m benchmarks.realdata [--quick] [--seeds N]``. Datasets: X Education from
``../shared/data`` when present (imported with the ``x-education`` adapter; no event times, so a seeded random
split, as its own training does) and simulator exports reshaped like two real lead exports that defeated earlier
versions (``salesml data synth --shape growing`` and ``--shape regime``: leads table only, growing volume,
conversions months after creation; a channel taking over and the base rate rising late), each at its own size
and thin, with ``--seeds`` seeds (X Education: as many seeded random orders). Prints a markdown section and,
at full size, writes its section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.report import machine, write_section
from features.crm.importers import import_dataset
from features.synth.shapes import synthesize_shape
from training.compare import Comparison, compare_baselines

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
#: Leads per export of each shape: the shape's own size (None) and a thin one, where few positives make every
#: estimate noisy (a small team's export); --quick: one small export of one shape, one seed, one trial.
SIZES: dict[str, tuple[int | None, ...]] = {"growing": (None, 2_000), "regime": (None, 3_000)}
QUICK_SIZES: dict[str, tuple[int | None, ...]] = {"growing": (2_000,)}
BASELINES = ("plain logistic regression", "default LightGBM")
AT_CUT = ", as known at the cut"


def _datasets(tmp: Path, quick: bool, seeds: int) -> list[tuple[str, str, Path, int | None, bool]]:
    """(group, name, export, seed of the random order that splits it (None: split by time), trained as known at
    the cut)."""
    out = []
    xeducation = SHARED / "x-education-leads"
    if xeducation.exists() and not quick:
        target = tmp / "x-education"
        import_dataset("x-education", xeducation, target)
        out += [
            ("X Education", f"X Education (random order, seed {seed})", target, seed, False) for seed in range(seeds)
        ]
    for shape, sizes in (QUICK_SIZES if quick else SIZES).items():
        for leads in sizes:
            command = f"simulator --shape {shape}" + (f" --leads {leads}" if leads else "")
            for seed in range(seeds):
                target = tmp / f"{shape}-{leads or 'default'}-{seed}"
                synthesize_shape(target, shape, leads=leads, seed=seed)
                for at_cut in (False, True):
                    known = AT_CUT if at_cut else ""
                    out.append((f"{command}{known}", f"{command} --seed {seed}{known}", target, None, at_cut))
    return out


def _wins(c: Comparison) -> bool:
    return c.auc["salesml"] >= max(c.auc[b] for b in BASELINES)


def _row(name: str, c: Comparison) -> str:
    verdict = "yes" if _wins(c) else "**no**"
    return (
        f"| {name} | {c.train_entities:,} / {c.test_entities:,} ({c.test_positives:,}) | {c.auc['salesml']:.4f} | "
        + " | ".join(f"{c.auc[b]:.4f}" for b in BASELINES)
        + f" | {verdict} | {c.salesml['served']}, {c.salesml['split']} split |"
    )


def _summary(group: str, results: list[Comparison]) -> str:
    means = [statistics.mean(c.auc[m] for c in results) for m in ("salesml", *BASELINES)]
    wins = sum(_wins(c) for c in results)
    return f"| {group} | {len(results)} | " + " | ".join(f"{m:.4f}" for m in means) + f" | {wins} of {len(results)} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run on one small export; does not write BENCHMARKS.md"
    )
    parser.add_argument(
        "--seeds", type=int, help="simulator seeds per shape and X Education orders (default: 2, or 1 with --quick)"
    )
    args = parser.parse_args()
    trials = 1 if args.quick else None
    seeds = args.seeds or (1 if args.quick else 2)
    command = ".venv/bin/python -m benchmarks.realdata" + (" --quick" if args.quick else "") + f" --seeds {seeds}"
    rows, groups = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, name, data, order_seed, at_cut in _datasets(Path(tmp), args.quick, seeds):
            result = compare_baselines(
                data, "lead_score", test_share=0.25, trials=trials, order_seed=order_seed, at_cut=at_cut
            )
            groups.setdefault(group, []).append(result)
            rows.append(_row(name, result))
            print(rows[-1], flush=True)
    text = "\n".join(
        [
            "## Real-data harness: salesml beside plain baselines, out of time",
            "",
            f"`{command}` on {machine()}, {dt.date.today().isoformat()}. Each export split by creation time (X "
            "Education: random order): salesml trained with defaults on the earliest 75% of leads, the latest 25% "
            "scored with outcomes removed; the baselines fitted on the early leads' own columns. ROC AUC on the "
            'late leads\' final outcomes. Rows marked "as known at the cut" train all three on the early leads as the '
            "export stood when the first late lead was created (a fresh export: slow conversions not there yet, open "
            "leads left out of the baselines), not with the outcomes the whole export shows for them.",
            "",
            "| export | leads train / test (positive) | salesml | plain LR | default LightGBM | salesml >= both |"
            " served |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Over the seeds (means of ROC AUC):",
            "",
            "| export | runs | salesml | plain LR | default LightGBM | salesml >= both |",
            "|---|---|---|---|---|---|",
            *(_summary(group, results) for group, results in groups.items()),
        ]
    )
    print(text)
    if not args.quick:
        write_section("realdata", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
