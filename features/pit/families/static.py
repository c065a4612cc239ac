"""The entity's own attributes, canonical and declared extras: known at creation."""

from __future__ import annotations

from features.pit import catalog
from features.pit.rows import Columns, FrameRows
from features.pit.timeline import numeric, strings


def static(r: FrameRows) -> Columns:
    """The entity's own attributes (canonical and declared extras), known at creation."""
    out: Columns = {}
    for f in catalog.static_features(r.ds.manifest, r.entity):
        values = r.attr(f.source) if not f.post_outcome else r.hidden_attr(f.source)
        out[f.name] = strings(values) if f.kind == "categorical" else numeric(values)
    return out
