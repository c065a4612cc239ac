"""The ground truth written apart in ``_truth/``: planted drivers and how well the true probabilities rank.

Feature and training code must never read ``_truth``; tests and reports use it to check that models
find the planted drivers and to put their scores next to the best any model could do (the oracle).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy.stats import lognorm
from sklearn.metrics import roc_auc_score

from features.synth import deals as d
from features.synth import leads as ld
from features.synth import world as w
from features.synth.events import COMPETITORS, EFFECTIVE_CALL_S
from features.synth.world import COMPANY_SIZES, INDUSTRIES, MONTH_VOLUME, SOURCES


def _driver(name: str, entity: str, direction: str, observed_as: str, effect: Any, concept: str | None = None) -> dict:
    return {
        "name": name,
        "entity": entity,
        "direction": direction,
        "concept": concept or name,
        "observed_as": observed_as,
        "effect": effect,
    }


def _levels(names: tuple[str, ...], logits: np.ndarray) -> dict[str, float]:
    return {name: round(float(x), 3) for name, x in zip(names, logits, strict=True)}


EFFECTIVE = f"direction=outbound and type call with duration_s >= {EFFECTIVE_CALL_S}, or type visit, meeting or demo"
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")

DRIVERS = [
    _driver(
        "first_response_latency",
        "lead",
        "-",
        "hours from leads.created_at to the lead's first activity with direction=outbound; none: never touched",
        f"{ld.LATENCY_LOGIT:+} log-odds per log(1 + hours)",
    ),
    _driver(
        "activation_7d",
        "lead",
        "+",
        f"two or more effective interactions on the lead within 7 days of created_at ({EFFECTIVE})",
        f"{ld.ACTIVATION_LOGIT:+} log-odds",
    ),
    _driver(
        "web_engagement",
        "lead",
        "+",
        "lead activities of type web_visit, download and form, and inbound calls or messages (direction=inbound), "
        f"all within {ld.ENGAGEMENT_DAYS:g} days of created_at",
        f"{ld.ENGAGEMENT_LOGIT:+} log-odds per log(1 + web visits + 2 x (downloads + inbound contacts))",
    ),
    _driver(
        "source",
        "lead",
        "+",
        "leads.source: referral and partner leads convert best, cold calls and ads worst",
        _levels(SOURCES, ld.SOURCE_LOGIT),
    ),
    _driver(
        "company_size",
        "lead",
        "+",
        "leads.company_size (accounts.employees): larger companies convert more",
        _levels(COMPANY_SIZES, ld.SIZE_LOGIT),
    ),
    _driver(
        "industry_fit",
        "lead",
        "+",
        "leads.industry: the core industries the products fit convert more",
        _levels(INDUSTRIES, ld.INDUSTRY_FIT_LOGIT),
    ),
    _driver(
        "rep_skill_lead",
        "lead",
        "+",
        "leads.owner_rep_id: reps differ in latent skill (their track record and response speed show it); "
        "new hires (reps.hired_at) ramp up over about four months",
        f"{ld.SKILL_LOGIT:+} log-odds per standard deviation of skill",
        concept="rep_skill",
    ),
    _driver(
        "rep_lead_fit",
        "lead",
        "+",
        "leads.owner_rep_id with leads.industry and leads.source: each rep converts some industries and sources "
        "better than others (its past leads of the same industry or source show it); offsets in _truth/reps.parquet",
        f"per rep and industry N(0, {w.INDUSTRY_FIT_SD}) plus per rep and source N(0, {w.SOURCE_FIT_SD}) log-odds",
        concept="rep_skill",
    ),
    _driver(
        "rep_skill_opportunity",
        "opportunity",
        "+",
        "opportunities.owner_rep_id, as for leads",
        f"{d.SKILL_WIN:+} log-odds per standard deviation of skill",
        concept="rep_skill",
    ),
    _driver(
        "decision_chain",
        "opportunity",
        "+",
        "distinct contact_role among ceo, cto, procurement and finance in the deal's activities",
        f"{d.COVERAGE_WIN:+} log-odds per senior role met",
    ),
    _driver(
        "cto_involvement",
        "opportunity",
        "+",
        "deal activities (demos, meetings) with contact_role=cto",
        f"{d.CTO_WIN:+} log-odds per session, up to 4",
    ),
    _driver(
        "poc_length",
        "opportunity",
        "-",
        "days from the deal's poc_start activity to its poc_end activity",
        f"{d.POC_LENGTH_WIN:+} log-odds per log(days / {d.POC_DAYS:g}); running a POC at all {d.POC_WIN:+}",
    ),
    _driver(
        "quote_revisions",
        "opportunity",
        "-",
        "deal activities of type quote_sent beyond the first",
        f"{d.QUOTE_ROUND_WIN:+} log-odds per extra round",
    ),
    _driver(
        "contract_revisions",
        "opportunity",
        "-",
        "deal activities of type contract_revision beyond the first",
        f"{d.CONTRACT_ROUND_WIN:+} log-odds per extra round",
    ),
    _driver(
        "stage_dwell",
        "opportunity",
        "-",
        "stage_changes: days from entering needs_confirmed to entering demo; stalls (weeks with no activity) "
        "and regressions (a stage_changes row back to an earlier stage)",
        f"{d.NEEDS_DWELL_WIN:+} log-odds per log(needs days / {d.STAGE_DAYS[1]:g}); stall {d.STALL_WIN:+}; "
        f"regression {d.REGRESSION_WIN:+}",
    ),
    _driver(
        "discount",
        "opportunity",
        "+",
        "opportunities.discount_pct (set when the deal is created)",
        f"{d.DISCOUNT_WIN:+} log-odds per discount point",
    ),
    _driver(
        "note_budget_approval",
        "opportunity",
        "+",
        "activity notes containing 预算审批 or 'Budget approval'",
        f"{d.BUDGET_NOTE_WIN:+} log-odds",
    ),
    _driver(
        "note_competitor",
        "opportunity",
        "-",
        f"activity notes naming a competitor ({', '.join(COMPETITORS)})",
        f"{d.COMPETITOR_WIN:+} log-odds",
    ),
    _driver(
        "note_price_comparison",
        "opportunity",
        "-",
        "activity notes containing 比价 or 'comparing prices'",
        f"{d.PRICE_COMPARISON_WIN:+} log-odds",
    ),
    _driver(
        "seasonality",
        "opportunity",
        "+",
        "month of opportunities.created_at: deals opened in quarter-end months and December win more, "
        "February (Spring Festival) less; won deals also cluster in the last days of a quarter",
        _levels(MONTHS, d.MONTH_WIN),
    ),
]

UNOBSERVED = {
    "lead": [
        "buyer intent: no effect of its own, it acts through web engagement and activation (both observed)",
        "rep skill beyond what the rep's track record shows",
        "activities entered late (visits, meetings, e-mails back-filled days later or at month end)",
    ],
    "opportunity": [
        f"true budget ({d.BUDGET_WIN:+} per SD, also raises senior contacts and budget-approval notes)",
        f"urgency ({d.URGENCY_WIN:+} per SD, also shortens needs confirmation)",
        f"the lead's buyer intent ({d.INTENT_WIN:+} per SD)",
        f"noise (SD {d.NOISE_WIN})",
    ],
}
DISTRACTORS = [
    "notes on go-live timeline (上线周期), data migration (数据迁移) and implementation period (实施周期): no effect",
    "vague notes (已沟通, 待推进 ...), often back-filled at month end: no effect",
    f"lead volume by month {_levels(MONTHS, MONTH_VOLUME)}: no effect on conversion",
]


def oracle(
    p_convert: np.ndarray,
    converted: np.ndarray,
    converted_by_export: np.ndarray,
    p_win: np.ndarray,
    won: np.ndarray,
    closed: np.ndarray,
) -> dict[str, dict[str, float | int]]:
    """How well the true probabilities rank the drawn outcomes: the ceiling for any model."""
    return {
        "leads": {
            "roc_auc": round(float(roc_auc_score(converted, p_convert)), 4),
            "conversion_rate": round(float(converted.mean()), 4),
            "converted_by_export_rate": round(float(converted_by_export.mean()), 4),
            "n": int(len(p_convert)),
        },
        "opportunities": {
            "roc_auc": round(float(roc_auc_score(won[closed], p_win[closed])), 4),
            "win_rate": round(float(won[closed].mean()), 4),
            "n_closed": int(closed.sum()),
            "n_open": int((~closed).sum()),
        },
    }


def lead_snapshot_oracle(
    p_convert: np.ndarray, first_response_days: np.ndarray, age_days: np.ndarray, horizon_days: float
) -> np.ndarray:
    """The true probability that a lead still open at ``age_days`` converts within the next ``horizon_days``.

    It knows everything the simulator drew for the lead (the rep's latent skill, activities not yet entered, and
    the first-response time even when that lies after the snapshot), so it bounds what any model can reach on
    the same snapshot rows; once the first response and the 7-day activation window are in the past, only the
    latent skill and late entries are hidden from a model.
    """
    lat, age = first_response_days, age_days

    def lasts_beyond(days: np.ndarray, median_and_sigma: tuple[float, float]) -> np.ndarray:
        median, sigma = median_and_sigma
        return lognorm.sf(days, sigma, scale=median)  # 1 where days <= 0: durations are positive

    converts_after = lasts_beyond(age - lat, ld.CONVERT_DAYS)
    converts_in = converts_after - lasts_beyond(age + horizon_days - lat, ld.CONVERT_DAYS)
    dropped_after = lasts_beyond(age - lat, ld.DROP_DAYS)
    lo, hi = ld.CLEAN_UP_DAYS
    cleaned_after = np.clip((hi - age) / (hi - lo), 0.0, 1.0)
    share = np.where(lat > ld.CLEAN_UP_AFTER, ld.CLEAN_UP_SHARE, 0.0)
    still_open_unconverted = share * cleaned_after + (1 - share) * dropped_after
    open_now = p_convert * converts_after + (1 - p_convert) * still_open_unconverted
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(open_now > 0, p_convert * converts_in / open_now, 0.0)


def write_truth_meta(directory: Path, figures: dict[str, dict[str, float | int]], segments: dict | None = None) -> None:
    """The planted drivers and the oracle's figures; ``segments``: the segment-specific drivers, when planted."""
    directory.mkdir(parents=True, exist_ok=True)
    drivers = {"drivers": DRIVERS, "unobserved": UNOBSERVED, "distractors": DISTRACTORS}
    if segments is not None:
        drivers["segments"] = segments
    for name, content in (("drivers.yaml", drivers), ("oracle.yaml", figures)):
        (directory / name).write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")
