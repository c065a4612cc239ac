"""Data health of a canonical dataset: column coverage, quarantined rows, the stage funnel, stage dwell and lead
activation, for the explore notebook; and each rep's process health on the field's three hard metrics, for the
manager report (per rep, not team averages: a few reps often carry a team).

Every summary reads the dataset as exported; for a view as of an earlier time pass
``features.pit.frames.dataset_as_of``
(``rep_health`` does when given ``as_of``: then nothing later is counted). Activation and first response come from
the lead features, so they are the numbers the models see.

The three per-rep metrics, week by week (weeks Monday to Sunday, UTC):

- lead activation rate: of the rep's leads created in the week, the share with two or more effective interactions
  within 7 days (only weeks whose leads' 7 days are all over); healthy >= 65%, warning below 52% two weeks running;
- needs-confirmed dwell: mean days the rep's deals spent in the needs-confirmed stage, over the stays that left it
  in the 4 weeks up to the week's end, and its swing from the week before; healthy <= 5.2 days, warning above 7.8
  with a swing above 35%;
- action compliance (done / due): the actions the field's rhythm makes due, done in time: a new lead's first
  contact within 24 hours of its creation, and after each contact with an open deal (and its creation) the next
  one within 7 days, unless the deal closed first; counted in the week it falls due, over the 4 weeks up to the
  week's end; healthy >= 88%.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, history_start, read_manifest, to_utc_scalar
from features.crm.schema import TABLE_ORDER
from features.pit.activity_log import INBOUND_TYPES
from features.pit.build import build_features
from features.pit.families.response import ACTIVATION_DAYS
from features.pit.families.stage import typical_dwell_days
from features.pit.frames import dataset_as_of

QUARANTINE_DIR = "quarantine"
ACTIVATION_HEALTHY = 0.65  # field reference: a week's new leads activated at this rate or more is healthy
ACTIVATION_WARNING = 0.52  # below this a week is a warning
ACTIVATION_WARNING_WEEKS = 2  # ... when it runs this many weeks
NEEDS_CONFIRMED = "needs_confirmed"
DWELL_HEALTHY = 5.2  # mean days in needs-confirmed: healthy at or below
DWELL_WARNING = 7.8  # warning above this ...
DWELL_SWING_WARNING = 0.35  # ... with a week-to-week swing above this
FIRST_CONTACT_DUE = pd.Timedelta(hours=24)  # a silent lead drops a grade every 24 h (field practice)
FOLLOW_UP_DUE = pd.Timedelta(days=7)  # an open deal's next contact
COMPLIANCE_HEALTHY = 0.88
TRAILING_WEEKS = 4  # dwell and compliance: a rep sees a few deals a week, so weeks are pooled
WEEK = "W-SUN"


def coverage(ds: Dataset) -> pd.DataFrame:
    """Per table and column, the share of rows with a value, emptiest first: a column an importer left mostly
    empty shows here before it silently becomes a useless feature."""
    parts = [
        pd.DataFrame({"table": name, "column": df.columns, "rows": len(df), "filled": df.notna().mean().to_numpy()})
        for name in TABLE_ORDER
        if ds.has(name)
        for df in [ds.get(name)]
    ]
    return pd.concat(parts, ignore_index=True).sort_values("filled", kind="stable", ignore_index=True)


def quarantine_summary(data: Path) -> pd.DataFrame:
    """Per table: rows kept, rows quarantined at import (from the manifest) and the most frequent first broken
    rule from ``quarantine/<table>.csv``, so an analyst sees what was set aside and why."""
    manifest = read_manifest(data)
    rows = []
    for name in TABLE_ORDER:
        file = data / QUARANTINE_DIR / f"{name}.csv"
        reasons = pd.read_csv(file, usecols=["reason"])["reason"] if file.exists() else pd.Series(dtype=str)
        first_rule = reasons.astype(str).str.split(r";|: ", regex=True).str[0].value_counts()
        rows.append(
            {
                "table": name,
                "kept": manifest.counts.get(name, 0),
                "quarantined": manifest.quarantined.get(name, len(reasons)),
                "top_reasons": "; ".join(f"{rule} ({n})" for rule, n in first_rule.head(3).items()),
            }
        )
    return pd.DataFrame(rows)


def _stage_index(ds: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """Stage changes with the stage's position in the manifest's funnel (unknown stages dropped)."""
    names = ds.manifest.stage_names()
    changes = ds.get("stage_changes")
    changes = changes.assign(step=changes["stage"].map({n: i for i, n in enumerate(names)}))
    return changes.dropna(subset=["step"]).astype({"step": int}), names


def funnel(ds: Dataset) -> pd.DataFrame:
    """Per funnel stage: deals that reached it, the share of the previous stage that did, and how many of them
    are won, lost or still open at the export (a deal reaches every stage up to its furthest one)."""
    changes, names = _stage_index(ds)
    furthest = changes.groupby("opportunity_id")["step"].max()
    deals = ds.get("opportunities").set_index("opportunity_id")
    outcome = deals["outcome"].reindex(furthest.index).fillna("open").astype(str)
    reached = np.array([(furthest >= i).sum() for i in range(len(names))])
    out = pd.DataFrame({"stage": names, "reached": reached})
    out["from_previous"] = out["reached"] / np.concatenate([[len(furthest)], reached[:-1]]).clip(1)
    for result in ("won", "lost", "open"):
        out[result] = [int(((furthest >= i) & (outcome == result)).sum()) for i in range(len(names))]
    return out


def _stays(ds: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """Each stay of a deal in a funnel stage: when it left (the next stage change or the close; NaT while still
    there) and its days; with the funnel's stage names."""
    changes, names = _stage_index(ds)
    changes = changes.sort_values(["opportunity_id", "changed_at"])
    closed = changes["opportunity_id"].map(ds.get("opportunities").set_index("opportunity_id")["closed_at"])
    left = changes.groupby("opportunity_id")["changed_at"].shift(-1).fillna(closed)
    days = (left - changes["changed_at"]).dt.total_seconds() / 86_400
    return changes.assign(left=left, days=days), names


def stage_dwell(ds: Dataset) -> pd.DataFrame:
    """Days spent in each stage (to the next stage change or the close) beside the field's typical dwell; deals
    still in a stage at the export are counted apart, not as finished stays."""
    stays, names = _stays(ds)
    finished = stays.dropna(subset=["days"]).groupby("stage")["days"]
    out = pd.DataFrame({"stage": names, "typical_days": typical_dwell_days(names)[:-1]}).set_index("stage")
    out["finished"] = finished.size()
    out["median_days"] = finished.median()
    out["p90_days"] = finished.quantile(0.9)
    out["still_in_stage"] = stays["days"].isna().groupby(stays["stage"]).sum()
    return out.fillna({"finished": 0, "still_in_stage": 0}).astype({"finished": int, "still_in_stage": int})


def _lead_responses(ds: Dataset) -> pd.DataFrame:
    """Leads whose first-contact deadline has passed at the export, from the lead features as known at 7 days
    after creation (or the export, if sooner): owner, creation, whether their 7 days are over, whether they were
    activated in them, and whether the first contact came within the deadline."""
    leads = ds.get("leads")
    at = ds.manifest.exported_at
    leads = leads[leads["created_at"] + FIRST_CONTACT_DUE <= at]
    seven_days = leads["created_at"] + pd.Timedelta(days=ACTIVATION_DAYS)
    frame = pd.DataFrame(
        {"entity_id": leads["lead_id"].to_numpy(), "cutoff_time": seven_days.clip(upper=at).to_numpy()}
    )
    table = build_features(ds, "lead", frame)
    owner = leads["owner_rep_id"] if "owner_rep_id" in leads.columns else pd.Series(pd.NA, index=leads.index)
    return pd.DataFrame(
        {
            "rep_id": owner.to_numpy(),
            "created_at": leads["created_at"].to_numpy(),
            "activation_over": (seven_days <= at).to_numpy(),
            "activated": table["activated_7d"].to_numpy() == 1,
            "contacted_in_time": table["first_response_h"].to_numpy() <= FIRST_CONTACT_DUE / pd.Timedelta(hours=1),
        }
    )


def lead_activation(ds: Dataset, freq: str = WEEK) -> pd.DataFrame:
    """Per week of creation: new leads whose first 7 days are over at the export, the share with at least two
    effective interactions in those days (the lead features' ``activated_7d``), and the field's verdict."""
    leads = _lead_responses(ds)
    leads = leads[leads["activation_over"]]
    week = leads["created_at"].dt.tz_convert(None).dt.to_period(freq).to_numpy()
    out = leads.groupby(week)["activated"].agg(new_leads="size", activation_rate="mean")
    out.index = out.index.astype(str).rename("week")
    verdict = np.where(out["activation_rate"] >= ACTIVATION_HEALTHY, "healthy", "watch")
    out["verdict"] = np.where(out["activation_rate"] < ACTIVATION_WARNING, "warning", verdict)
    return out.reset_index()


@dataclass
class RepHealth:
    """Each rep's process health as of a time: the weekly figures, the latest verdicts, and what was skipped."""

    as_of: pd.Timestamp
    weekly: pd.DataFrame  # rep_id, week (its Monday) and each metric's weekly figures
    summary: pd.DataFrame  # one row per rep: the latest complete week's figures and verdicts
    notes: list[str] = field(default_factory=list)  # metrics skipped for want of a column or table, and why


def _week(times: pd.Series) -> pd.Series:
    """The Monday (UTC, 00:00, naive) of the week holding each time."""
    return pd.Series(pd.to_datetime(times, utc=True)).dt.tz_convert(None).dt.to_period(WEEK).dt.start_time


def _weekly_sums(rep: pd.Series, week: pd.Series, values: dict[str, pd.Series], weeks: pd.DatetimeIndex) -> dict:
    """A reps x weeks table of the rows (``rows``) and of each value's sum (0 where nothing fell), over ``weeks``."""
    frame = pd.DataFrame({"rep_id": rep.to_numpy(), "week": week.to_numpy(), "rows": 1.0})
    frame = frame.assign(**{k: v.to_numpy(dtype=float) for k, v in values.items()}).dropna(subset=["rep_id"])
    sums = frame.groupby(["rep_id", "week"])[["rows", *values]].sum()
    return {k: sums[k].unstack("week").reindex(columns=weeks, fill_value=0).fillna(0) for k in ["rows", *values]}


def _trailing(table: pd.DataFrame) -> pd.DataFrame:
    """Sums over the ``TRAILING_WEEKS`` weeks up to each week."""
    return table.T.rolling(TRAILING_WEEKS, min_periods=1).sum().T


def _long(table: pd.DataFrame, name: str) -> pd.Series:
    return table.stack(future_stack=True).rename(name).rename_axis(["rep_id", "week"])


def rep_activation(leads: pd.DataFrame, weeks: pd.DatetimeIndex) -> pd.DataFrame:
    """Per rep and week of creation: new leads and the share activated within 7 days (NaN: no new leads)."""
    over = leads[leads["activation_over"]]
    sums = _weekly_sums(
        over["rep_id"],
        _week(over["created_at"]),
        {"n": over["activated"]},
        weeks,
    )
    rate = sums["n"] / sums["rows"].where(sums["rows"] > 0)
    return pd.concat([_long(sums["rows"], "new_leads"), _long(rate, "activation_rate")], axis=1)


def needs_confirmed_dwell(ds: Dataset, weeks: pd.DatetimeIndex) -> pd.DataFrame:
    """Per rep (the deal's owner) and week: needs-confirmed stays that left the stage in the trailing weeks, their
    mean days, and the mean's relative swing from the week before."""
    stays, _ = _stays(ds)
    stays = stays[(stays["stage"] == NEEDS_CONFIRMED) & stays["days"].notna()]
    owner = stays["opportunity_id"].map(ds.get("opportunities").set_index("opportunity_id")["owner_rep_id"])
    sums = _weekly_sums(owner, _week(stays["left"]), {"days": stays["days"]}, weeks)
    count, days = _trailing(sums["rows"]), _trailing(sums["days"])
    mean = days / count.where(count > 0)
    previous = mean.shift(1, axis=1)
    swing = (mean - previous).abs() / previous.where(previous > 0)
    return pd.concat([_long(count, "nc_stays"), _long(mean, "nc_dwell_days"), _long(swing, "nc_dwell_swing")], axis=1)


def _outbound(acts: pd.DataFrame) -> pd.Series:
    """The rep's own contacts: outbound by direction, or by type where the direction is missing."""
    by_type = ~acts["type"].isin(INBOUND_TYPES)
    if "direction" not in acts.columns:
        return by_type
    return (acts["direction"] == "outbound").fillna(by_type).astype(bool)


def deal_follow_ups(ds: Dataset) -> pd.DataFrame:
    """Every follow-up an open deal made due by the export: after its creation and after each contact, the next
    contact within 7 days (done) unless the deal closed first; owner, due time, done."""
    deals = ds.get("opportunities").set_index("opportunity_id")
    acts = ds.get("activities")
    acts = acts[(acts["entity_type"] == "opportunity") & _outbound(acts)]
    events = pd.concat(
        [
            pd.DataFrame({"deal": deals.index, "at": deals["created_at"].to_numpy()}),
            pd.DataFrame({"deal": acts["entity_id"].to_numpy(), "at": acts["occurred_at"].to_numpy()}),
        ],
        ignore_index=True,
    )
    events = events[events["deal"].isin(deals.index)]
    events["created"] = events["deal"].map(deals["created_at"])
    events["closed"] = events["deal"].map(deals["closed_at"])
    events = events[(events["at"] >= events["created"]) & ~(events["at"] >= events["closed"])]
    events = events.sort_values(["deal", "at"], kind="stable")
    following = events.groupby("deal")["at"].shift(-1)
    due = events["at"] + FOLLOW_UP_DUE
    done = (following <= due) | (events["closed"] <= due)
    keep = due <= ds.manifest.exported_at
    return pd.DataFrame(
        {"rep_id": events["deal"].map(deals["owner_rep_id"]), "due_at": due, "done": done.fillna(False)}
    )[keep]


def action_compliance(leads: pd.DataFrame, follow_ups: pd.DataFrame, weeks: pd.DatetimeIndex) -> pd.DataFrame:
    """Per rep and week: actions due in the trailing weeks (first contacts and deal follow-ups), done in time, and
    the rate (done / due)."""
    due = pd.concat(
        [
            pd.DataFrame(
                {
                    "rep_id": leads["rep_id"],
                    "due_at": leads["created_at"] + FIRST_CONTACT_DUE,
                    "done": leads["contacted_in_time"],
                }
            ),
            follow_ups,
        ],
        ignore_index=True,
    )
    sums = _weekly_sums(due["rep_id"], _week(due["due_at"]), {"done": due["done"]}, weeks)
    due_n, done_n = _trailing(sums["rows"]), _trailing(sums["done"])
    rate = done_n / due_n.where(due_n > 0)
    return pd.concat([_long(due_n, "actions_due"), _long(done_n, "actions_done"), _long(rate, "compliance")], axis=1)


def _skipped(ds: Dataset) -> dict[str, str]:
    """Per metric, why it cannot be computed on this dataset (absent table or column); empty when all can."""
    leads, deals = ds.get("leads"), ds.get("opportunities")
    out = {}
    if not ds.has("activities"):
        out["activation"] = out["compliance"] = "no activities table"
    elif "owner_rep_id" not in leads.columns:
        out["activation"] = "leads have no owner_rep_id"
    if "owner_rep_id" not in deals.columns:
        out["dwell"] = "opportunities have no owner_rep_id"
        out.setdefault("compliance", "opportunities have no owner_rep_id")
    elif not ds.has("stage_changes") or NEEDS_CONFIRMED not in ds.manifest.stage_names():
        out["dwell"] = f"no stage changes into {NEEDS_CONFIRMED!r}"
    return out


def _verdicts(latest: pd.DataFrame) -> pd.DataFrame:
    """The field's verdict on each metric: healthy, watch (neither healthy nor a warning), warning, or empty."""
    activation, before = latest["activation_rate"], latest["activation_rate_before"]
    dwell, swing = latest["nc_dwell_days"], latest["nc_dwell_swing"]
    compliance = latest["compliance"]
    return latest.assign(
        activation_verdict=np.select(
            [
                activation.isna(),
                activation >= ACTIVATION_HEALTHY,
                (activation < ACTIVATION_WARNING) & (before < ACTIVATION_WARNING),
            ],
            ["", "healthy", "warning"],
            "watch",
        ),
        dwell_verdict=np.select(
            [dwell.isna(), dwell <= DWELL_HEALTHY, (dwell > DWELL_WARNING) & (swing > DWELL_SWING_WARNING)],
            ["", "healthy", "warning"],
            "watch",
        ),
        compliance_verdict=np.select([compliance.isna(), compliance >= COMPLIANCE_HEALTHY], ["", "healthy"], "watch"),
    )


def rep_health(ds: Dataset, as_of: object | None = None) -> RepHealth:
    """Each rep's lead activation, needs-confirmed dwell and action compliance per complete week up to ``as_of``
    (default: the export), from what was known then; the latest week's figures with the field's verdicts.

    Activation's latest week is the last whose leads' 7 days are over; the others end with the last complete week.
    """
    if as_of is not None:
        ds = dataset_as_of(ds, to_utc_scalar(as_of))
    at = to_utc_scalar(ds.manifest.exported_at)
    skipped = _skipped(ds)
    first = history_start(ds)
    first = at if first is None else first
    last_end = _week(pd.Series([at]))[0]  # the Monday starting the week that holds ``at`` (still running)
    weeks = pd.date_range(_week(pd.Series([first]))[0], last_end, freq="7D", inclusive="left")
    leads = _lead_responses(ds) if "activation" not in skipped or "compliance" not in skipped else None
    parts = []
    if "activation" not in skipped and leads is not None:
        activation = rep_activation(leads, weeks)
        cohort_over = activation.index.get_level_values("week") + pd.Timedelta(days=14) <= at.tz_convert(None)
        parts.append(activation.where(pd.Series(cohort_over, index=activation.index), axis=0))
    if "dwell" not in skipped:
        parts.append(needs_confirmed_dwell(ds, weeks))
    if "compliance" not in skipped:
        first_contacts = leads[leads["rep_id"].notna()] if leads is not None else leads
        parts.append(action_compliance(first_contacts, deal_follow_ups(ds), weeks))
    weekly = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=pd.MultiIndex.from_arrays([[], []]))
    for column in (
        "new_leads",
        "activation_rate",
        "nc_stays",
        "nc_dwell_days",
        "nc_dwell_swing",
        "actions_due",
        "actions_done",
        "compliance",
    ):
        if column not in weekly.columns:
            weekly[column] = np.nan
    weekly = weekly.rename_axis(["rep_id", "week"]).reset_index()
    notes = [f"{metric} ({why})" for metric, why in skipped.items()]
    return RepHealth(at, weekly, _summary(ds, weekly, weeks), notes)


def _summary(ds: Dataset, weekly: pd.DataFrame, weeks: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per rep with a figure in the last complete week: name and team where known, the figures, verdicts."""
    if not len(weeks):
        return pd.DataFrame()
    by_week = weekly.set_index(["rep_id", "week"])
    cohorts = by_week["activation_rate"].dropna().index.get_level_values("week")
    cohort = cohorts.max() if len(cohorts) else weeks[-1]

    def at_week(week: pd.Timestamp, columns: list[str]) -> pd.DataFrame:
        return by_week[by_week.index.get_level_values("week") == week].droplevel("week")[columns]

    latest = pd.concat(
        [
            at_week(cohort, ["new_leads", "activation_rate"]),
            at_week(cohort - pd.Timedelta(days=7), ["activation_rate"]).add_suffix("_before"),
            at_week(
                weeks[-1], ["nc_stays", "nc_dwell_days", "nc_dwell_swing", "actions_due", "actions_done", "compliance"]
            ),
        ],
        axis=1,
    )
    latest = latest[latest[["activation_rate", "nc_dwell_days", "compliance"]].notna().any(axis=1)]
    reps = ds.get("reps").set_index("rep_id")
    for column in ("name", "team"):
        latest[column] = latest.index.map(reps[column]) if column in reps.columns else pd.NA
    latest = _verdicts(latest).assign(activation_week=cohort, week=weeks[-1])
    return latest.rename_axis("rep_id").reset_index().sort_values(["team", "rep_id"], kind="stable", ignore_index=True)
