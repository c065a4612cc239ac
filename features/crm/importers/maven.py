"""Maven Analytics "CRM + Sales Opportunities": reps, accounts and 8,800 deals with their current stage only.

The export has no stage history: each deal gets one stage change (prospecting at creation, or engaging at the
engage date). close_value is known only at the outcome and is kept as an excluded extra.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.crm.dataset import Manifest
from features.crm.importers.source import ImportOptions, RawImport, clean, pick, read_csv, slug
from features.crm.schema import ExtraColumn, Stage
from features.crm.validate import PROBLEM
from features.messages import pair

SOURCE = "maven-crm"
STAGES = [Stage("prospecting", *pair("stage.prospecting")), Stage("engaging", *pair("stage.engaging"))]
OUTCOMES = {"Won": "won", "Lost": "lost"}
OPEN = ("Prospecting", "Engaging")
INDUSTRY_FIXES = {"technolgy": "technology"}
REVENUE_UNIT = 1e6  # accounts.csv revenue is in millions of USD


def _reps(teams: pd.DataFrame) -> pd.DataFrame:
    columns = {"rep_id": "sales_agent", "name": "sales_agent", "team": "manager", "region": "regional_office"}
    reps = clean(pick(teams, columns, "reps", "sales_teams.csv"))
    return reps.assign(rep_id=slug(reps["rep_id"]))


def _scaled(text: pd.Series, factor: float) -> pd.Series:
    """Numbers times ``factor``; unreadable text passes through unchanged so validation quarantines it."""
    number = pd.to_numeric(text, errors="coerce")
    return (number * factor).round(2).astype(object).where(number.notna(), text)


def _accounts(accounts: pd.DataFrame) -> pd.DataFrame:
    columns = {
        "account_id": "account",
        "name": "account",
        "industry": "sector",
        "employees": "employees",
        "annual_revenue": "revenue",
        "region": "office_location",
    }
    out = clean(pick(accounts, columns, "accounts", "accounts.csv"), values={"industry": INDUSTRY_FIXES})
    return out.assign(account_id=slug(out["account_id"]), annual_revenue=_scaled(out["annual_revenue"], REVENUE_UNIT))


def _squash(names: pd.Series) -> pd.Series:
    return names.str.lower().str.replace(r"\s+", "", regex=True)


def _price_list(products: pd.DataFrame) -> pd.DataFrame:
    """Products keyed by their name without spaces, so the pipeline's 'GTXPro' finds 'GTX Pro'."""
    prices = clean(pick(products, {"product": "product", "amount": "sales_price"}, "opportunities", "products.csv"))
    prices = prices.set_index(_squash(prices["product"]))
    return prices[~prices.index.duplicated()]


def _deals(pipeline: pd.DataFrame) -> pd.DataFrame:
    """The pipeline under canonical names, still raw; deal_stage rides along for outcome and stage."""
    columns = {
        "opportunity_id": "opportunity_id",
        "account_id": "account",
        "owner_rep_id": "sales_agent",
        "product": "product",
        "created_at": "engage_date",
        "closed_at": "close_date",
        "close_value": "close_value",
        "deal_stage": "deal_stage",
    }
    return clean(pick(pipeline, columns, "opportunities", "sales_pipeline.csv"))


def _default_export_time(deals: pd.DataFrame) -> pd.Timestamp:
    """The day after the latest date in the export (2018-01-01 for the published files)."""
    dates = pd.to_datetime(deals[["created_at", "closed_at"]].stack(), format="ISO8601", errors="coerce", utc=True)
    return dates.max().normalize() + pd.Timedelta(days=1)


def _opportunities(deals: pd.DataFrame, prices: pd.DataFrame, exported: str) -> pd.DataFrame:
    stage = deals["deal_stage"]
    listed = prices.reindex(_squash(deals["product"])).set_axis(deals.index)
    unknown = ~stage.isin([*OUTCOMES, *OPEN])
    return deals.assign(
        account_id=slug(deals["account_id"]),
        owner_rep_id=slug(deals["owner_rep_id"]),
        product=listed["product"].fillna(deals["product"]),
        amount=listed["amount"],
        currency="USD",
        created_at=deals["created_at"].where(stage != "Prospecting", exported),
        outcome=stage.map(OUTCOMES),
        **{PROBLEM: pd.Series("unknown deal_stage", index=deals.index).where(unknown)},
    )


def _stage_changes(opportunities: pd.DataFrame) -> pd.DataFrame:
    """The only history in the export: prospecting at creation, or engaging at the engage date."""
    prospecting = opportunities["deal_stage"] == "Prospecting"
    return pd.DataFrame(
        {
            "opportunity_id": opportunities["opportunity_id"],
            "stage": pd.Series("engaging", index=opportunities.index).where(~prospecting, "prospecting"),
            "changed_at": opportunities["created_at"],
        },
        index=opportunities.index,
    )


def _notes(deals: pd.DataFrame, options: ImportOptions) -> list[str]:
    open_deals = deals["outcome"].isna()
    no_account = deals["account_id"].isna()
    unpriced = deals.loc[deals["amount"].isna(), "product"].value_counts()
    notes = [
        f"account is missing for {int((open_deals & no_account).sum()):,} open deals and "
        f"{int((~open_deals & no_account).sum()):,} closed ones: 'account missing' marks open deals in this"
        " export, so never train on a mix of open and closed deals with it.",
        "Prospecting deals have no engage_date: their created_at (and prospecting stage change) is the export time.",
        "No stage history: one stage change per deal (prospecting at creation, engaging at engage_date).",
        "amount is the product's list price (products.csv sales_price); close_value is known only at the outcome.",
        "accounts.year_established and accounts.subsidiary_of have no canonical column and are not imported.",
        "The data is fictitious (generated by Maven Analytics); outcomes are close to random given the attributes.",
    ]
    if len(unpriced):
        notes.append(f"products not in products.csv (amount left empty): {unpriced.to_dict()}")
    if options.exported_at is None:
        notes.append("exported_at not given: taken as the day after the latest date in the export.")
    return notes


def load(src: Path, options: ImportOptions) -> RawImport:
    """Reps, accounts, opportunities and derived stage changes from the export directory."""
    pipeline = read_csv(src / "sales_pipeline.csv")
    teams, accounts = read_csv(src / "sales_teams.csv"), read_csv(src / "accounts.csv")
    deals = _deals(pipeline)
    exported_at = options.exported_at if options.exported_at is not None else _default_export_time(deals)
    deals = _opportunities(deals, _price_list(read_csv(src / "products.csv")), exported_at.isoformat())
    manifest = Manifest(
        source=SOURCE,
        exported_at=exported_at,
        stages=list(STAGES),
        extra_columns={"opportunities": [ExtraColumn("close_value", "numeric", display="close_value")]},
        excluded_columns={"opportunities": ["close_value"]},
        notes=_notes(deals, options),
    )
    return RawImport(
        manifest,
        tables={
            "reps": _reps(teams),
            "accounts": _accounts(accounts),
            "opportunities": deals,
            "stage_changes": _stage_changes(deals),
        },
        originals={"reps": teams, "accounts": accounts, "opportunities": pipeline, "stage_changes": pipeline},
    )
