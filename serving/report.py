"""``GET /v1/report``: the latest manager report (written by ``salesml report``) as a self-contained HTML page.

The service reads the file at each call from ``features.config.latest_report`` (``SALESML_REPORT_DIR``), so a new
report is served at once, without an export or a restart. No report yet in the asked locale: 404 with a JSON
message saying how to write one. Each answer is in the prediction log before it is sent (the locale, the status
and the SHA-256 of the page served).
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import pandas as pd
from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from features.config import latest_report
from features.messages import Locale
from serving.http import refused
from serving.predlog import PredictionLog
from serving.request_ids import HEADER, call_ids

ENDPOINT = "/v1/report"
ReportLocale = Annotated[
    Locale,
    Query(description="Language of the report: zh-CN (default) or en.", openapi_examples={"en": {"value": "en"}}),
]
MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {"message": {"type": "string", "description": "Why there is no report, and how to write one."}},
}
#: The answers the route declares in the OpenAPI document (the guard adds 401, 403, 413, 422, 429 and 503).
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The latest report: one HTML page, pictures embedded, no external URL.",
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
    404: {
        "description": "No report in this locale yet (run salesml report).",
        "content": {"application/json": {"schema": MESSAGE_SCHEMA}},
    },
}


def serve_report(request: Request, locale: str, log: PredictionLog) -> Response:
    """The latest report in ``locale``, or 404 naming the command that writes it; logged before it is returned."""
    path = latest_report(locale)
    page = path.read_bytes() if path.is_file() else None
    ids = call_ids(request)
    log.append(
        [
            {
                **ids,
                "logged_at": pd.Timestamp.now(tz="UTC").isoformat(),
                "endpoint": ENDPOINT,
                "request": {"locale": locale},
                "status": 200 if page is not None else 404,
                "report_sha256": hashlib.sha256(page).hexdigest() if page is not None else None,
            }
        ]
    )
    headers = {HEADER: ids["request_id"]}
    if page is None:
        message = f"no {locale} report yet; write one with: salesml report --data DIR --locale {locale}"
        return JSONResponse({"message": message}, status_code=404, headers=headers)
    return HTMLResponse(page, headers=headers)


async def validation_refused(request: Request, error: Exception) -> JSONResponse:
    """A GET route's bad query parameter: 422 in the service's error format (field paths and a one-line message)."""
    assert isinstance(error, RequestValidationError)
    return JSONResponse(refused(list(error.errors())), status_code=422)
