"""Hypothesis strategies: small canonical datasets, entity frames, and changes before or after a time.

Times fall on a 6-hour grid so that events and cutoffs often coincide: the "at or before" boundary is
exercised on every run. Datasets are built with ``conform`` like any importer's output.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import strategies as st

from features.crm.dataset import Dataset, Manifest, conform
from features.crm.schema import ACTIVITY_TYPES, CONTACT_ROLES, DEFAULT_STAGES, ENTITIES, ExtraColumn

BASE = pd.Timestamp("2024-01-01", tz="UTC")
STEP = pd.Timedelta(hours=6)
LAST = 240  # grid steps: 60 days
EXPORTED = BASE + (LAST + 20) * STEP
#: Every type, one outside the vocabulary, and POC events often enough to time some POCs.
TYPES = st.sampled_from([*ACTIVITY_TYPES, "wechat_call"]) | st.sampled_from(["poc_start", "poc_end"])
NOTES = (
    "客户预算审批中",
    "Budget approval confirmed",
    "客户在比价",
    "Customer is comparing prices",
    "客户同时在接触友商",
    "讨论上线周期",
    "已沟通",
)
STAGES = (*(s.name for s in DEFAULT_STAGES), "negotiation")  # one name outside the manifest's stages
Draw = st.DrawFn


def at(step: int) -> pd.Timestamp:
    return BASE + step * STEP


def step_of(time: pd.Timestamp) -> int:
    return int((time - BASE) // STEP)


def _maybe(draw: Draw, values: st.SearchStrategy, none: float = 0.3) -> object:
    """A drawn value, or None about ``none`` of the time."""
    return None if draw(st.floats(0, 1)) < none else draw(values)


def later(after: pd.Timestamp) -> st.SearchStrategy[pd.Timestamp]:
    """Grid times strictly after ``after`` (up to 10 days past the grid)."""
    first = max(step_of(after) + 1, 0)
    return st.integers(first, max(first, LAST) + 40).map(at)


def between(lo: pd.Timestamp, hi: pd.Timestamp) -> st.SearchStrategy[pd.Timestamp]:
    """Grid times in [lo, hi] (both on the grid)."""
    return st.integers(step_of(lo), step_of(hi)).map(at)


def _lead(draw: Draw, i: int, reps: int, accounts: int, created: pd.Timestamp | None = None) -> dict:
    created = created if created is not None else at(draw(st.integers(0, LAST)))
    return {
        "lead_id": f"L{i}",
        "created_at": created,
        "source": draw(st.sampled_from(["web", "referral", "cold_call"])),
        "region": draw(st.sampled_from(["north", "south"])),
        "industry": _maybe(draw, st.sampled_from(["saas", "medical"])),
        "company_size": draw(st.sampled_from(["small", "large"])),
        "owner_rep_id": _maybe(draw, st.integers(0, reps - 1).map(lambda r: f"R{r}"), 0.1),
        "account_id": _maybe(draw, st.integers(0, accounts - 1).map(lambda a: f"C{a}")) if accounts else None,
        "converted_at": _maybe(draw, later(created - STEP), 0.5),
        "disqualified_at": _maybe(draw, later(created - STEP), 0.7),
    }


def _deal(draw: Draw, i: int, reps: int, accounts: int, leads: int, created: pd.Timestamp | None = None) -> dict:
    created = created if created is not None else at(draw(st.integers(0, LAST)))
    closed = _maybe(draw, later(created - STEP), 0.4)
    return {
        "opportunity_id": f"O{i}",
        "account_id": _maybe(draw, st.integers(0, accounts - 1).map(lambda a: f"C{a}")) if accounts else None,
        "lead_id": _maybe(draw, st.integers(0, leads - 1).map(lambda n: f"L{n}")),
        "owner_rep_id": _maybe(draw, st.integers(0, reps - 1).map(lambda r: f"R{r}"), 0.1),
        "product": draw(st.sampled_from(["P1", "P2"])),
        "amount": _maybe(draw, st.integers(1, 20).map(lambda a: a * 1000.0), 0.1),
        "currency": "CNY",
        "created_at": created,
        "expected_close_at": _maybe(draw, st.integers(0, LAST).map(at)),
        "closed_at": closed,
        "outcome": None if closed is None else draw(st.sampled_from(["won", "lost"])),
        "discount_pct": draw(st.integers(0, 20)),
    }


def _stage_change(draw: Draw, deals: int, changed: pd.Timestamp | None = None) -> dict:
    return {
        "opportunity_id": f"O{draw(st.integers(0, deals - 1))}",
        "stage": draw(st.sampled_from(STAGES)),
        "changed_at": changed if changed is not None else at(draw(st.integers(0, LAST))),
    }


def _activity(draw: Draw, key: str, entities: dict[str, int], known_after: pd.Timestamp | None = None) -> dict:
    """An activity on a random lead or deal; with ``known_after``, one that becomes known only after it."""
    entity = draw(st.sampled_from([e for e, n in entities.items() if n]))
    occurred = at(draw(st.integers(0, LAST)))
    recorded = _maybe(draw, st.integers(0, 80).map(lambda lag: occurred + lag * STEP), 0.5)
    if known_after is not None and max(occurred, recorded or occurred) <= known_after:
        if draw(st.booleans()):
            occurred, recorded = draw(later(known_after)), None
        else:  # back-filled: happened before, logged after
            recorded = draw(later(known_after))
    return {
        "activity_id": key,
        "entity_type": entity,
        "entity_id": f"{'L' if entity == 'lead' else 'O'}{draw(st.integers(0, entities[entity] - 1))}",
        "rep_id": "R0",
        "occurred_at": occurred,
        "recorded_at": recorded,
        "type": draw(TYPES),
        "direction": _maybe(draw, st.sampled_from(["inbound", "outbound"]), 0.2),
        "duration_s": _maybe(draw, st.integers(0, 7200).map(float)),
        "contact_role": _maybe(draw, st.sampled_from(CONTACT_ROLES)),
        "note": _maybe(draw, st.sampled_from(NOTES)),
    }


def dataset(manifest: Manifest, tables: dict[str, list[dict] | pd.DataFrame]) -> Dataset:
    """Canonical tables from rows, typed by ``conform`` as an importer's would be."""
    ds = Dataset(manifest)
    for name, rows in tables.items():
        ds.tables[name] = conform(name, pd.DataFrame(rows), manifest.extras(name))
    return ds


def manifest() -> Manifest:
    return Manifest(
        source="hypothesis",
        exported_at=EXPORTED,
        extra_columns={"opportunities": [ExtraColumn("discount_pct", "numeric", display="折扣率 (%)")]},
    )


@st.composite
def datasets(draw: Draw) -> Dataset:
    """A small dataset with every table; activities and stage changes are sometimes missing."""
    n_reps, n_accounts = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    n_leads, n_deals = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    reps = [
        {
            "rep_id": f"R{i}",
            "team": draw(st.sampled_from(["east", "west"])),
            "region": "north",
            "hired_at": _maybe(draw, st.integers(-200, LAST).map(at)),
            "left_at": _maybe(draw, st.integers(0, LAST).map(at), 0.8),
        }
        for i in range(n_reps)
    ]
    accounts = [
        {"account_id": f"C{i}", "industry": "saas", "employees": float(draw(st.integers(5, 5000)))}
        for i in range(n_accounts)
    ]
    tables: dict[str, list[dict]] = {
        "reps": reps,
        "accounts": accounts,
        "leads": [_lead(draw, i, n_reps, n_accounts) for i in range(n_leads)],
        "opportunities": [_deal(draw, i, n_reps, n_accounts, n_leads) for i in range(n_deals)],
    }
    if draw(st.integers(0, 4)):
        tables["stage_changes"] = _changes([_stage_change(draw, n_deals) for _ in range(draw(st.integers(0, 10)))])
    if draw(st.integers(0, 4)):
        entities = {"lead": n_leads, "opportunity": n_deals}
        tables["activities"] = [_activity(draw, f"A{i}", entities) for i in range(draw(st.integers(0, 25)))]
    return dataset(manifest(), tables)


@st.composite
def frames(draw: Draw, ds: Dataset, entity: str, max_rows: int = 6) -> pd.DataFrame:
    """Random (entity_id, cutoff_time) rows, each cutoff at or after the entity's creation."""
    table, id_col = ds.get(ENTITIES[entity][0]), ENTITIES[entity][1]
    rows = draw(st.lists(st.integers(0, len(table) - 1), min_size=1, max_size=max_rows))
    cutoffs = [draw(between(table["created_at"][i], at(LAST + 20))) for i in rows]
    return pd.DataFrame({"entity_id": table[id_col].iloc[rows].to_numpy(), "cutoff_time": cutoffs})


@st.composite
def changes_after(draw: Draw, ds: Dataset, cutoff: pd.Timestamp) -> Dataset:
    """``ds`` with rows added, changed or deleted that become known only strictly after ``cutoff``.

    Activities known later, stage changes, closes, conversions and disqualifications after it, and new leads
    and deals created after it. Nothing known at the cutoff changes.
    """
    n_leads, n_deals = len(ds.get("leads")), len(ds.get("opportunities"))
    tables = {name: ds.tables[name].to_dict("records") for name in ds.tables}
    entities = {"lead": n_leads, "opportunity": n_deals}
    acts = []
    for row in tables.get("activities", []):
        if max(row["occurred_at"], _or(row["recorded_at"], row["occurred_at"])) <= cutoff:
            acts.append(row)
        elif (action := draw(st.sampled_from(["keep", "drop", "change"]))) != "drop":
            acts.append(row if action == "keep" else _activity(draw, row["activity_id"], entities, cutoff))
    acts += [_activity(draw, f"N{i}", entities, cutoff) for i in range(draw(st.integers(0, 4)))]
    tables["activities"] = acts
    changes = [r for r in tables.get("stage_changes", []) if r["changed_at"] <= cutoff or draw(st.booleans())]
    changes += [_stage_change(draw, n_deals, draw(later(cutoff))) for _ in range(draw(st.integers(0, 3)))]
    tables["stage_changes"] = _changes(changes)
    for lead in tables["leads"]:
        for col in ("converted_at", "disqualified_at"):
            if pd.isna(lead[col]) or lead[col] > cutoff:
                lead[col] = _maybe(draw, later(max(lead["created_at"], cutoff)))
    for deal in tables["opportunities"]:
        if pd.isna(deal["closed_at"]) or deal["closed_at"] > cutoff:
            deal["closed_at"] = _maybe(draw, later(max(deal["created_at"], cutoff)))
            deal["outcome"] = None if deal["closed_at"] is None else draw(st.sampled_from(["won", "lost"]))
    n_reps, n_accounts = len(ds.get("reps")), len(ds.get("accounts"))
    for i in range(draw(st.integers(0, 2))):
        tables["leads"].append(_lead(draw, n_leads + i, n_reps, n_accounts, draw(later(cutoff))))
        tables["opportunities"].append(_deal(draw, n_deals + i, n_reps, n_accounts, n_leads, draw(later(cutoff))))
    return dataset(ds.manifest, tables)


@st.composite
def changes_before(draw: Draw, ds: Dataset, cutoff: pd.Timestamp) -> Dataset:
    """``ds`` with what happened at or before ``cutoff`` moved, changed or deleted, keeping it at or before.

    Activities and stage changes, and the times and outcomes of conversions and closes.
    """
    tables = {name: ds.tables[name].to_dict("records") for name in ds.tables}
    if "activities" in tables:
        tables["activities"] = [r for r in tables["activities"] if r["occurred_at"] > cutoff or draw(st.booleans())]
    if "stage_changes" in tables:
        tables["stage_changes"] = _changes(
            [r for r in tables["stage_changes"] if r["changed_at"] > cutoff or draw(st.booleans())]
        )
    for lead in tables["leads"]:
        for col in ("converted_at", "disqualified_at"):
            if pd.notna(lead[col]) and lead[col] <= cutoff:
                lead[col] = draw(between(lead["created_at"], cutoff))
    for deal in tables["opportunities"]:
        if pd.notna(deal["closed_at"]) and deal["closed_at"] <= cutoff:
            deal["closed_at"] = draw(between(deal["created_at"], cutoff))
            deal["outcome"] = draw(st.sampled_from(["won", "lost"]))
    return dataset(ds.manifest, tables)


def _changes(rows: list[dict]) -> pd.DataFrame:
    """A stage_changes table (its key unique) from rows, possibly none."""
    return pd.DataFrame(rows, columns=["opportunity_id", "stage", "changed_at"]).drop_duplicates()


def _or(value: object, default: pd.Timestamp) -> pd.Timestamp:
    return default if pd.isna(value) else value
