"""Shadow scoring: a share of the scoring calls is also scored by the challenger, after the champion's answer, so
that the two can be compared on live calls (``salesml models compare``) without a client ever seeing the
challenger's scores.

Which calls are shadowed depends on the request id alone (its hash against ``SALESML_SHADOW_SHARE``), so every
worker picks the same ones and a share of 1 or 0 is exact. The challenger scores the feature table the champion's
batch was built with (features are built once), without factors, on the scoring thread once the batch's answers are
out, on the items the global champion answered (those routed to a segment's champion are not its to replace); its
records go to the prediction log marked ``shadow``, with the call's request id and item ids. A challenger that fails
is logged once per worker, and the calls go on as before.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from features import settings
from features.insights.monitoring.outcomes import SHADOW
from serving.batching import Call
from serving.predlog import PredictionLog
from serving.results import model_fields, model_inputs, score_rows
from serving.store import Exported

HASH_SPAN = 2**64  # request id hashes are read as 8-byte numbers
logger = logging.getLogger(__name__)


def shadowed(request_id: str, share: float) -> bool:
    """Whether a call is shadow-scored: the same for every worker and every retry of it."""
    digest = hashlib.sha256(request_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / HASH_SPAN < share


class Shadow:
    """Shadow-scores the chosen calls of a worker's batches on ``executor`` (its scoring thread)."""

    def __init__(self, executor: ThreadPoolExecutor, share: float | None = None) -> None:
        self.executor = executor
        self.share = settings.SHADOW_SHARE.get() if share is None else share
        self._failed = False

    def after(
        self,
        challenger: Exported | None,
        calls: list[Call],
        table: pd.DataFrame,
        log: PredictionLog,
        answered: list[bool] | None = None,
    ) -> None:
        """Queue the challenger's scores of the chosen calls in ``table`` (the batch's features), when any, for
        ``log`` (the one the champion's records went to); ``answered``: per row, whether the champion the challenger
        would replace answered it (False: its segment's champion did; default: every row)."""
        if challenger is None or self.share <= 0:
            return
        chosen = [shadowed(call.head["request_id"], self.share) for call in calls]
        if any(chosen):
            self.executor.submit(self._score, challenger, calls, table, chosen, log, answered)

    def _score(
        self,
        challenger: Exported,
        calls: list[Call],
        table: pd.DataFrame,
        chosen: list[bool],
        log: PredictionLog,
        answered: list[bool] | None,
    ) -> None:
        try:
            log.append(shadow_records(challenger, calls, table, chosen, answered))
        except Exception:  # whatever the challenger raises: the champion answered, and goes on answering
            if not self._failed:
                self._failed = True
                info = challenger.info
                logger.exception("shadow scoring with %s v%s failed", info["name"], info["version"])


def shadow_records(
    challenger: Exported,
    calls: list[Call],
    table: pd.DataFrame,
    chosen: list[bool],
    answered: list[bool] | np.ndarray | None = None,
) -> list[dict[str, Any]]:
    """The challenger's prediction-log record of each item of the ``chosen`` calls that the champion it would
    replace answered (``answered``, per row; default: every row); ``table`` holds the features of every call's items
    in order. An item its segment's champion answered is left out: the challenger would not score it if promoted, and
    ``salesml models compare`` pairs the challenger with the champion's own records."""
    items = [getattr(call.request, call.request.items_and_key[0]) for call in calls]
    picked = np.repeat(chosen, [len(i) for i in items])
    if answered is not None:
        picked &= np.asarray(answered, dtype=bool)
    part = pd.DataFrame(table, copy=False).iloc[np.flatnonzero(picked)]
    rows = zip(score_rows(challenger.scorer.predict(part)), model_inputs(part, challenger), strict=True)
    logged_at = pd.Timestamp.now(tz="UTC").isoformat()
    records = []
    position = 0
    for call, its_items in zip(calls, items, strict=True):
        key = call.request.items_and_key[1]
        as_of = pd.Timestamp(call.request.at()).to_pydatetime().isoformat()
        for item in its_items:
            position += 1
            if not picked[position - 1]:
                continue
            row, values = next(rows)
            records.append(
                {
                    **call.head,
                    **model_fields(challenger),
                    SHADOW: True,
                    "logged_at": logged_at,
                    "entity_id": getattr(item, key),
                    "as_of": as_of,
                    "inputs": values,
                    "probability": float(row.probability),
                    "score": int(row.score),
                    "grade": str(row.grade),
                }
            )
    return records
