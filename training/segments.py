"""Per-segment models: a spec's ``segments: {by, min_rows, min_positives}`` trains, after the global model, one model
per segment value with enough labelled rows, on the global split's rows of that segment (the same time boundaries,
so that its test rows are the global model's test rows of the segment and the two compare on the same rows).

Each is registered as ``<spec name>.<by>.<value slug>`` and gated like any model against its own champion, and also
against the global model of the run: unless it beats it on the segment's test rows by ``gate.min_improvement``,
routing the segment to it would lose, so it stays challenger and the global model serves the segment
(``features.scoring.segments`` routes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from features.errors import NotEnoughData
from features.scoring.metrics import binary_metrics
from features.scoring.segments import segment_model_name
from training.data import TrainingData, WindowRows, table_hash
from training.gate import gate_value
from training.spec import ModelSpec

#: What a segment model's gate adds: its test probabilities -> (figures for the report, blockers in words).
Judge = Callable[[np.ndarray], tuple[dict[str, Any], list[str]]]


class Registered(Protocol):
    """What a model's training returned (``training.train.TrainResult``), as far as the segments read it."""

    version: str
    run_id: str
    promoted: bool
    report: dict[str, Any]
    test_rows: pd.DataFrame


#: Trains and registers one model of split rows: (rows, their guarded matrices, the judge, the segment) -> result.
Fit = Callable[[TrainingData, Any, Judge, dict[str, str]], Registered]
#: The guards and encoded matrices of split rows (``training.train.model_matrices``); NotEnoughData below minimums.
Matrices = Callable[[ModelSpec, TrainingData], Any]


def segment_values(data: TrainingData) -> list[str]:
    """The segment values of the labelled rows, most rows first (missing values: the global model's)."""
    column = data.spec.segments.column
    return [str(v) for v in data.table[column].dropna().astype(str).value_counts().index]


def segment_data(data: TrainingData, value: str) -> TrainingData:
    """The split rows of one segment value, under the segment model's name; the window heads' rows likewise."""
    column = data.spec.segments.column
    keep = data.table[column].astype(str).eq(value).to_numpy()
    table = data.table[keep].reset_index(drop=True)
    windows = {}
    for days, rows in data.windows.items():
        mine = rows.table[column].astype(str).eq(value).to_numpy()
        windows[days] = WindowRows(rows.table[mine].reset_index(drop=True), rows.segment[mine])
    spec = data.spec.model_copy(update={"name": segment_model_name(data.spec.name, data.spec.segments.by, value)})
    return TrainingData(
        dataset=data.dataset,
        spec=spec,
        table=table,
        y=data.y[keep],
        segment=data.segment[keep],
        candidates=data.candidates,
        split_kind=data.split_kind,
        segment_starts=data.segment_starts,
        data_hash=table_hash(table),
        horizon_note=data.horizon_note,
        windows=windows,
    )


def versus_global(spec: ModelSpec, y: np.ndarray, global_p: np.ndarray, global_version: str) -> Judge:
    """The segment model's extra gate: beat the run's global model on the segment's test rows by the spec's
    ``gate.min_improvement`` on its gate metric."""

    def judge(p: np.ndarray) -> tuple[dict[str, Any], list[str]]:
        ours, theirs = binary_metrics(y, p), binary_metrics(y, global_p)
        gain = gate_value(ours, spec.gate.metric) - gate_value(theirs, spec.gate.metric)
        figures = {"global_version": global_version, "metric": spec.gate.metric, "segment": ours, "global": theirs}
        figures["gain"] = gain
        if gain >= spec.gate.min_improvement:
            return figures, []
        return figures, [
            f"it does not beat the global model v{global_version} on this segment's test rows by "
            f"{spec.gate.min_improvement} {spec.gate.metric} ({ours[spec.gate.metric]:.3f} against "
            f"{theirs[spec.gate.metric]:.3f}): the global model serves the segment"
        ]

    return judge


def train_segments(
    data: TrainingData, global_model: Registered, fit: Fit, matrices_of: Matrices
) -> list[dict[str, Any]]:
    """One model per segment value with the spec's minimum labelled rows and positives, after the global model;
    per value what the report and the CLI show (rows, positives, the two test AUCs, promoted or why not), also
    logged to the global model's run as ``segments.json``."""
    spec = data.spec
    test_p = global_model.test_rows["probability"].to_numpy()
    wanted = spec.segments
    test_values = data.table.loc[data.rows("test"), wanted.column].astype(str).to_numpy()
    out = []
    for value in segment_values(data):
        part = segment_data(data, value)
        row = {
            "by": wanted.by,
            "value": value,
            "model": part.spec.name,
            "rows": int(len(part.y)),
            "positives": int(part.y.sum()),
        }
        if row["rows"] < wanted.min_rows or row["positives"] < wanted.min_positives:
            out.append(row | {"trained": False, "why": _too_few(row, wanted.min_rows, wanted.min_positives)})
            continue
        try:
            matrices = matrices_of(part.spec, part)
        except NotEnoughData as why:
            out.append(row | {"trained": False, "why": str(why)})
            continue
        y_test = matrices[4]["test"]
        judge = versus_global(spec, y_test, test_p[test_values == value], global_model.version)
        result = fit(part, matrices, judge, {"by": wanted.by, "column": wanted.column, "value": value})
        out.append(row | _figures(result))
    MlflowClient().log_dict(global_model.run_id, out, "segments.json")
    return out


def _too_few(row: dict[str, Any], min_rows: int, min_positives: int) -> str:
    return (
        f"{row['rows']:,} labelled rows and {row['positives']:,} positives, under segments.min_rows {min_rows:,}"
        f" or segments.min_positives {min_positives:,}: the global model serves it"
    )


def _figures(result: Registered) -> dict[str, Any]:
    versus = result.report["versus_global"]
    return {
        "trained": True,
        "version": result.version,
        "test_rows": int(result.report["split"]["rows"]["test"]),
        "segment_auc": versus["segment"]["roc_auc"],
        "global_auc": versus["global"]["roc_auc"],
        "promoted": result.promoted,
        "why": "; ".join(result.report["gate"]["blockers"]),
    }


def segment_lines(segments: list[dict[str, Any]]) -> list[str]:
    """The segments' figures, a line each, for the CLI."""
    lines = []
    for s in segments:
        head = f"{s['model']}: {s['rows']:,} rows, {s['positives']:,} positives"
        if not s["trained"]:
            lines.append(f"{head}; not trained: {s['why']}")
            continue
        verdict = "champion" if s["promoted"] else f"challenger ({s['why']})"
        lines.append(
            f"{head}; v{s['version']} test ROC AUC {s['segment_auc']:.3f} against the global model's "
            f"{s['global_auc']:.3f} on the same {s['test_rows']:,} rows; {verdict}"
        )
    return lines
