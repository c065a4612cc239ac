"""Note-keyword features carry the effect the simulator planted.

The simulator writes notes naming budget approval, a competitor or a price comparison on some deals and moves
those deals' win odds by the amount in ``_truth/drivers.yaml``. Counted by ``features.pit.build`` (the lexicon
matched in the notes known at the cutoff), deals with such a mention must win more or less often in the planted
direction, and a logistic regression on the three counts must give each the planted sign.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression

from features.crm.dataset import read_dataset
from features.pit.build import build_features
from features.pit.catalog import note_name

KEYWORD_DRIVERS = ("note_budget_approval", "note_competitor", "note_price_comparison")


@pytest.fixture(scope="module")
def closed_deals(medium_data: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each closed deal of the session's medium CRM (9,000 leads): its keyword counts as known when it closed,
    whether it was won, and the planted signs."""
    out = medium_data
    ds = read_dataset(out)
    deals = ds.get("opportunities").dropna(subset=["closed_at", "outcome"])
    frame = pd.DataFrame({"entity_id": deals["opportunity_id"].to_numpy(), "cutoff_time": deals["closed_at"]})
    table = build_features(ds, "opportunity", frame)
    table["won"] = (deals["outcome"] == "won").to_numpy()
    drivers = yaml.safe_load((Path(out) / "_truth" / "drivers.yaml").read_text(encoding="utf-8"))["drivers"]
    signs = {d["name"]: d["direction"] for d in drivers if d["name"] in KEYWORD_DRIVERS}
    return table, signs


def test_the_truth_plants_all_three_keyword_drivers(closed_deals: tuple[pd.DataFrame, dict[str, str]]) -> None:
    _, signs = closed_deals
    assert set(signs) == set(KEYWORD_DRIVERS)


@pytest.mark.parametrize("driver", KEYWORD_DRIVERS)
def test_deals_mentioning_a_keyword_win_in_the_planted_direction(
    closed_deals: tuple[pd.DataFrame, dict[str, str]], driver: str
) -> None:
    table, signs = closed_deals
    mentioned = table[note_name(driver.removeprefix("note_"))] > 0
    assert 50 <= mentioned.sum() <= len(table) - 50, "both groups must be large enough to compare"
    gap = table.loc[mentioned, "won"].mean() - table.loc[~mentioned, "won"].mean()
    assert np.sign(gap) == (1 if signs[driver] == "+" else -1), f"{driver}: win-rate gap {gap:+.3f}"
    assert abs(gap) >= 0.03, f"{driver}: win-rate gap {gap:+.3f} too small to be the planted effect"


def test_each_keyword_count_gets_the_planted_sign_beside_the_others(
    closed_deals: tuple[pd.DataFrame, dict[str, str]],
) -> None:
    table, signs = closed_deals
    columns = [note_name(d.removeprefix("note_")) for d in KEYWORD_DRIVERS]
    x = (table[columns].to_numpy() > 0).astype(float)
    coef = LogisticRegression().fit(x, table["won"]).coef_[0]
    for driver, c in zip(KEYWORD_DRIVERS, coef, strict=True):
        assert np.sign(c) == (1 if signs[driver] == "+" else -1), f"{driver}: coefficient {c:+.2f}"
