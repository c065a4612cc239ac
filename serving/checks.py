"""``POST /v1/checks``: the data anomaly guard on records a CRM sends, against the history the service holds.

The sent records replace the history's rows with the same ids (a changed record) or join them (a new one); the
checks are ``features.crm.checks``, the code ``salesml data check`` runs, as of ``as_of``; the answer keeps the
findings that involve a sent record: duplicates among the sent records and against the history, a deal against
its rep's recent deals, a discount against the rep's authority. Nothing is changed anywhere. The findings' evidence
and notes quote no phone or e-mail: each is its keyed hash (``features.crm.privacy``), the same as in the prediction
log, so a reviewer can still tell one phone from another.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.crm.checks import RULES, check_dataset
from features.crm.dataset import Dataset, conform
from features.crm.privacy import Redactor
from serving.schemas.checks import ChecksRequest, ChecksResponse, Finding


def check_records(history: Dataset, request: ChecksRequest, request_id: str, redactor: Redactor) -> ChecksResponse:
    """The findings that involve a record of ``request``, with the history's rows of the same ids replaced; the
    evidence and notes masked by ``redactor``."""
    at = pd.Timestamp(request.at())
    tables = dict(history.tables)
    sent: dict[str, set[str]] = {}
    for name, (table, key) in ChecksRequest.lists.items():
        records = [item.model_dump() for item in getattr(request, name)]
        sent[table] = {r[key] for r in records}
        if records:
            rows = conform(table, pd.DataFrame(records))
            past = history.get(table)
            tables[table] = pd.concat([past[~past[key].isin(sent[table])], rows], ignore_index=True)
    result = check_dataset(Dataset(history.manifest, tables), at, request.similarity)
    found = result.findings
    involved = np.array(  # an array, not a list: an empty list would select no columns rather than no rows
        [row.record_id in sent[row.table] or row.other_record_id in sent[row.table] for row in found.itertuples()],
        dtype=bool,
    )
    kept = found[involved].astype(object).where(found[involved].notna(), None)
    kept["evidence"] = kept["evidence"].map(redactor.mask)
    return ChecksResponse(
        request_id=request_id,
        as_of=at.to_pydatetime(),
        rules=RULES,
        checked=result.checked,
        findings=[Finding(**row) for row in kept.to_dict("records")],
        notes=[redactor.mask(note) for note in result.notes],
    )


def log_record(head: dict[str, Any], request: ChecksRequest, answer: ChecksResponse) -> dict[str, Any]:
    """The call's prediction-log line: its parameters, how many records it sent, and every finding."""
    return {
        **head,
        "as_of": answer.as_of.isoformat(),
        "request": {
            "similarity": request.similarity,
            **{
                name: [getattr(item, key) for item in getattr(request, name)]
                for name, (_, key) in request.lists.items()
            },
        },
        "findings": [f.model_dump(mode="json") for f in answer.findings],
        "notes": answer.notes,
    }
