"""The truth of the rep-lead fit (``world.RepFit``): what each rep adds to a lead's conversion, with any lead.

``_truth/reps.parquet`` keeps each rep's latent skill and fit offsets so that a test can compute a lead's true
conversion probability with any rep (routing quality); features and training never read it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.synth.leads import SKILL_LOGIT
from features.synth.output import ids
from features.synth.world import INDUSTRIES, RAMP_DAYS, RAMP_SKILL, SOURCES, World

TRUTH_FILE = "reps.parquet"


def write_rep_truth(directory: Path, world: World) -> None:
    """Each rep's latent skill and fit offsets, for tests that compare routings on true conversion."""
    reps, fit = world.reps, world.fit
    columns = {"rep_id": ids("R", np.arange(len(reps))).to_numpy(zero_copy_only=False), "skill": reps.skill}
    columns |= {f"fit_industry_{name}": fit.industry[:, i] for i, name in enumerate(INDUSTRIES)}
    columns |= {f"fit_source_{name}": fit.source[:, i] for i, name in enumerate(SOURCES)}
    pd.DataFrame(columns).to_parquet(directory / TRUTH_FILE, index=False)


def rep_logit(
    truth: pd.DataFrame, rep_id: pd.Series, industry: pd.Series, source: pd.Series, tenure_days: np.ndarray
) -> np.ndarray:
    """The log-odds a rep adds to a lead's conversion (skill net of ramp-up, plus fit), from ``_truth/reps``.

    ``truth`` is ``_truth/reps.parquet`` indexed by rep_id; unknown industries or sources add no fit.
    """
    rows = truth.reindex(rep_id.astype(str).to_numpy())
    skill = rows["skill"].to_numpy() - RAMP_SKILL * np.exp(-np.maximum(tenure_days, 0.0) / RAMP_DAYS)
    out = SKILL_LOGIT * skill
    for prefix, values, names in (("industry", industry, INDUSTRIES), ("source", source, SOURCES)):
        for name in names:
            hit = (values.astype(str) == name).to_numpy()
            out = out + np.where(hit, rows[f"fit_{prefix}_{name}"].to_numpy(), 0.0)
    return out
