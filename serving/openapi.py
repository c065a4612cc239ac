"""The OpenAPI document (``/docs.json``) as the front door answers: the bearer scheme and its error statuses on
``/v1``, and the top-level fields that take null (BentoML's document leaves that out)."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "title": "ApiError",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "description": "What went wrong, with the field path where there is one."},
        "detail": {
            "type": "array",
            "description": "Validation errors: loc (field path), msg, type.",
            "items": {"type": "object"},
        },
    },
}
ERROR_ANSWERS = {
    "401": "Missing or unknown API key",
    "403": "Revoked API key, or on /v1/admin/ a key that is not an admin key",
    "408": "The request body came too slowly (SALESML_BODY_TIMEOUT_S, SALESML_BODY_MIN_KIB_S); the connection is "
    "closed",
    "413": "More than 1,000 items, or a body over the size limit",
    "422": "Invalid request: the field path and what is wrong (NaN, events after as_of, as_of outside the history, "
    "no targets for the period, ...)",
    "429": "Too many requests in progress (SALESML_MAX_CONCURRENCY): retry after a pause",
    "503": "The model or history for this endpoint is not loaded (run salesml export: the service then loads it); on"
    " /v1/admin/reload: the latest export did not load whole, and the models served before stay",
}
BODY_ANSWERS = {"415": "The body is not JSON: send it with Content-Type: application/json"}


def documented(spec: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with what this middleware answers on /v1: bearer auth and the error statuses."""
    spec.setdefault("components", {}).setdefault("schemas", {})["ApiError"] = ERROR_SCHEMA
    spec["components"].setdefault("securitySchemes", {})["bearer"] = {"type": "http", "scheme": "bearer"}
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}
    for path, operations in spec.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            answers = ERROR_ANSWERS
            if "requestBody" in operation:
                answers = ERROR_ANSWERS | BODY_ANSWERS
                operation["requestBody"]["required"] = True
                _nullable(operation["requestBody"]["content"]["application/json"]["schema"])
            responses = operation.setdefault("responses", {})
            for answer in responses.get("200", {}).get("content", {}).values():
                _nullable(answer.get("schema", {}))
            responses.pop("400", None)
            responses.update({code: {"description": text, **ref} for code, text in answers.items()})
            operation["security"] = [{"bearer": []}]
    return spec


def _nullable(schema: dict[str, Any]) -> None:
    """BentoML's document drops ``| None`` from the top-level fields of a request and of an answer, though the service
    takes null there (``as_of``: null or left out means the default) and may answer it; put it back, as nested
    models have it."""
    for name, field in schema.get("properties", {}).items():
        if field.get("default", ...) is None and "type" in field:
            kept = {key: field[key] for key in ("default", "description", "title") if key in field}
            typed = {key: value for key, value in field.items() if key not in kept}
            schema["properties"][name] = {**kept, "anyOf": [typed, {"type": "null"}]}
