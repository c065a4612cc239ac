"""The data anomaly guard: duplicate leads and accounts, outlier deal amounts, discounts beyond authority.

Every check reads a canonical dataset and returns findings (the records, the rule, the evidence); nothing is
changed or deleted. As of a time T a check sees only records created by T, and a deal's reference average
only that rep's deals created in the 3 months before it. Field rules: the same phone and company name (a name
similarity of 80% counts as the same) is a duplicate; a deal above 5x the rep's 3-month average is held for
review; a quote more than 3 points beyond the rep's discount authority is blocked.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import Indel

from features.crm.dataset import Dataset, as_of_time, read_dataset, time_ns, to_utc_scalar
from features.crm.privacy import phone_digits

DEFAULT_SIMILARITY = 0.8
OUTLIER_FACTOR = 5.0
AVERAGE_DAYS = 91  # "the rep's last 3 months"
MIN_PRIOR_DEALS = 3  # fewer deals make no average worth comparing against
BLOCK_MARGIN = 0.03  # discount points beyond authority that block the quote
MAX_PHONE_SHARERS = 20  # a number on more records is a switchboard or a placeholder, not one customer's

RULES: dict[str, str] = {
    "duplicate_lead": "the same phone and a similar company name on two leads",
    "duplicate_account": "the same phone and a similar name on two accounts",
    "outlier_amount": f"deal amount above {OUTLIER_FACTOR:g}x the rep's average over the 3 months before it",
    "discount_over_authority": "discount beyond the rep's discount authority",
}
FINDING_COLUMNS = [
    "rule",
    "action",
    "table",
    "record_id",
    "other_record_id",
    "rep_id",
    "other_rep_id",
    "observed",
    "reference",
    "evidence",
]

_PUNCTUATION = re.compile(r"[\W_]+", re.UNICODE)
_LEGAL_SUFFIX = re.compile(
    r"(?:股份有限公司|有限责任公司|有限公司|集团|公司|company limited|co ltd|company|corporation|incorporated"
    r"|limited|corp|gmbh|ltd|inc|llc|co)$"
)


@dataclass
class CheckResult:
    """Findings (one row per flagged record or pair), the records each rule looked at, and rules skipped."""

    findings: pd.DataFrame
    checked: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> pd.DataFrame:
        """Findings per rule and action, every rule listed (zero when nothing was found)."""
        counts = self.findings.groupby(["rule", "action"]).size()
        rows = [
            {"rule": rule, "action": action, "findings": int(n), "checked": self.checked.get(rule, 0)}
            for (rule, action), n in counts.items()
        ]
        found = {r["rule"] for r in rows}
        rows += [
            {"rule": r, "action": "-", "findings": 0, "checked": n} for r, n in self.checked.items() if r not in found
        ]
        return pd.DataFrame(rows, columns=["rule", "action", "findings", "checked"])


def normalize_phone(values: pd.Series) -> pd.Series:
    """Digits only, without the +86/0086 country code or trunk zeros; fewer than 7 digits is no phone."""
    return values.astype("string").map(phone_digits, na_action="ignore").astype("string")


def normalize_name(name: str) -> str:
    """Lower case, half-width, no punctuation, spaces or legal suffix (有限公司, Co., Ltd., GmbH ...)."""
    text = _PUNCTUATION.sub(" ", unicodedata.normalize("NFKC", name).lower()).strip()
    while True:
        stripped = _LEGAL_SUFFIX.sub("", text).strip()
        if stripped == text:
            return text.replace(" ", "")
        text = stripped


def normalize_names(values: pd.Series) -> pd.Series:
    return values.astype("string").map(normalize_name, na_action="ignore").astype("string")


def check_dataset(
    ds: Dataset, as_of: pd.Timestamp | None = None, similarity: float = DEFAULT_SIMILARITY
) -> CheckResult:
    """Run every check on the records known at ``as_of`` (default: all of them)."""
    if not 0 < similarity <= 1:
        raise ValueError(f"similarity must be in (0, 1], got {similarity}")
    result = CheckResult(pd.DataFrame(columns=FINDING_COLUMNS))
    cutoff = None if as_of is None else to_utc_scalar(as_of)
    leads, accounts, deals = (known_at(ds.get(t), cutoff) for t in ("leads", "accounts", "opportunities"))
    reps = ds.get("reps")
    parts = [
        duplicates(result, "duplicate_lead", "leads", leads, "lead_id", "company_name", "owner_rep_id", similarity),
        duplicates(result, "duplicate_account", "accounts", accounts, "account_id", "name", None, similarity),
        outlier_amounts(result, deals),
        discounts_over_authority(result, deals, reps),
    ]
    result.findings = pd.concat([p for p in parts if len(p)] or [result.findings], ignore_index=True)[FINDING_COLUMNS]
    return result


def known_at(table: pd.DataFrame, cutoff: pd.Timestamp | None) -> pd.DataFrame:
    """Rows created by ``cutoff``; rows without a creation time count as known (accounts often lack one)."""
    if cutoff is None or "created_at" not in table.columns:
        return table
    return table[~(table["created_at"] > cutoff).fillna(False).to_numpy(dtype=bool)]


def _filled(table: pd.DataFrame, column: str | None) -> bool:
    return column is not None and column in table.columns and bool(table[column].notna().any())


def _skip(result: CheckResult, rule: str, table: str, *columns: str) -> pd.DataFrame:
    result.notes.append(f"{rule} skipped: {', '.join(f'{table}.{c}' for c in columns)} not in this dataset")
    return pd.DataFrame(columns=FINDING_COLUMNS)


def duplicates(
    result: CheckResult,
    rule: str,
    table_name: str,
    table: pd.DataFrame,
    key: str,
    name_column: str,
    owner_column: str | None,
    similarity: float,
) -> pd.DataFrame:
    """Pairs with one normalised phone and company names at least ``similarity`` alike (Indel ratio).

    Blocking by phone keeps it linear in the records; the later record of a pair is reported as the duplicate.
    """
    if not _filled(table, "phone"):
        return _skip(result, rule, table_name, "phone")
    result.checked[rule] = len(table)
    has_names = _filled(table, name_column)
    if not has_names:
        result.notes.append(f"{rule}: {table_name}.{name_column} not in this dataset, phones compared alone")
    records = pd.DataFrame(
        {
            "id": table[key].to_numpy(),
            "phone": normalize_phone(table["phone"]).to_numpy(),
            "name": table[name_column].astype("string").to_numpy() if has_names else pd.NA,
            "norm": normalize_names(table[name_column]).to_numpy() if has_names else pd.NA,
            "owner": table[owner_column].to_numpy() if _filled(table, owner_column) else pd.NA,
            "created": time_ns(table["created_at"]) if "created_at" in table.columns else 0,
        }
    ).dropna(subset=["phone"])
    sharers = records.groupby("phone")["id"].transform("size")
    crowded = records.loc[sharers > MAX_PHONE_SHARERS, "phone"].nunique()
    if crowded:
        result.notes.append(f"{rule}: {crowded} phone(s) on more than {MAX_PHONE_SHARERS} records not matched")
    records = records[(sharers > 1) & (sharers <= MAX_PHONE_SHARERS)].sort_values(["created", "id"], kind="stable")
    records["order"] = np.arange(len(records))
    pairs = records.merge(records, on="phone", suffixes=("_a", "_b"))
    pairs = pairs[pairs["order_a"] < pairs["order_b"]]
    if has_names:
        named = pairs["norm_a"].notna() & pairs["norm_b"].notna()
        score = np.full(len(pairs), np.nan)
        score[named.to_numpy()] = process.cpdist(
            pairs.loc[named, "norm_a"].tolist(), pairs.loc[named, "norm_b"].tolist(), scorer=Indel.normalized_similarity
        )
        keep = ~(score < similarity)  # a missing name on either side: the phone decides
        pairs = pairs[keep].assign(score=np.round(score[keep], 3))
    else:
        pairs = pairs.assign(score=np.nan)
    return pd.DataFrame(
        {
            "rule": rule,
            "action": "review",
            "table": table_name,
            "record_id": pairs["id_b"].to_numpy(),
            "other_record_id": pairs["id_a"].to_numpy(),
            "rep_id": pairs["owner_b"].to_numpy(),
            "other_rep_id": pairs["owner_a"].to_numpy(),
            "observed": pairs["score"].to_numpy(),
            "reference": similarity,
            "evidence": [_duplicate_evidence(row, table_name) for row in pairs.itertuples(index=False)],
        },
        columns=FINDING_COLUMNS,
    )


def _duplicate_evidence(pair: tuple, table_name: str) -> str:
    names = (
        f"names '{pair.name_b}' / '{pair.name_a}' {pair.score:.0%} alike" if pd.notna(pair.score) else "a name missing"
    )
    owners = ""
    if pd.notna(pair.owner_a) and pd.notna(pair.owner_b):
        owners = "; entered by different reps" if pair.owner_a != pair.owner_b else "; the same rep"
    return f"phone {pair.phone} on both {table_name}; {names}{owners}"


def rep_recent_average(deals: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """For each deal: the mean amount and count of its owner's deals created in the 3 months strictly before it.

    The window is [created - 3 months, created): the deal itself, deals at the same instant and later deals
    are left out, so the reference is what the rep's manager could have known when the deal was entered.
    """
    frame = (
        pd.DataFrame(
            {
                "owner": deals["owner_rep_id"].astype("string"),
                "created": deals["created_at"],
                "amount": deals["amount"].astype(float),
            }
        )
        .reset_index(drop=True)
        .dropna(subset=["owner", "created"])
    )
    frame = frame.sort_values(["owner", "created"], kind="stable")
    window = frame.groupby("owner", sort=False).rolling(f"{AVERAGE_DAYS}D", on="created", closed="left")["amount"]
    sums, counts = window.sum().to_numpy(), np.nan_to_num(window.count().to_numpy())  # empty windows give NaN
    mean, n = np.full(len(deals), np.nan), np.zeros(len(deals), dtype=np.int64)
    mean[frame.index] = np.divide(sums, counts, out=np.full(len(sums), np.nan), where=counts > 0)
    n[frame.index] = counts
    return mean, n


def outlier_amounts(result: CheckResult, deals: pd.DataFrame) -> pd.DataFrame:
    """Deals above ``OUTLIER_FACTOR`` times their rep's 3-month average (with at least ``MIN_PRIOR_DEALS`` deals)."""
    if not (_filled(deals, "amount") and _filled(deals, "owner_rep_id")):
        return _skip(result, "outlier_amount", "opportunities", "amount", "owner_rep_id")
    result.checked["outlier_amount"] = len(deals)
    mean, n = rep_recent_average(deals)
    amount = deals["amount"].to_numpy(dtype=float)
    hit = (n >= MIN_PRIOR_DEALS) & (amount > OUTLIER_FACTOR * mean)
    rows = deals[hit]
    ratio = amount[hit] / mean[hit]
    evidence = [
        f"amount {a:,.0f} is {r:.1f}x the rep's average {m:,.0f} over {k} deals in the 3 months before"
        for a, r, m, k in zip(amount[hit], ratio, mean[hit], n[hit], strict=True)
    ]
    return _deal_findings("outlier_amount", "review", rows, amount[hit], mean[hit], evidence)


def discounts_over_authority(result: CheckResult, deals: pd.DataFrame, reps: pd.DataFrame) -> pd.DataFrame:
    """Discounts beyond the owner's authority: review within ``BLOCK_MARGIN`` of it, block past that."""
    if not _filled(deals, "discount"):
        return _skip(result, "discount_over_authority", "opportunities", "discount")
    if not _filled(reps, "discount_authority"):
        return _skip(result, "discount_over_authority", "reps", "discount_authority")
    result.checked["discount_over_authority"] = len(deals)
    authority = deals["owner_rep_id"].map(reps.set_index("rep_id")["discount_authority"]).astype(float).to_numpy()
    discount = deals["discount"].to_numpy(dtype=float)
    beyond = np.round(discount - authority, 9)  # 0.18 - 0.15 is 0.03 exactly, not 0.0300000001
    hit = beyond > 0
    rows = deals[hit]
    block = beyond[hit] > BLOCK_MARGIN
    evidence = [
        f"discount {d:.1%} is {b * 100:.1f} points beyond the rep's authority {a:.1%}"
        + (f" (over {BLOCK_MARGIN * 100:g}: blocked)" if b > BLOCK_MARGIN else "")
        for d, a, b in zip(discount[hit], authority[hit], beyond[hit], strict=True)
    ]
    action = np.where(block, "block", "review")
    return _deal_findings("discount_over_authority", action, rows, discount[hit], authority[hit], evidence)


def _deal_findings(
    rule: str,
    action: str | np.ndarray,
    rows: pd.DataFrame,
    observed: np.ndarray,
    reference: np.ndarray,
    evidence: list[str],
) -> pd.DataFrame:
    """Findings on single deals (no other record): the deal, its owner, the measured value against its limit."""
    return pd.DataFrame(
        {
            "rule": rule,
            "action": action,
            "table": "opportunities",
            "record_id": rows["opportunity_id"].to_numpy(),
            "other_record_id": pd.NA,
            "rep_id": rows["owner_rep_id"].to_numpy(),
            "other_rep_id": pd.NA,
            "observed": observed,
            "reference": reference,
            "evidence": evidence,
        },
        columns=FINDING_COLUMNS,
    )


def check_directory(data: Path, as_of: str | None = None, similarity: float = DEFAULT_SIMILARITY) -> CheckResult:
    """``salesml data check``: the dataset at ``data`` checked as of ``as_of`` (refused outside its history)."""
    ds = read_dataset(data)
    return check_dataset(ds, None if as_of is None else as_of_time(ds, as_of), similarity)
