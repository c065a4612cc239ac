"""Activity notes mentioning each keyword category of the lexicon."""

from __future__ import annotations

from features.pit import catalog
from features.pit.keywords import match_notes
from features.pit.per_row import Known, Row
from features.pit.rows import Columns, FrameRows


def notes(r: FrameRows) -> Columns:
    """Known notes mentioning each lexicon category."""
    log = r.log
    return {
        catalog.note_name(name): log.subset(log.tl.take(mentions)).count(r.start, r.now)
        for name, mentions in match_notes(log.notes, r.lexicon).items()
    }


def notes_row(k: Known) -> Row:
    """``notes`` for one row."""
    return {catalog.note_name(name): sum(mentions) for name, mentions in k.notes.items()}
