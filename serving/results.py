"""From a scored batch to what the service sends and logs: each item's answer fields (probability, score, grade,
factors, windows) and its prediction-log record, and the head every record of a call starts with.

Answers are plain dicts, validated once by the response model in pydantic's core: a batch of 1,000 items with 10
factors each costs far less that way than built model by model.
"""

from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

import bentoml
import numpy as np
import pandas as pd

from features.scoring.explanations import FactorEffect
from features.scoring.inputs import model_values
from serving.batching import Call
from serving.predlog import input_hash
from serving.request_ids import HEADER as REQUEST_ID_HEADER
from serving.request_ids import call_ids
from serving.store import Exported

if TYPE_CHECKING:
    from pydantic import BaseModel

    from serving.predlog import PredictionLog
    from serving.schemas.forecast import ForecastOptions

Reasons = dict[str, list[FactorEffect]]


def scored_calls(
    models: list[Exported],
    segments: list[str | None],
    calls: list[Call],
    scored: pd.DataFrame,
    reasons: list[Reasons],
    table: pd.DataFrame,
    warnings: list[list[str]],
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """One list of answers per call, and every item's prediction-log record. ``models`` (the model that scored the
    item: its segment's or the global one), ``segments`` (its segment value, None: the global model), ``scored``,
    ``reasons``, ``table`` (the features) and ``warnings`` hold one row per item, the calls' items in order."""
    inputs = routed_inputs(table, models)
    rows = zip(models, segments, score_rows(scored), reasons, inputs, warnings, strict=True)
    answers, records = [], []
    logged_at = datetime.now(UTC).isoformat()
    for call in calls:
        as_of = pd.Timestamp(call.request.at()).to_pydatetime()
        name, key = call.request.items_and_key
        results = []
        for item in getattr(call.request, name):
            model, segment, row, reason, values, warned = next(rows)
            result = item_result(model, row, reason, as_of, warned + row.warnings) | {"segment": segment}
            results.append({key: getattr(item, key), **result})
            records.append(
                {
                    **call.head,
                    **model_fields(model),  # a reload between the call and its batch: the model that scored it
                    "logged_at": logged_at,
                    "entity_id": getattr(item, key),
                    "as_of": as_of.isoformat(),
                    "input_hash": input_hash(item),
                    "inputs": values,
                    "probability": result["probability"],
                    "score": result["score"],
                    "grade": result["grade"],
                    "factors": {e.factor: e.contribution for e in reason["positive"] + reason["negative"]},
                    "warnings": result["warnings"],
                }
            )
        answers.append(results)
    return answers, records


def score_rows(scored: pd.DataFrame) -> Iterator[Any]:
    """Each row of scores as a named tuple of Python values, read column by column (``itertuples`` took a third of
    a call's answering, the mixed dtypes' ``to_numpy(dtype=object)`` more than the columns' own ``tolist``)."""
    columns = [scored._get_column_array(i).tolist() for i in range(scored.shape[1])]
    return map(_row_type(tuple(scored.columns))._make, zip(*columns, strict=True))


@cache
def _row_type(columns: tuple[str, ...]) -> type:
    return namedtuple("Scores", columns)  # the columns vary with the model's window heads


def item_result(model: Exported, row: Any, reason: Reasons, as_of: datetime, warnings: list[str]) -> dict[str, Any]:
    """One item's answer fields, as the response models take them."""
    result: dict[str, Any] = {
        "probability": float(row.probability),
        "score": int(row.score),
        "grade": str(row.grade),
        "base_probability": float(row.base_probability),
        "top_positive": [factor(e) for e in reason["positive"]],
        "top_negative": [factor(e) for e in reason["negative"]],
        "other_effect": float(row.other_effect),
        **model_fields(model),
        "as_of": as_of,
        "warnings": warnings,
        **{f"p_win_{d}d": float(getattr(row, f"p_{d}d")) for d in model.window_days},
    }
    if model.window_days and np.isfinite(row.expected_days):
        result["expected_close_at"] = as_of + pd.Timedelta(days=float(row.expected_days)).to_pytimedelta()
    return result


def factor(effect: FactorEffect) -> dict[str, Any]:
    """The response's factor (``FactorOut``) as a dict; a value that is no finite number is null."""
    value = effect.value.item() if isinstance(effect.value, np.generic) else effect.value
    if isinstance(value, float) and not math.isfinite(value):  # numpy's isfinite costs 15x more on one number
        value = None
    return {
        "factor": effect.factor,
        "name": effect.name,
        "feature": effect.feature,
        "feature_name": effect.feature_name,
        "value": value,
        "contribution": float(effect.contribution),
        "delta_probability": float(effect.delta_probability),
    }


def routed_inputs(table: pd.DataFrame, models: list[Exported]) -> list[dict[str, Any]]:
    """Per row, the input values of the model that scored it (``model_inputs``)."""
    distinct = list({id(m): m for m in models}.values())
    if len(distinct) == 1:  # no segment model answered: the whole table at once, as before segments
        return model_inputs(table, distinct[0])
    out: list[dict[str, Any]] = [{}] * len(models)
    for model in distinct:
        rows = [i for i, m in enumerate(models) if m is model]
        for row, values in zip(rows, model_inputs(table.iloc[rows], model), strict=True):
            out[row] = values
    return out


def model_inputs(table: pd.DataFrame, model: Exported) -> list[dict[str, Any]]:
    """Per row, the model's input values (missing ones left out): what monitoring compares with training data."""
    names = model.scorer.feature_names
    rows = zip(*model_values(table, names), strict=True) if names else ([] for _ in range(len(table)))
    return [{name: value for name, value in zip(names, row, strict=True) if value is not None} for row in rows]


def answered_ids(ctx: bentoml.Context) -> dict[str, str]:
    """The call's ids in the prediction log (``serving.request_ids``); its request_id is sent back as X-Request-ID,
    so both sides can trace the call."""
    ids = call_ids(ctx.request)
    ctx.response.metadata[REQUEST_ID_HEADER] = ids["request_id"]
    return ids


def request_id(ctx: bentoml.Context) -> str:
    return answered_ids(ctx)["request_id"]


def log_head(ctx: bentoml.Context, model: Exported | None = None) -> dict[str, Any]:
    """What every prediction-log record of a call starts with: the call and the model that answered it (none for
    the data checks)."""
    head = {
        **answered_ids(ctx),
        "logged_at": datetime.now(UTC).isoformat(),
        "endpoint": ctx.request.url.path,
    }
    return head | model_fields(model) if model is not None else head


def answer_head(head: dict[str, Any]) -> dict[str, Any]:
    """What an answer shares with its log records' head: the call's id and the model that answered."""
    return {key: head[key] for key in ("request_id", "model", "model_version", "model_kind")}


def model_fields(model: Exported) -> dict[str, Any]:
    """The model, version and kind (``ml`` or ``prior``) an answer and its log records name."""
    return {"model": model.info["name"], "model_version": model.info["version"], "model_kind": model.kind}


def forecast_logged(
    log: PredictionLog, head: dict[str, Any], at: pd.Timestamp, request: ForecastOptions, rows: list[BaseModel]
) -> dict[str, Any]:
    """Logs a forecast call (its parameters and every row) before its answer is sent; the fields the answer shares
    with the log."""
    log.append(
        [
            {
                **head,
                "as_of": at.isoformat(),
                "request": request.model_dump(mode="json", exclude={"as_of"}),
                "rows": [row.model_dump(mode="json") for row in rows],
            }
        ]
    )
    return {
        **answer_head(head),
        "as_of": at.to_pydatetime(),
        "period": request.period,
    }
