"""X Education ``Leads.csv``: one snapshot of leads with web-behaviour and profile attributes, no timestamps.

Every lead is taken as known at the export time; Converted becomes converted_at / disqualified_at at that time.
Columns the sales team fills in after contact leak the outcome and are excluded unless asked for.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from features.crm.dataset import Manifest
from features.crm.importers.source import ImportOptions, RawImport, clean, pick, read_csv, snake_case
from features.crm.schema import TABLES, ExtraColumn
from features.crm.validate import PROBLEM

SOURCE = "x-education"
LEAD_ID = "Prospect ID"
LEAD_NUMBER = "Lead Number"
LABEL = "Converted"
CANONICAL = {"source": "Lead Source", "region": "Country"}
NUMERIC = frozenset(
    {
        "TotalVisits",
        "Total Time Spent on Website",
        "Page Views Per Visit",
        "Asymmetrique Activity Score",
        "Asymmetrique Profile Score",
    }
)
BOOLEAN = frozenset(
    {
        "Do Not Email",
        "Do Not Call",
        "Search",
        "Magazine",
        "Newspaper Article",
        "X Education Forums",
        "Newspaper",
        "Digital Advertisement",
        "Through Recommendations",
        "Receive More Updates About Our Courses",
        "Update me on Supply Chain Content",
        "Get updates on DM Content",
        "I agree to pay the amount through cheque",
        "A free copy of Mastering The Interview",
    }
)
#: Filled in by the sales team after contact (Tags alone gives ROC AUC ~0.92).
POST_OUTCOME = (
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
)
SUSPECT = ("Last Activity", "Last Notable Activity")
PLACEHOLDERS = ("Select",)  # the form's "not chosen"


def _kind(header: str) -> str:
    if header in NUMERIC:
        return "numeric"
    return "boolean" if header in BOOLEAN else "categorical"


def _extra_name(header: str) -> str:
    """snake_case of the header, prefixed where it would take a canonical column's name."""
    name = snake_case(header)
    return f"source_{name}" if name in TABLES["leads"].names else name


def _file_time(path: Path) -> pd.Timestamp:
    """Default export time: the file's modification time, in UTC."""
    return pd.Timestamp(datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))


def _outcome_times(frame: pd.DataFrame, exported: str) -> pd.DataFrame:
    """Converted 1 -> converted_at, 0 -> disqualified_at (both at the snapshot); other values are a problem.

    Without a Converted column (new leads to score) both times are empty.
    """
    converted = clean(frame.reindex(columns=[LABEL]))[LABEL]
    return pd.DataFrame(
        {
            "converted_at": pd.Series(exported, index=frame.index).where(converted == "1"),
            "disqualified_at": pd.Series(exported, index=frame.index).where(converted == "0"),
            PROBLEM: pd.Series(f"{LABEL} is neither 0 nor 1", index=frame.index).where(
                converted.notna() & ~converted.isin(["0", "1"])
            ),
        },
        index=frame.index,
    )


def _notes(src: Path, options: ImportOptions, post_outcome: list[str]) -> list[str]:
    kept = "kept for comparison (--keep-post-outcome)" if options.keep_post_outcome else "not imported"
    notes = [
        "One snapshot without event times: created_at, converted_at and disqualified_at are the export time.",
        f"{LEAD_NUMBER} is not imported: a sequential id that may encode time.",
        "'Select' is the form's 'not chosen' placeholder and is imported as missing.",
        f"{' and '.join(SUSPECT)} ({', '.join(snake_case(h) for h in SUSPECT)}) are partly suspect: the last"
        " activity at snapshot time can be a post-contact event (e.g. 'SMS Sent', 'Had a Phone Conversation').",
    ]
    if post_outcome:
        notes.append(f"Post-contact columns ({', '.join(post_outcome)}) leak the outcome: {kept}.")
    if options.exported_at is None:
        notes.append(f"exported_at not given: taken from {src.name}'s modification time.")
    return notes


def load(src: Path, options: ImportOptions) -> RawImport:
    """Leads (with extras) from Leads.csv; ``src`` is the file or the directory holding it."""
    path = src / "Leads.csv" if src.is_dir() else src
    frame = read_csv(path)
    exported_at = options.exported_at if options.exported_at is not None else _file_time(path)
    canonical = {"lead_id": LEAD_ID} | {name: h for name, h in CANONICAL.items() if h in frame.columns}
    post_outcome = [h for h in POST_OUTCOME if h in frame.columns]
    skipped = {LEAD_NUMBER, LABEL, *canonical.values(), *([] if options.keep_post_outcome else post_outcome)}
    extras = [ExtraColumn(_extra_name(h), _kind(h), display=h) for h in frame.columns if h not in skipped]
    leads = clean(pick(frame, {e.name: e.display for e in extras} | canonical, "leads", path.name), PLACEHOLDERS)
    leads["created_at"] = exported_at.isoformat()
    leads = leads.join(_outcome_times(frame, exported_at.isoformat()))
    manifest = Manifest(
        source=SOURCE,
        exported_at=exported_at,
        has_event_times=False,
        extra_columns={"leads": extras},
        excluded_columns={"leads": [snake_case(h) for h in post_outcome]},
        notes=_notes(path, options, post_outcome),
    )
    return RawImport(manifest, tables={"leads": leads}, originals={"leads": frame})
