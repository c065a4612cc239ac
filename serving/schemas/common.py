"""What every endpoint's models share: size limits, checked times and numbers, unknown fields refused, and the
request examples.

Validation here is about what a client can get wrong: types, NaN, sizes, and times pandas cannot hold.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from features.messages import LOCALES

#: What an answer says of the model behind it: a prior (a new CRM's, before its data can train one) or ML.
ModelKind = Annotated[
    Literal["ml", "prior"],
    Field(
        description="ml, or prior: the prior model `salesml train` registers while the CRM has too little labelled "
        "data for an ML model (field points rules or value frequencies; no test figures)."
    ),
]

MAX_ITEMS = 1000
MAX_EVENTS = 10_000
MAX_ID = 200
MAX_TEXT = 20_000

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID)]
Text = Annotated[str, Field(max_length=MAX_ID)]
Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]  # strict: true is not a number
AttributeValue = Annotated[str, Field(max_length=MAX_TEXT)] | Number | bool | None
#: The language of a call's text, as requests take it (the OpenAPI document shows the pattern).
RequestLocale = Annotated[str, Field(pattern=f"^({'|'.join(LOCALES)})$")]

#: Times a CRM can mean (and pandas can hold: 1677-2262).
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)

#: The request examples, one JSON file per endpoint; the repository's ``examples/`` links to them for curl.
EXAMPLES = Path(__file__).parent / "examples"


def example(name: str) -> dict[str, Any]:
    """A request example by its file name: the body the OpenAPI document (/docs.json) shows, the README's curl
    commands send and the tests post."""
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def documented(name: str) -> ConfigDict:
    """The config of a request model whose OpenAPI example is ``examples/NAME.json``; unknown fields are refused."""
    return ConfigDict(extra="forbid", json_schema_extra={"example": example(name)})


def _utc(value: datetime) -> datetime:
    """Times without a zone are read as UTC, as everywhere in salesml; all times end up with the stdlib's UTC,
    which pandas converts on its fast path."""
    try:
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}") from None
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}")
    return value


def _not_a_number(value: object) -> object:
    """A time is sent as ISO 8601 text, as the schema says: a number would be read as seconds since 1970, silently."""
    if isinstance(value, int | float):
        raise ValueError("a time is ISO 8601 text (such as 2026-03-01T09:00:00Z), not a number")
    return value


UtcTime = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(_utc)]


class Strict(BaseModel):
    """Unknown fields are an error: a misspelt field would otherwise be dropped without a word."""

    model_config = ConfigDict(extra="forbid")


def at_or_now(as_of: datetime | None) -> datetime:
    """A request's ``as_of``, by default now."""
    return as_of if as_of is not None else datetime.now(UTC)
