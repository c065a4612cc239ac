"""Point-in-time features for lead and deal entity frames: each entity's feature families (``features.pit.families``,
one module each), run over the frame's rows and put in catalog order.

Each family is vectorised over all frame rows at once on ``pit.Timeline`` (sorted (entity, time) keys,
searchsorted, prefix sums, segmented running max), so a row sees only what was known at its cutoff (see
features/pit/frames.py for when each event becomes known). The time each family windows on:

- activity counts, durations, trend, notes, decision chain: activities known by the cutoff; the windows
  (cutoff - w, cutoff] are on ``known_at`` too, so a back-filled activity counts as recent when logged;
- recency, first response and POC length: the ``occurred_at`` of those known activities (when it happened);
- activation: effective interactions known within 7 days of creation (known_at <= min(cutoff, created + 7 d));
- stage: stage changes with changed_at <= cutoff;
- rep and account history: deals and leads created, closed, converted or disqualified by the cutoff;
- static attributes and seasonality: the entity's own columns (known at creation) and the calendar.

Missing tables and columns (and columns in manifest.excluded_columns) give NaN or 0, never an error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Literal, get_args

import numpy as np
import pandas as pd

from features import settings
from features.crm.blocks import frame_of
from features.crm.dataset import STRING_DTYPE, Dataset
from features.pit import catalog
from features.pit.families.account import account
from features.pit.families.activity import activity, activity_row
from features.pit.families.deal import deal
from features.pit.families.decision_chain import decision_chain, decision_chain_row
from features.pit.families.intensity import intensity, intensity_row
from features.pit.families.lifecycle import lifecycle
from features.pit.families.notes import notes, notes_row
from features.pit.families.poc import poc, poc_row
from features.pit.families.rep import rep, rep_fit
from features.pit.families.response import lead_origin, response, response_row
from features.pit.families.stage import stage
from features.pit.families.static import static
from features.pit.frames import frame_codes_and_cutoffs
from features.pit.history import History
from features.pit.keywords import DEFAULT_LEXICON, Lexicon
from features.pit.per_row import Activities, Known, Row, known_activities, per_row, runs_per_row
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import column_array
from features.progress import tracked
from features.settings import THREADED_ROWS

#: Entity attributes an entity frame may set per row in place of the entity's own (what-if rows).
OVERRIDABLE = ("owner_rep_id",)

Family = Callable[[FrameRows], Columns]
Execution = Literal["auto", "vectorised", "per_row"]
SHARED: tuple[Family, ...] = (static, lifecycle, activity, response, intensity, decision_chain, poc, notes)
#: The families of each entity, in the order they run (the output is in catalog order whatever this is).
FAMILIES: dict[str, tuple[Family, ...]] = {
    "lead": (*SHARED, rep, rep_fit, account),
    "opportunity": (*SHARED, stage, deal, lead_origin, rep, account),
}
#: The families with a per-row execution (``features.pit.per_row``), run that way on frames of ``FEW_ROWS`` or fewer.
PER_ROW: dict[Family, Callable[[Known], Row]] = {
    activity: activity_row,
    response: response_row,
    intensity: intensity_row,
    decision_chain: decision_chain_row,
    poc: poc_row,
    notes: notes_row,
}


def build_features(
    ds: Dataset,
    entity: str,
    frame: pd.DataFrame,
    progress: bool = False,
    *,
    lexicon: Lexicon = DEFAULT_LEXICON,
    history: History | None = None,
    execution: Execution = "auto",
    threads: int | None = None,
    activities: Activities | None = None,
) -> pd.DataFrame:
    """Point-in-time features for an entity frame: each row's features as known at its cutoff.

    The offline retrieval of Feast's ``get_historical_features``: one output row per frame row, in the frame's
    order, with the frame's own columns (labels included) followed by one column per catalog feature
    (``features.pit.catalog.feature_catalog``). A row's features use only what was known at its ``cutoff_time``
    (UTC; an event at exactly the cutoff is known): an activity from ``max(occurred_at, recorded_at)``, a stage
    change from ``changed_at``, rep and account history from the leads and deals resolved by then. Training, batch
    scoring and the service all call this function, so a model is served the features it was trained on.

    Args:
        ds: The canonical dataset holding the entities and their history (``features.crm.dataset.read_dataset``).
        entity: ``"lead"`` or ``"opportunity"``.
        frame: One row per ``(entity_id, cutoff_time)``: ``entity_id`` an id of ``entity`` in ``ds``;
            ``cutoff_time`` a time or a string pandas parses (naive times are UTC), not before the entity's
            creation. Other columns (labels, ``static_snapshot``) are kept as they are. A column named in
            ``OVERRIDABLE`` (``owner_rep_id``) replaces the entity's own value where it is set: the same lead
            scored as if each candidate rep owned it (routing).
        progress: Show a progress bar, one step per feature family, on stderr.
        lexicon: The note keyword lexicon (``features.pit.keywords``); its categories are feature columns.
        history: The rep and account records to count; by default ``ds``'s own. The service passes its indexed
            history adjusted by the request (the same counts, faster).
        execution: How the families with two executions run (``PER_ROW``): ``"vectorised"`` over the whole frame,
            ``"per_row"`` row by row, or ``"auto"``: row by row for a frame of ``FEW_ROWS`` rows or fewer (a
            request's), where it is faster. Either gives the same features.
        threads: How many families run at once, on threads (numpy and Arrow release Python's lock in their loops);
            by default ``SALESML_FEATURE_THREADS`` (2), at most the cores this process may use, for frames of
            ``THREADED_ROWS`` rows or more, else 1. Any number gives the same features.
        activities: The frame's entities' activities as values (``per_row.Activities``), read in place of ``ds``'s
            activities table by the row-by-row execution they require: the service's request, whose activities
            are then never made a table.

    Returns:
        A new DataFrame with a fresh ``RangeIndex``: ``frame``'s columns, then the features in catalog order.
        ``attrs["features"]`` lists the feature names (Parquet keeps it).

    Raises:
        DataError: ``entity`` is not ``lead`` or ``opportunity``; ``frame`` lacks ``entity_id`` or
            ``cutoff_time``; an ``entity_id`` is not in ``ds``; a ``cutoff_time`` is unreadable or before the
            entity's creation (or the entity has no ``created_at``).
        ValueError: ``execution`` is none of the three, or ``threads`` is below 1, or ``activities`` are given
            to a frame that runs vectorised.
        RuntimeError: The built columns and the feature catalog disagree (a bug, not bad input).

    Example:
        >>> from pathlib import Path
        >>> import pandas as pd
        >>> from features.crm.dataset import read_dataset
        >>> ds = read_dataset(Path("/tmp/crm"))  # salesml data synth --out /tmp/crm --leads 1500 --seed 7
        >>> frame = pd.DataFrame({"entity_id": ["L00000001", "L00000001"],
        ...                       "cutoff_time": ["2024-01-02T00:00:00Z", "2024-01-09T00:00:00Z"]})
        >>> table = build_features(ds, "lead", frame)
        >>> table.shape, len(table.attrs["features"])
        ((2, 142), 140)
        >>> table["first_response_h"].round(2).tolist()
        [5.12, 5.12]
    """
    if threads is None:
        threads = default_threads(len(frame))
    columns = family_columns(
        ds,
        entity,
        frame,
        FAMILIES[entity],
        lexicon=lexicon,
        history=history,
        progress=progress,
        execution=execution,
        threads=threads,
        activities=activities,
    )
    names = [f.name for f in catalog.feature_catalog(ds.manifest, entity, lexicon)]
    if set(names) != set(columns):
        raise RuntimeError(f"features and catalog disagree: {sorted(set(names) ^ set(columns))}")
    own = [column_array(frame, c).copy() for c in frame.columns]  # the caller's frame stays its own
    out = frame_of([*frame.columns, *names], [*own, *(columns[name] for name in names)], len(frame))
    out.attrs["features"] = names
    return out


def default_threads(rows: int) -> int:
    """The families a frame of ``rows`` rows runs at once by default."""
    return min(settings.FEATURE_THREADS.get(), usable_cores()) if rows >= THREADED_ROWS else 1


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def family_columns(
    ds: Dataset,
    entity: str,
    frame: pd.DataFrame,
    families: tuple[Family, ...],
    *,
    lexicon: Lexicon = DEFAULT_LEXICON,
    history: History | None = None,
    progress: bool = False,
    execution: Execution = "auto",
    threads: int = 1,
    activities: Activities | None = None,
) -> Columns:
    """The columns of some of the entity's families for the frame's rows, in frame order: ``build_features`` runs
    them all, a distributed build each key's families on the records of the keys its partition holds. With
    ``threads`` above 1, that many families run at once; what they share (``FrameRows``, the history) is indexed on
    first use, and a look-up two threads make at once is made twice with the same result."""
    if execution not in get_args(Execution):
        raise ValueError(f"execution must be one of {get_args(Execution)}, not {execution!r}")
    if threads < 1:
        raise ValueError(f"threads must be 1 or more, not {threads}")
    codes, cutoffs = frame_codes_and_cutoffs(ds, entity, frame)
    order = np.lexsort((cutoffs, codes))
    overrides = {
        name: frame[name].astype(STRING_DTYPE).take(order).reset_index(drop=True)
        for name in OVERRIDABLE
        if name in frame.columns
    }
    rows = FrameRows(ds, entity, codes[order], cutoffs[order], lexicon, history or History.of(ds), overrides)
    by_row = execution == "per_row" or (execution == "auto" and runs_per_row(len(order)))
    if activities is not None and not by_row:
        raise ValueError("activities given as values are read by the row-by-row execution only")
    known = known_activities(rows, activities) if by_row and len(order) and set(families) & set(PER_ROW) else None

    def built(family: Family) -> Columns:
        return family(rows) if known is None or family not in PER_ROW else per_row(known, PER_ROW[family])

    columns: Columns = {}
    with ThreadPoolExecutor(threads, thread_name_prefix="salesml-features") if threads > 1 else nullcontext() as pool:
        results = map(built, families) if pool is None else pool.map(built, families)
        for _, out in zip(tracked(families, "features", progress, name=lambda f: f.__name__), results, strict=True):
            columns.update(out)
    if bool((order[1:] > order[:-1]).all()):  # the frame was in (entity, cutoff) order already (a request's row)
        return columns
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    for name, values in columns.items():  # one at a time: each sorted column is freed as its reordered copy lands
        columns[name] = values[back]
    return columns
