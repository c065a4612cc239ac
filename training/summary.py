"""The training report in words: report.md (an MLflow artifact), and the comparison the terminal and the manager
report show."""

from __future__ import annotations

from typing import Any

from training.gate import floor_line

SHOWN = ("roc_auc", "pr_auc", "log_loss", "brier", "ece", "lift_top_decile")


def metric_text(value: Any) -> str:
    """A metric as the comparisons print it: a float to three decimals."""
    return f"{value:.3f}" if isinstance(value, float) else str(value)


CANDIDATE_NAMES = {
    "lightgbm": "LightGBM",
    "logistic": "logistic regression",
    "naive_bayes": "naive Bayes",
    "blend": "LightGBM + logistic blend",
}


def comparison_rows(report: dict[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """salesml, the candidates it weighed and every baseline, same test rows (a report without candidates is
    of a LightGBM version)."""
    chosen = report.get("chosen", "lightgbm")
    served = f"salesml ({CANDIDATE_NAMES[chosen]}, calibrated)"
    others = [
        (f"candidate: {CANDIDATE_NAMES[name]}", c["test"])
        for name, c in report.get("candidates", {}).items()
        if name != chosen
    ]
    return [(served, report["test"]["metrics"]), *others, *report["baselines"].items()]


def _candidate_lines(report: dict[str, Any]) -> list[str]:
    """The candidates, each calibrated on calib, where the choice among them is made."""
    rows = [
        f"| {CANDIDATE_NAMES[name]}{' (served)' if name == report['chosen'] else ''} | {c['calibration']} | "
        f"{c['calib_log_loss']:.4f} | {c['vs_default']:+.4f} ({c['se']:.4f}) | {c['test']['roc_auc']:.3f} | "
        f"{c['test_distinct']} |"
        for name, c in report["candidates"].items()
    ]
    return [
        "## Candidates (fitted on train, calibrated and chosen on calib)",
        "",
        f"The spec's default ({CANDIDATE_NAMES[report['selection']['default']]}) is served unless another"
        " candidate's calibrated log loss on calib is lower by more than"
        f" {report['selection']['clearly_better_se']:g} standard errors of the paired per-entity difference.",
        "",
        "| candidate | calibration | calib log loss | vs default (se) | test ROC AUC | distinct test probabilities |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _served_fit(refit: dict[str, Any]) -> str:
    """What the served model was fitted on: every row (the local path's refit) or the train split on Dask."""
    rows = f"{refit['rows']:,} rows ({refit['positives']:,} positives) up to {refit['trained_until']}"
    if refit.get("engine") == "dask":
        return f"fitted on the Dask cluster on the {rows} of train, tuned on a sample of {refit['tuning_sample']:,}"
    return f"refit on {rows}, calibrated across {refit['folds']} folds ({refit['calibration']})"


def render_markdown(report: dict[str, Any]) -> str:
    split, grades = report["split"], report["test"]["grades"]
    lines = [
        f"# {report['model']}: training report",
        "",
        f"- entity: {report['entity']}; label: `{report['label']}` (horizon: "
        + (report["horizon_note"] if report["horizon_days"] else "eventual outcome")
        + ")",
        f"- protocol: {report['protocol']}",
        f"- data window: {report['data_window'][0]} .. {report['data_window'][1]}",
        f"- data hash: `{report['data_hash'][:16]}`",
        f"- split: {split['kind']} ({split['note']}); rows {split['rows']}; positives {split['positives']}",
        f"- served: {CANDIDATE_NAMES[report['chosen']]}, calibration {report['calibration']['chosen']}; "
        + _served_fit(report["refit"]),
        "- gate: "
        + ("passed" if not report["gate"]["blockers"] else "; ".join(report["gate"]["blockers"]))
        + (" (promoted anyway: --promote)" if report["gate"]["forced"] else ""),
        f"- baselines: {floor_line(report['gate']['floor'])}",
        f"- tuning: {report['tuning']['trials']} Optuna trials ({report['tuning']['pruned']} pruned), "
        f"best iteration {report['tuning']['best_iteration']}, study `{report['tuning']['study_name']}`",
        "",
        "## Test split: salesml and the baselines on the same rows",
        "",
        f"Skill: {report['test']['skill']['verdict']}.",
        "",
        *([f"Calibration: {report['test']['calibration']['verdict']}.", ""] if "calibration" in report["test"] else []),
        "| model | " + " | ".join(SHOWN) + " |",
        "|---|" + "---|" * len(SHOWN),
        *(f"| {name} | " + " | ".join(metric_text(m[k]) for k in SHOWN) + " |" for name, m in comparison_rows(report)),
        "",
        *_candidate_lines(report),
        "## Grades on the test split",
        "",
        "| grade | share | conversion rate | n |",
        "|---|---|---|---|",
        *(f"| {g['grade']} | {g['share']:.1%} | {g['conversion_rate']:.1%} | {g['n']} |" for g in grades),
        "",
        "A converts more than B and B more than C: " + ("yes" if report["test"]["grades_ordered"] else "**no**"),
        "",
        *_window_lines(report["test"].get("windows", {})),
        "## Key factors (mean |SHAP| on the test split)",
        "",
        "| factor | 因素 | mean abs SHAP (log-odds) | direction |",
        "|---|---|---|---|",
        *(f"| {f['en']} | {f['zh']} | {f['mean_abs_shap']:.3f} | {f['direction']} |" for f in report["global_factors"]),
        "",
        "## Leakage guard",
        "",
    ]
    flags = report["leakage_flags"]
    lines += [
        f"- `{f['feature']}`: {f['reason']} -> {'kept (allowed by the spec)' if f['allowed'] else 'excluded'}"
        for f in flags
    ] or ["No feature flagged."]
    return "\n".join(lines) + "\n"


def _window_lines(windows: dict[str, dict[str, float]]) -> list[str]:
    """Time-window heads on the test split (capped so that shorter windows never exceed longer ones)."""
    if not windows:
        return []
    header = ["## Time windows on the test split", "", "| window | ROC AUC | ECE | Brier |", "|---|---|---|---|"]
    rows = [
        f"| within {w} | " + " | ".join(metric_text(m[k]) for k in ("roc_auc", "ece", "brier")) + " |"
        for w, m in windows.items()
    ]
    return [*header, *rows, ""]
