"""What the data anomaly guard looks for, planted: contact phones and company names, duplicate leads and
accounts, outlier deal amounts, discounts beyond a rep's authority.

Everything here draws from generators of its own (seeded by the run's seed and ``PLANT_SEED``), so the columns it
does not plant keep their values (it changes only the planted deals' amount and discount). Duplicate leads are
disqualified within the hour (the snapshot policy never sees them open). Outlier amounts go on deals whatever
their outcome: an amount that says whether the deal is won would teach the models a rule no CRM holds, and the
forecast oracle's true probabilities would no longer be the best forecast. ``_truth/duplicates.parquet`` and
``_truth/anomalies.parquet`` list what was planted, and the drawn deals that already break the field's rules
(kind ``natural``: big deals of large accounts, generous discounts), which the guard rightly flags too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.crm.checks import AVERAGE_DAYS, BLOCK_MARGIN, MIN_PRIOR_DEALS, OUTLIER_FACTOR
from features.crm.dataset import conform
from features.synth.leads import Leads
from features.synth.output import Columns, ids, times
from features.synth.world import REGIONS, World

PLANT_SEED = 7107
DUPLICATE_LEAD_SHARE = 0.025
DUPLICATE_ACCOUNT_SHARE = 0.01
OUTLIER_SHARE = 0.015  # of all deals, planted on deals with a 3-month history, won or lost alike
OUTLIER_FACTORS = (6.0, 10.0)  # times the rep's 3-month average
OVER_AUTHORITY_SHARE = 0.01
OVER_AUTHORITY_POINTS = (0.5, 5.0)  # on reps below ANCHOR_AUTHORITY: no discount over 30%
AUTHORITY = (0.20, 0.25)  # a rep's discount authority; team anchors get ANCHOR_AUTHORITY
AUTHORITY_SHARE = (0.4, 0.6)
ANCHOR_AUTHORITY = 0.30
REENTRY_DAYS = (1 / 24, 30.0)  # a duplicate lead is entered this long after the original
CLOSED_AFTER_DAYS = (10 / 1440, 50 / 1440)  # ... and disqualified within the hour
AREA_CODES = dict(zip(REGIONS, ("21", "20", "10", "27", "28", "24"), strict=True))
PERTURBATIONS = ("suffix", "full_width", "typo", "case_spacing", "short_name")
PERTURBATION_SHARE = (0.3, 0.25, 0.25, 0.15, 0.05)  # short_name drops the industry words: too unlike to match
SUFFIXES = ("", " Ltd.", " Co.,Ltd", " Company Limited", "有限公司", " Inc.")
PHONE_FORMATS = 4


def mobile_phones(numbers: np.ndarray) -> np.ndarray:
    """A distinct mobile number per lead number (an affine map modulo 1e9 is one-to-one)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    return np.array([f"1{3 + n % 6}{(n * 7_654_321 + 12_345) % 10**9:09d}" for n in numbers], dtype=object)


def landlines(numbers: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """A distinct office number per account, with its region's area code."""
    areas = np.array(list(AREA_CODES.values()), dtype=object)[regions]
    return np.array(
        [f"0{a}-{2 + n % 8}{(n * 1_234_567 + 890) % 10**7:07d}" for n, a in zip(numbers, areas, strict=True)],
        dtype=object,
    )


def reformat_phone(phone: str, style: int) -> str:
    """The same number typed another way: with +86/0086, spaces, dashes or brackets."""
    national = "".join(c for c in phone if c.isdigit()).lstrip("0")
    head, tail = national[:-8], national[-8:]
    return (
        f"+86 {head} {tail[:4]} {tail[4:]}",
        f"0086{national}",
        f"(+86) {head}-{tail}",
        f"86-{head}-{tail[:4]}-{tail[4:]}",
    )[style]


def perturb_name(rng: np.random.Generator, name: str, how: str) -> str:
    """A company name as another rep types it: another legal suffix, full-width letters, a typo, ..."""
    base = name.removesuffix(" Co., Ltd.")
    if how == "suffix":
        return base + SUFFIXES[rng.integers(len(SUFFIXES))]
    if how == "full_width":
        return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in name)
    if how == "typo":
        at = int(rng.integers(1, len(base) - 1))
        return base[:at] + base[at + 1 :] + " Co., Ltd." if rng.random() < 0.5 else _swap(base, at) + " Co., Ltd."
    if how == "case_spacing":
        return "  ".join(name.upper().split(" "))
    return base.split(" ")[0]  # short_name


def _swap(text: str, at: int) -> str:
    return text[: at - 1] + text[at] + text[at - 1] + text[at + 1 :]


class Plants:
    """Plants anomalies chunk by chunk and keeps what it planted for ``_truth``."""

    def __init__(self, world: World, seed: int, outlier_share: float = OUTLIER_SHARE) -> None:
        self.world, self.seed, self.outlier_share = world, seed, outlier_share
        rng = np.random.default_rng([seed, PLANT_SEED])
        reps = world.reps
        anchor = reps.successor == np.arange(len(reps))
        self.authority = np.where(anchor, ANCHOR_AUTHORITY, rng.choice(AUTHORITY, len(reps), p=AUTHORITY_SHARE))
        self.next_lead = world.n_leads
        self.deals: list[pd.DataFrame] = []  # every deal so far: number, owner, created, amount
        self.duplicates: list[pd.DataFrame] = []
        self.anomalies: list[pd.DataFrame] = []

    def apply(self, index: int, chunk: Leads, tables: dict[str, Columns]) -> dict[str, Columns]:
        """The chunk's streamed tables with contacts added and duplicates, outliers and discounts planted."""
        rng = np.random.default_rng([self.seed, PLANT_SEED, index])
        leads = tables["leads"] | {
            "company_name": pa.array(self.world.accounts.names[chunk.account], pa.string()),
            "phone": pa.array(mobile_phones(chunk.number), pa.string()),
        }
        tables = tables | {"leads": self._duplicate_leads(rng, leads, chunk.region, chunk.created, chunk.owner)}
        tables["opportunities"] = self._deal_anomalies(rng, tables["opportunities"])
        return tables

    def _duplicate_leads(
        self,
        rng: np.random.Generator,
        leads: Columns,
        region: np.ndarray,
        created: np.ndarray,
        owner: np.ndarray,
    ) -> Columns:
        """The chunk's leads and a few re-entered by another rep (no truth rows: they never convert or get scored)."""
        world, n = self.world, len(region)
        pick = np.sort(rng.choice(n, int(round(DUPLICATE_LEAD_SHARE * n)), replace=False))
        entered = created[pick] + rng.uniform(*REENTRY_DAYS, len(pick))
        pick, entered = pick[entered <= world.horizon], entered[entered <= world.horizon]
        u = rng.random(len(pick))
        by = world.route(region[pick], entered, u)
        by = np.where(by == owner[pick], world.route(region[pick], entered, (u + 0.5) % 1), by)
        closed = entered + rng.uniform(*CLOSED_AFTER_DAYS, len(pick))
        closed = np.where(closed <= world.horizon, closed, np.nan)
        how = rng.choice(PERTURBATIONS, len(pick), p=PERTURBATION_SHARE)
        names = leads["company_name"].to_numpy(zero_copy_only=False)[pick]
        phones = leads["phone"].to_numpy(zero_copy_only=False)[pick]
        numbers = self.next_lead + np.arange(len(pick))
        self.next_lead += len(pick)
        rows = pa.array(pick)
        copies = {name: column.take(rows) for name, column in leads.items()} | {
            "lead_id": ids("L", numbers),
            "created_at": times(world, entered),
            "owner_rep_id": ids("R", by),
            "converted_at": times(world, np.full(len(pick), np.nan)),
            "disqualified_at": times(world, closed),
            "company_name": pa.array([perturb_name(rng, s, h) for s, h in zip(names, how, strict=True)], pa.string()),
            "phone": pa.array(
                [reformat_phone(p, s) for p, s in zip(phones, rng.integers(0, PHONE_FORMATS, len(pick)), strict=True)],
                pa.string(),
            ),
        }
        self.duplicates.append(
            pd.DataFrame(
                {
                    "table": "leads",
                    "record_id": copies["lead_id"].to_pandas(),
                    "original_id": leads["lead_id"].take(rows).to_pandas(),
                    "perturbation": how,
                }
            )
        )
        return {k: pa.concat_arrays([leads[k], copies[k]]) for k in leads}

    def _deal_anomalies(self, rng: np.random.Generator, deals: Columns) -> Columns:
        """Outlier amounts on a few deals, discounts beyond authority on a few more; ``discount`` added."""
        frame = pd.DataFrame(
            {
                "opportunity_id": deals["opportunity_id"].to_pandas(),
                "owner": deals["owner_rep_id"].to_pandas(),
                "created": (deals["created_at"].to_pandas() - self.world.start).dt.total_seconds() / 86_400,
                "amount": deals["amount"].to_pandas(),
                "discount": deals["discount_pct"].to_pandas() / 100,
            }
        )
        history = pd.concat([*self.deals, frame[["owner", "created", "amount"]]], ignore_index=True)
        history = history[history["created"] >= frame["created"].min() - AVERAGE_DAYS].reset_index(drop=True)
        created, owners = frame["created"].to_numpy(), frame["owner"].to_numpy()
        eligible = np.array(
            [r for r in range(len(frame)) if _prior(history, owners[r], created[r]).sum() >= MIN_PRIOR_DEALS],
            dtype=np.int64,
        )
        chosen = rng.choice(eligible, min(len(eligible), int(round(self.outlier_share * len(frame)))), replace=False)
        for row in chosen[np.argsort(created[chosen], kind="stable")]:
            prior = history[_prior(history, owners[row], created[row])]
            factor = rng.uniform(*OUTLIER_FACTORS)
            frame.at[row, "amount"] = history.at[len(history) - len(frame) + row, "amount"] = round(
                factor * prior["amount"].mean(), -2
            )
            self._record(frame.at[row, "opportunity_id"], "outlier_amount", "planted", "review", factor)
        authority = self.authority[deals["owner_rep_id"].to_pandas().str[1:].astype(int).to_numpy() - 1]
        below = np.flatnonzero(authority < ANCHOR_AUTHORITY)
        over = rng.choice(below, min(len(below), int(round(OVER_AUTHORITY_SHARE * len(frame)))), replace=False)
        points = np.round(2 * rng.uniform(*OVER_AUTHORITY_POINTS, len(over))) / 2
        natural = np.flatnonzero(np.round(frame["discount"].to_numpy() - authority, 9) > 0)
        for row in natural[~np.isin(natural, over)]:
            beyond = frame.at[row, "discount"] - authority[row]
            self._record(frame.at[row, "opportunity_id"], "discount_over_authority", "natural", _action(beyond), beyond)
        frame.loc[over, "discount"] = authority[over] + points / 100
        for row, p in zip(over, points, strict=True):
            self._record(
                frame.at[row, "opportunity_id"], "discount_over_authority", "planted", _action(p / 100), p / 100
            )
        self.deals.append(frame[["owner", "created", "amount"]].assign(opportunity_id=frame["opportunity_id"]))
        return deals | {
            "amount": pa.array(frame["amount"].to_numpy(), pa.float64()),
            "discount": pa.array(np.round(frame["discount"].to_numpy(), 4), pa.float64()),
            "discount_pct": pa.array(np.round(100 * frame["discount"].to_numpy(), 2), pa.float64()),
        }

    def _record(self, deal: str, rule: str, kind: str, action: str, value: float) -> None:
        self.anomalies.append(
            pd.DataFrame({"opportunity_id": [deal], "rule": rule, "kind": kind, "action": action, "value": value})
        )

    def org(self, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Reps get their discount authority, accounts a phone, and a few accounts are entered twice."""
        rng = np.random.default_rng([self.seed, PLANT_SEED, 1 << 20])
        reps = tables["reps"].assign(discount_authority=self.authority)
        accounts = tables["accounts"].assign(
            phone=landlines(np.arange(len(tables["accounts"])), self._region_codes(tables["accounts"]["region"]))
        )
        pick = np.sort(rng.choice(len(accounts), int(round(DUPLICATE_ACCOUNT_SHARE * len(accounts))), replace=False))
        how = rng.choice(PERTURBATIONS[:-1], len(pick))
        copies = accounts.iloc[pick].reset_index(drop=True)
        copies["account_id"] = ids("C", len(accounts) + np.arange(len(pick))).to_pandas().to_numpy()
        copies["name"] = [perturb_name(rng, s, h) for s, h in zip(copies["name"], how, strict=True)]
        copies["phone"] = [
            reformat_phone(p, s)
            for p, s in zip(copies["phone"], rng.integers(0, PHONE_FORMATS, len(pick)), strict=True)
        ]
        copies["created_at"] = times(self.world, rng.uniform(0, self.world.horizon, len(pick))).to_pandas().to_numpy()
        self.duplicates.append(
            pd.DataFrame(
                {
                    "table": "accounts",
                    "record_id": copies["account_id"],
                    "original_id": accounts["account_id"].iloc[pick].to_numpy(),
                    "perturbation": how,
                }
            )
        )
        accounts = pd.concat([accounts, copies], ignore_index=True)
        return tables | {"reps": conform("reps", reps), "accounts": conform("accounts", accounts)}

    @staticmethod
    def _region_codes(regions: pd.Series) -> np.ndarray:
        return regions.map({r: i for i, r in enumerate(REGIONS)}).to_numpy(dtype=np.int64)

    def write_truth(self, truth: Path) -> None:
        """``duplicates.parquet`` (each planted copy and its original) and ``anomalies.parquet``."""
        pd.concat(self.duplicates, ignore_index=True).to_parquet(truth / "duplicates.parquet", index=False)
        deals = pd.concat(self.deals, ignore_index=True)
        planted = pd.concat(self.anomalies, ignore_index=True) if self.anomalies else pd.DataFrame()
        outliers = set(planted.loc[planted["rule"] == "outlier_amount", "opportunity_id"]) if len(planted) else set()
        natural = [
            {"opportunity_id": d, "rule": "outlier_amount", "kind": "natural", "action": "review", "value": r}
            for d, r in _amount_ratios(deals)
            if d not in outliers
        ]
        pd.concat([planted, pd.DataFrame(natural)], ignore_index=True).to_parquet(
            truth / "anomalies.parquet", index=False
        )


def _prior(history: pd.DataFrame, owner: str, at: float) -> np.ndarray:
    """The owner's deals in the window before ``at`` (a mask over ``history``)."""
    created = history["created"].to_numpy()
    return ((history["owner"] == owner).to_numpy()) & (created < at) & (created >= at - AVERAGE_DAYS)


def _action(beyond: float) -> str:
    return "block" if round(beyond, 9) > BLOCK_MARGIN else "review"


def _amount_ratios(deals: pd.DataFrame) -> list[tuple[str, float]]:
    """Deals above the field's limit: ``OUTLIER_FACTOR`` x the owner's mean over the window before it."""
    hits = []
    for _, rep in deals.groupby("owner"):
        created, amount = rep["created"].to_numpy(), rep["amount"].to_numpy()
        for i in range(len(rep)):
            prior = (created < created[i]) & (created >= created[i] - AVERAGE_DAYS)
            if prior.sum() >= MIN_PRIOR_DEALS and amount[i] > OUTLIER_FACTOR * amount[prior].mean():
                hits.append((rep["opportunity_id"].iloc[i], amount[i] / amount[prior].mean()))
    return hits
