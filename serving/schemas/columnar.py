"""A scoring request's activities read into columns, the rest checked by the request models themselves.

A batch of 1,000 leads carries about 60,000 activities: validated one by one as dicts they cost more than the
features and the scores together. Here msgspec decodes the body in C, with the activities' size limits and types,
and their times are checked and converted in one vectorised pass; each item's own fields (ids, attributes, stages,
times) go through its pydantic model as before, so their rules are the models' own.

``LeadScoreRequest`` and ``OpportunityScoreRequest`` parse a body of ``MIN_BODY_BYTES`` or more this way (BentoML
calls their ``model_validate_json``). A body this path does not take whole returns None, and the request model parses
it as before: its answer, an error message included, is then the one it always gave. The path takes only what it
can give exactly as the model would (``tests/serving/test_columnar.py`` proves it on generated and fuzzed bodies):
times already in the canonical form ``2025-06-30T18:00:00Z`` (or with six decimals), and durations under 1e16, whose
JSON is the one the model writes (the prediction log's ``input_hash`` is taken of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter
from typing import Annotated, Any, get_args

import msgspec
import numpy as np
import pandas as pd
from msgspec import UNSET, Meta, Struct, UnsetType
from pydantic import BaseModel, TypeAdapter

from serving.schemas.common import EARLIEST, LATEST, MAX_EVENTS, MAX_ID, MAX_ITEMS, MAX_TEXT, at_or_now

Text = Annotated[str, Meta(max_length=MAX_ID)]
Note = Annotated[str, Meta(max_length=MAX_TEXT)]
NUL = b"\\u0000"  # a NUL ends a text where numpy reads it: a time with one after it would pass as canonical
NULL = b"null"  # in every JSON null (and in some texts, which only costs the faster decoder)
#: The times this path takes: UTC with Z, whole seconds or six decimals (not .000000): what the model writes back.
#: Their layouts (digits as 0), read at a width no time fits in (so a longer one shows).
WIDTH, WHOLE, FRACTION, DECIMALS = 28, b"0000-00-00T00:00:00Z", b"0000-00-00T00:00:00.000000Z", slice(20, 26)
#: Each byte, with every digit made 0: a time's layout in one table look-up (a third of the time of comparing).
_DIGITS_AS_ZERO = np.arange(256, dtype=np.uint8)
_DIGITS_AS_ZERO[ord("0") : ord("9") + 1] = ord("0")
#: Below this a body holds a few hundred activities at most, which the model parses as fast as this path (whose
#: fixed costs are numpy's on short arrays): 1 lead with 100 activities (13 KiB), parsed and turned into rows,
#: warnings and input hashes, takes 1.5 ms either way here, with 300 (37 KiB) 2.1 ms this way and 2.4 ms the other.
MIN_BODY_BYTES = 32 * 2**10
#: Above this a float's JSON is written 1e16 by msgspec and 1e+16 by pydantic.
MAX_DURATION = 1e16


#: ``scoring.ActivityIn``'s fields in its order (a struct's JSON is then the model's); required ones have no default.
_ACTIVITY: tuple[tuple[str, Any, bool], ...] = (
    ("occurred_at", str, True),
    ("recorded_at", str | None, False),
    ("type", Text, True),
    ("direction", Text | None, False),
    ("duration_s", Annotated[float, Meta(ge=0)] | None, False),
    ("contact_role", Text | None, False),
    ("note", Note | None, False),
    ("rep_id", Text | None, False),
    ("next_step", Note | None, False),
    ("attachment", bool | None, False),
)
#: A field not sent left UNSET: the model leaves it out of the activity, and a null it was sent stays a null.
ActivityStruct = msgspec.defstruct(
    "ActivityStruct",
    [(n, t) if required else (n, t | UnsetType, UNSET) for n, t, required in _ACTIVITY],
    kw_only=True,
    forbid_unknown_fields=True,
    gc=False,
)
#: For a body without a null anywhere: a field not sent is None, left out of the JSON (``omit_defaults``) as the
#: model leaves it out, so the columns need no UNSET replaced value by value (a third of their time).
NullFreeActivityStruct = msgspec.defstruct(
    "NullFreeActivityStruct",
    [(n, t) if required else (n, t, None) for n, t, required in _ACTIVITY],
    kw_only=True,
    forbid_unknown_fields=True,
    gc=False,
    omit_defaults=True,
)


ACTIVITY_FIELDS = ActivityStruct.__struct_fields__
TIME_FIELDS = ("occurred_at", "recorded_at")


@dataclass(frozen=True, eq=False)
class ActivityColumns:
    """One item's activities: rows ``start:stop`` of its request's columns, and their JSON as the model writes it."""

    columns: dict[str, Any]  # the request's, shared by its items (``_activity_table``)
    start: int
    stop: int
    json: bytes

    def __len__(self) -> int:
        return self.stop - self.start

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Each activity as a dict of every field (None: not sent or null), times as UTC datetimes: for code that
        reads activities one by one, as a batch does that holds calls parsed both ways."""
        columns = {f: self.columns[f][self.start : self.stop] for f in ACTIVITY_FIELDS}
        for f in TIME_FIELDS:
            columns[f] = [None if pd.isna(t) else t.to_pydatetime() for t in pd.DatetimeIndex(columns[f], tz=UTC)]
        columns["duration_s"] = [None if np.isnan(d) else float(d) for d in columns["duration_s"]]
        for values in zip(*columns.values(), strict=True):
            yield dict(zip(ACTIVITY_FIELDS, values, strict=True))


def _item_struct(item: type[BaseModel], activity: type[Struct]) -> type[Struct]:
    """The item's fields, raw (its model checks them), and its activities as ``activity`` structs."""
    fields = [(name, Any, UNSET) for name in item.model_fields if name != "activities"]
    activities = Annotated[list[activity], Meta(max_length=MAX_EVENTS)]  # type: ignore[valid-type]
    fields.append(("activities", activities, msgspec.field(default_factory=list)))
    return msgspec.defstruct(f"{item.__name__}{activity.__name__}", fields, kw_only=True, forbid_unknown_fields=True)


@dataclass(frozen=True)
class ColumnarParser:
    """The fast path of one scoring request model (``LeadScoreRequest`` or ``OpportunityScoreRequest``)."""

    model: type[BaseModel]
    item: type[BaseModel]
    decoder: msgspec.json.Decoder  # activities as ``ActivityStruct``
    null_free: msgspec.json.Decoder  # as ``NullFreeActivityStruct``, for a body without a null
    options: dict[str, TypeAdapter]

    @classmethod
    def of(cls, model: type[BaseModel]) -> ColumnarParser:
        name, _ = model.items_and_key  # type: ignore[attr-defined]
        item = get_args(model.model_fields[name].annotation)[0]
        options = {n: f for n, f in model.model_fields.items() if n != name}

        def decoder(activity: type[Struct]) -> msgspec.json.Decoder:
            items = Annotated[list[_item_struct(item, activity)], Meta(min_length=1, max_length=MAX_ITEMS)]  # type: ignore[misc]
            fields = [(n, Any, UNSET) for n in options] + [(name, items)]
            body = msgspec.defstruct(f"{model.__name__}Struct", fields, kw_only=True, forbid_unknown_fields=True)
            return msgspec.json.Decoder(body)

        adapters = {n: TypeAdapter(Annotated[f.annotation, f]) for n, f in options.items()}
        return cls(model, item, decoder(ActivityStruct), decoder(NullFreeActivityStruct), adapters)

    def parse(self, body: bytes | bytearray | str) -> BaseModel | None:
        """The request, or None for a body this path does not take whole (the model then decides)."""
        name, key = self.model.items_and_key  # type: ignore[attr-defined]
        if isinstance(body, str):
            body = body.encode("utf-8")
        if NUL in body:
            return None
        null_free = NULL not in body  # no null token anywhere: every None decoded was a field not sent
        try:
            raw = (self.null_free if null_free else self.decoder).decode(body)
            sent = {n: self.options[n].validate_python(v) for n in self.options if (v := getattr(raw, n)) is not UNSET}
            structs = getattr(raw, name)
            items = [self._item(s) for s in structs]
            at = at_or_now(sent.get("as_of"))
            table = _activity_table([s.activities for s in structs], at, unset=not null_free)
        except (msgspec.MsgspecError, ValueError):  # pydantic's ValidationError, a wrong date, text not ASCII
            return None
        if table is None or not _unique_and_not_after(items, key, at):
            return None
        offsets = np.cumsum([0] + [len(s.activities) for s in structs])
        for item, struct, start, stop in zip(items, structs, offsets[:-1], offsets[1:], strict=True):
            json = msgspec.json.encode(struct.activities)
            item.__dict__["activities"] = ActivityColumns(table, int(start), int(stop), json)
        return self.model.model_construct(**sent, **{name: items})

    def _item(self, struct: Struct) -> BaseModel:
        fields = {n: v for n in struct.__struct_fields__ if (v := getattr(struct, n)) is not UNSET}
        return self.item.model_validate({**fields, "activities": []})


def _activity_table(histories: list[list[Struct]], at: datetime, unset: bool) -> dict[str, Any] | None:
    """Every item's activities as columns (ActivityIn's fields, None where not sent or null; times as UTC
    datetime64, NaT; durations as floats, NaN), or None when a time is not canonical, a duration's JSON would
    differ, or anything happened after ``at``. ``unset``: fields not sent are UNSET (``ActivityStruct``)."""
    # Field by field, not a tuple per activity: a batch's 60,000 tuples or more would count towards a collector scan
    activities = list(chain.from_iterable(histories))
    listed = _unset_as_none if unset else list
    columns = {f: listed(map(attrgetter(f), activities)) for f in ACTIVITY_FIELDS}
    times = {f: _times(columns[f]) for f in TIME_FIELDS}
    durations = np.array(columns["duration_s"], dtype=float)  # None is NaN
    if any(t is None for t in times.values()) or np.nanmax(durations, initial=0.0) >= MAX_DURATION:
        return None
    latest = max((t.max() for t in times.values() if len(t) and not np.isnat(t).all()), default=None)
    if latest is not None and latest > _utc64(at):
        return None
    return columns | times | {"duration_s": durations}


def _unset_as_none(values: Iterable[Any]) -> list[Any]:
    return [None if v is UNSET else v for v in values]


def _times(values: list[str | None]) -> np.ndarray | None:
    """Canonical UTC texts as datetime64[us] (None is NaT), or None when one is not canonical (the layout checked
    here, the date and the clock by numpy: a wrong one is a ValueError) or outside the model's years."""
    missing = np.fromiter((v is None for v in values), bool, len(values)) if None in values else None
    text = np.array(
        values if missing is None else [v or "" for v in values], dtype=f"S{WIDTH}"
    )  # not ASCII: UnicodeError
    chars = text.view(np.uint8).reshape(-1, WIDTH)
    shape = np.take(_DIGITS_AS_ZERO, chars).view(f"S{WIDTH}").ravel()
    whole, fraction = shape == WHOLE, shape == FRACTION
    if fraction.any():
        fraction &= (chars[:, DECIMALS] != ord("0")).any(axis=1)  # .000000 is written without them
    if missing is not None:
        whole |= missing
    if not (whole | fraction).all():
        return None
    bare = text.astype("S26")  # the fraction without its Z
    bare[whole] = text[whole].astype("S19")  # whole seconds without it
    times = bare.astype("datetime64[us]")  # a wrong date or clock: ValueError; an empty text (None): NaT
    sent = times[~np.isnat(times)]
    if len(sent) and (sent.min() < _utc64(EARLIEST) or sent.max() >= _utc64(LATEST)):
        return None
    return times


def _utc64(at: datetime) -> np.datetime64:
    return np.datetime64(at.astimezone(UTC).replace(tzinfo=None), "us")


def _unique_and_not_after(items: list[BaseModel], key: str, at: datetime) -> bool:
    """The request model's own rule on its items, short of the message: ids unique, nothing created or staged
    after ``at``."""
    ids = {getattr(item, key) for item in items}
    staged = (s.changed_at for item in items for s in getattr(item, "stages", ()))
    return len(ids) == len(items) and all(item.created_at <= at for item in items) and all(t <= at for t in staged)  # type: ignore[attr-defined]


def item_json(item: BaseModel) -> bytes:
    """The item's JSON as its model writes it. A columnar item's activities' JSON was kept; a model's activities
    (plain dicts) are written by msgspec, as the model writes them in a third of its time, but for a duration of
    ``MAX_DURATION`` or more (its exponent's sign), which the model writes itself."""
    activities = item.__dict__.get("activities")
    if isinstance(activities, ActivityColumns):
        written = activities.json
    elif isinstance(activities, list) and all((a.get("duration_s") or 0.0) < MAX_DURATION for a in activities):
        written = msgspec.json.encode(activities)
    else:
        return item.model_dump_json().encode("utf-8")
    head = item.model_dump_json(exclude={"activities"}).encode("utf-8")  # activities is the items' last field
    return head.removesuffix(b"}") + b',"activities":' + written + b"}"


def activity_columns(histories: list[ActivityColumns]) -> dict[str, Any]:
    """The histories' activities as columns, in their order (ActivityIn's fields; times as UTC, NaT not sent)."""
    ranges: list[tuple[dict[str, Any], int, int]] = []
    for h in histories:  # the items of one request are consecutive rows of its columns: usually one range
        if ranges and ranges[-1][0] is h.columns and ranges[-1][2] == h.start:
            ranges[-1] = (h.columns, ranges[-1][1], h.stop)
        else:
            ranges.append((h.columns, h.start, h.stop))
    if len(ranges) == 1:
        columns, start, stop = ranges[0]
        return {f: columns[f][start:stop] for f in ACTIVITY_FIELDS}
    joined = {f: [columns[f][start:stop] for columns, start, stop in ranges] for f in ACTIVITY_FIELDS}
    return {f: np.concatenate(p) if isinstance(p[0], np.ndarray) else sum(p, []) for f, p in joined.items()}
