"""Leads-only CRM exports shaped like two real ones on which training failed.

A real lead export is often the leads table alone: no reps, accounts, activities or deals. Two such shapes are
made from a normal simulation (``synthesize``) by choosing which leads are exported and when their outcome shows:

- ``growing``: 12 months, lead volume growing 3x, conversions months after creation (so many recent leads are
  still open at the export), and a landing page id with hundreds of values, mildly informative.
- ``regime``: 30 months, a new contact channel taking over part-way, the conversion rate rising from 6% to 25% in
  the latest quarter, monthly economic indicators and a few demographic and campaign-history attributes.

Outcomes are the simulator's (a converted lead stays converted), whatever the export shows yet. Leads are chosen
by month (and, for ``regime``, by outcome) uniformly at random, so the simulator's attributes keep their signal;
each new attribute is drawn from P(value | outcome), so Bayes' rule gives every value a conversion rate of its own.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from rich.table import Table

from features.crm.dataset import Dataset, Manifest, conform, read_dataset, to_utc_scalar, write_dataset
from features.crm.schema import ExtraColumn
from features.errors import DataError
from features.synth.draw import pick_rows
from features.synth.output import TRUTH_DIR, ids
from features.synth.run import synthesize

EXPORT_END = "2025-12-31"  # the simulator's default export date
BASE_PER_LEAD = 3  # leads simulated per lead exported: enough in every month for the share each shape keeps
SHAPE_SEED = 5150  # seeds the reshaping apart from the simulation
TRUTH_FILE = "shape.yaml"
LATE_MONTHS = 3  # the latest quarter
DAY_S = 86_400

GROWTH = 3.0  # growing: the last month's lead volume over the first's
GROWING_RATE = 0.1  # growing: conversion within the window, in every month

PAGES = 500  # growing: landing pages; page k (by popularity) has a share of 1 / (k + PAGE_OFFSET)
PAGE_OFFSET = 2
PAGE_LIFT_SD = 0.6  # log-odds: how far a page's conversion strays from the rest

EARLY_RATE, LATE_RATE = 0.06, 0.25  # regime: conversion before and in the latest quarter
CHANGE_SHARE = 0.6  # regime: the contact channel's mix changes this far through the months
CHANNELS = ("telephone", "cellular")
CHANNEL_SHARES = np.array([[0.97, 0.03], [0.25, 0.75]])  # before, after the change
CHANNEL_LIFT = np.array([0.0, 0.5])  # log-odds lift of each value among converted leads
JOBS = ("admin", "blue-collar", "technician", "services", "management", "retired", "self-employed", "student")
JOB_SHARES = np.array([0.25, 0.22, 0.16, 0.1, 0.07, 0.05, 0.1, 0.05])
JOB_LIFT = np.array([0.0, -0.4, -0.1, -0.3, 0.1, 0.7, 0.0, 0.8])
EDUCATIONS = ("basic", "high_school", "professional_course", "university_degree")
EDUCATION_SHARES = np.array([0.3, 0.23, 0.13, 0.34])
EDUCATION_LIFT = np.array([-0.2, 0.0, 0.0, 0.2])
AGE_MEAN, AGE_SD = 41.0, (10.0, 14.0)  # lost, converted: the young and the old convert more
AGE_RANGE = (18.0, 90.0)
PREVIOUS_RATE = np.array([0.15, 0.45])  # contacts in earlier campaigns: lost, converted
PREVIOUS_OUTCOMES = ("nonexistent", "failure", "success")
PREVIOUS_SUCCESS = np.array([0.2, 0.5])  # an earlier campaign's success among leads contacted before
#: Economic indicators: value in the first month and the SD of each month's step (one value a month for all leads).
INDICATORS = {
    "employment_variation": (1.1, 0.25),
    "consumer_price_index": (93.6, 0.15),
    "consumer_confidence": (-40.0, 1.2),
    "interest_rate_3m": (4.8, 0.2),
    "employed_thousands": (5195.0, 12.0),
}

Rows = Callable[[np.random.Generator, np.ndarray, np.ndarray, int, int], np.ndarray]
Attributes = Callable[[np.random.Generator, np.ndarray, np.ndarray, np.ndarray], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Delay:
    """Days from creation to conversion, as quantiles (log-linear in between); the last is the export's window: a
    lead not converted by then counts as lost and is disqualified then."""

    quantiles: tuple[float, ...]
    days: tuple[float, ...]

    @property
    def window(self) -> float:
        return self.days[-1]

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.exp(np.interp(rng.random(n), self.quantiles, np.log(self.days)))


def _apportion(n: int, weights: np.ndarray) -> np.ndarray:
    """``n`` split in proportion to ``weights`` in whole numbers (largest remainders first)."""
    exact = n * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(counts - exact, kind="stable")[: n - counts.sum()]] += 1
    return counts


def _pick(rng: np.random.Generator, group: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``counts[g]`` rows drawn uniformly from each group ``g`` (rows of group -1 are never drawn)."""
    chosen = []
    for g, count in enumerate(counts):
        rows = np.flatnonzero(group == g)
        if len(rows) < count:
            raise DataError(f"the simulated CRM is too small for this shape: {count} leads needed, {len(rows)} there")
        chosen.append(rng.choice(rows, count, replace=False))
    return np.sort(np.concatenate(chosen))


def _by_outcome(
    rng: np.random.Generator, month: np.ndarray, label: np.ndarray, volume: np.ndarray, rate: np.ndarray
) -> np.ndarray:
    """``volume[m]`` leads of month ``m``, a Binomial(volume, rate) of them converted: converted and lost leads are
    each drawn at random, so every attribute keeps its signal (its odds ratios) whatever the rate."""
    positives = rng.binomial(volume, rate)
    group = np.where(month >= 0, 2 * month + label, -1)
    return _pick(rng, group, np.column_stack([volume - positives, positives]).ravel())


def _growing_rows(rng: np.random.Generator, month: np.ndarray, label: np.ndarray, months: int, n: int) -> np.ndarray:
    """Leads per month growing GROWTH-fold from the first month to the last, converting at GROWING_RATE in each."""
    volume = _apportion(n, GROWTH ** (np.arange(months) / (months - 1)))
    return _by_outcome(rng, month, label, volume, np.full(months, GROWING_RATE))


def _regime_rows(rng: np.random.Generator, month: np.ndarray, label: np.ndarray, months: int, n: int) -> np.ndarray:
    """Each month's volume as simulated, converting at EARLY_RATE, and at LATE_RATE in the latest quarter."""
    volume = _apportion(n, np.bincount(month[month >= 0], minlength=months).astype(float))
    return _by_outcome(
        rng, month, label, volume, np.where(np.arange(months) >= months - LATE_MONTHS, LATE_RATE, EARLY_RATE)
    )


def _given_outcome(rng: np.random.Generator, shares: np.ndarray, lift: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Codes drawn from P(value | outcome): ``shares`` (one row, or one per lead) among lost leads, each value's
    share raised by exp(lift) among converted ones."""
    rows = np.broadcast_to(shares, (len(label), len(lift)))
    return pick_rows(rng, rows * np.exp(np.outer(label, lift)))


def _growing_attributes(
    rng: np.random.Generator, label: np.ndarray, month: np.ndarray, changed: np.ndarray
) -> dict[str, np.ndarray]:
    """A landing page per lead: Zipf-like popularity, each page with a latent conversion lift of its own; page ids
    are shuffled, so they say nothing of popularity."""
    shares = 1 / (np.arange(PAGES) + PAGE_OFFSET)
    lift = PAGE_LIFT_SD * rng.standard_normal(PAGES)
    names = np.array([f"lp-{page:04d}" for page in rng.permutation(PAGES) + 1])
    return {"landing_page": names[_given_outcome(rng, shares, lift, label)]}


def _regime_attributes(
    rng: np.random.Generator, label: np.ndarray, month: np.ndarray, changed: np.ndarray
) -> dict[str, np.ndarray]:
    """Demographics, the contact channel (its mix changes with ``changed``), earlier campaigns and the month's
    economic indicators; all but the indicators drawn given the outcome."""
    n = len(label)
    age = AGE_MEAN + np.array(AGE_SD)[label] * rng.standard_normal(n)
    previous = rng.poisson(PREVIOUS_RATE[label])
    success = rng.random(n) < PREVIOUS_SUCCESS[label]
    previous_outcome = np.where(previous == 0, 0, np.where(success, 2, 1))
    steps = rng.standard_normal((month.max() + 1, len(INDICATORS)))
    starts, sds = (np.array(values) for values in zip(*INDICATORS.values(), strict=True))
    walks = starts + np.vstack([np.zeros(len(INDICATORS)), np.cumsum(steps[1:] * sds, axis=0)])
    return {
        "age": np.round(np.clip(age, *AGE_RANGE)),
        "job": np.array(JOBS)[_given_outcome(rng, JOB_SHARES, JOB_LIFT, label)],
        "education": np.array(EDUCATIONS)[_given_outcome(rng, EDUCATION_SHARES, EDUCATION_LIFT, label)],
        "contact_channel": np.array(CHANNELS)[
            _given_outcome(rng, CHANNEL_SHARES[changed.astype(np.int64)], CHANNEL_LIFT, label)
        ],
        "previous_contacts": previous.astype(float),
        "previous_outcome": np.array(PREVIOUS_OUTCOMES)[previous_outcome],
        **{name: np.round(walks[month, i], 3) for i, name in enumerate(INDICATORS)},
    }


@dataclass(frozen=True)
class Shape:
    """What one real export looked like, and how a simulated CRM is made to look like it."""

    months: int
    leads: int  # the real export's size
    delay: Delay
    columns: tuple[str, ...]  # the simulator's lead attributes the export keeps
    rows: Rows  # which simulated leads are exported
    attributes: Attributes  # extra attributes the export adds
    change_share: float | None = None  # how far through the months the attributes' mix changes


SHAPES: dict[str, Shape] = {
    "growing": Shape(
        months=12,
        leads=8_000,
        delay=Delay((0.0, 0.1, 0.5, 0.9, 1.0), (2.0, 12.0, 50.0, 125.0, 160.0)),
        columns=("source",),
        rows=_growing_rows,
        attributes=_growing_attributes,
    ),
    "regime": Shape(
        months=30,
        leads=41_000,
        delay=Delay((0.0, 0.5, 0.9, 1.0), (0.5, 4.0, 14.0, 30.0)),
        columns=("source", "region", "industry", "company_size"),
        rows=_regime_rows,
        attributes=_regime_attributes,
        change_share=CHANGE_SHARE,
    ),
}


def _spec(name: str) -> Shape:
    """The shape called ``name``; an unknown name is the user's error (one line, exit 2)."""
    if name not in SHAPES:
        raise DataError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")
    return SHAPES[name]


@dataclass(frozen=True)
class ShapeResult:
    """A written shape and what it shows, for the command's summary."""

    out: Path
    shape: str
    figures: dict[str, object]  # what the export shows (``_measure``) and what was planted
    seconds: float

    def summary_table(self) -> Table:
        f = self.figures
        table = Table(title=f"Leads-only export shaped '{self.shape}' in {self.out} ({self.seconds:.1f} s)")
        table.add_column("what")
        table.add_column("value", justify="right")
        table.add_row("leads / months", f"{f['leads']:,} / {f['months']}")
        table.add_row("leads in the first / last month", f"{f['first_month_leads']:,} / {f['last_month_leads']:,}")
        table.add_row(
            "conversion before / in the latest quarter (shown)",
            f"{f['conversion_before_late']:.1%} / {f['conversion_late']:.1%}",
        )
        table.add_row("days to convert p50 / p90 (window complete)", f"{f['delay_p50']:.0f} / {f['delay_p90']:.0f}")
        if "change_at" in f:
            table.add_row("contact channel changes at", str(f["change_at"]))
        table.add_row("ground truth", f"{self.out / TRUTH_DIR / TRUTH_FILE} (never read it in features or training)")
        return table


def synthesize_shape(
    out: Path, shape: str, leads: int | None = None, seed: int = 0, end: str = EXPORT_END
) -> ShapeResult:
    """Simulate a full CRM over the shape's months before ``end`` (BASE_PER_LEAD times the leads, in a scratch
    directory) and reshape it into a leads-only export of ``leads`` leads (default: the real export's size)."""
    began = time.perf_counter()
    spec = _spec(shape)
    n = spec.leads if leads is None else leads
    start = _first_month(to_utc_scalar(end), spec.months)
    with tempfile.TemporaryDirectory(prefix="salesml-shape-") as scratch:
        base = Path(scratch) / "crm"
        synthesize(base, leads=n * BASE_PER_LEAD, seed=seed, start=start.isoformat(), end=end)
        figures = reshape(base, Path(out), shape, n, seed)
    return ShapeResult(Path(out), shape, figures, time.perf_counter() - began)


def reshape(base: Path, out: Path, shape: str, leads: int, seed: int) -> dict[str, object]:
    """Write to ``out`` a leads-only export of ``leads`` leads from the simulated CRM in ``base`` (created in the
    shape's months before its export); returns the figures also kept in ``out/_truth/shape.yaml``."""
    spec = _spec(shape)
    if leads < 1:
        raise DataError(f"--leads must be at least 1, got {leads}")
    ds = read_dataset(base, tables=("leads",))
    exported = ds.manifest.exported_at
    start = _first_month(exported, spec.months)
    simulated = _with_outcomes(base, ds.get("leads"))
    month = _months_since(simulated["created_at"], start)
    month = np.where(month < spec.months, month, -1)
    label = simulated["converted_drawn"].to_numpy(dtype=np.int64)
    rng = np.random.default_rng([seed, SHAPE_SEED])
    rows = spec.rows(rng, month, label, spec.months, leads)
    kept = simulated.iloc[rows].sort_values("created_at", kind="stable").reset_index(drop=True)
    label, month = kept["converted_drawn"].to_numpy(dtype=np.int64), _months_since(kept["created_at"], start)
    change = round(spec.change_share * spec.months) if spec.change_share is not None else spec.months
    shown_until = exported + pd.Timedelta(days=spec.delay.window)  # as the real ones: every lead's window closed
    converted_at, disqualified_at = _outcome_times(rng, kept["created_at"], label.astype(bool), spec.delay, shown_until)
    extras = spec.attributes(rng, label, month, month >= change)
    frame = pd.DataFrame(
        {
            "lead_id": ids("L", np.arange(len(kept))).to_pandas(),
            "created_at": kept["created_at"],
            **{column: kept[column] for column in spec.columns},
            "converted_at": converted_at,
            "disqualified_at": disqualified_at,
            **extras,
        }
    )
    declared = [
        ExtraColumn(name, "numeric" if values.dtype.kind == "f" else "categorical") for name, values in extras.items()
    ]
    manifest = Manifest(
        source=f"salesml-synth-{shape}",
        exported_at=shown_until,
        extra_columns={"leads": declared},
        notes=[
            f"leads-only export shaped '{shape}' from a simulated CRM (seed {seed}): no reps, accounts, "
            "activities or deals",
            f"a lead not converted within {spec.delay.window:.0f} days of creation is disqualified then; "
            "exported once the last lead's window closed, so every outcome is known",
            f"planted figures are in {TRUTH_DIR}/{TRUTH_FILE}: never read it in features or training",
        ],
    )
    write_dataset(Dataset(manifest, {"leads": conform("leads", frame, declared)}), out)
    figures = _measure(frame, exported, spec) | _planted(label, month, spec, start, change)
    truth = out / TRUTH_DIR
    shutil.rmtree(truth, ignore_errors=True)  # a full simulation's truth written here before is not this data's
    truth.mkdir()
    (truth / TRUTH_FILE).write_text(yaml.safe_dump({"shape": shape, **figures}, sort_keys=False), encoding="utf-8")
    return figures


def _with_outcomes(base: Path, leads: pd.DataFrame) -> pd.DataFrame:
    """The simulated leads with their drawn outcome (known even while open); planted duplicates have none and go."""
    path = base / TRUTH_DIR / "leads.parquet"
    if not path.exists():
        raise DataError(f"{path}: missing; a shape is made from a simulated CRM (salesml data synth), with its truth")
    truth = pd.read_parquet(path, columns=["lead_id", "converted_drawn"])
    truth["lead_id"] = truth["lead_id"].astype(leads["lead_id"].dtype)
    return leads.merge(truth, on="lead_id", how="inner", validate="one_to_one")


def _first_month(exported: pd.Timestamp, months: int) -> pd.Timestamp:
    """The start of a shape's first month: ``months`` calendar months end with the one the export falls in (or
    ends, when it is exported at midnight on the first)."""
    return _month_start(exported - pd.Timedelta(seconds=1), 1 - months)


def _month_start(at: pd.Timestamp, months: int) -> pd.Timestamp:
    """The first instant of the month ``months`` after the one holding ``at`` (UTC)."""
    first = at.tz_convert("UTC").tz_localize(None).to_period("M").to_timestamp()
    return (first + pd.DateOffset(months=months)).tz_localize("UTC")


def _months_since(created: pd.Series, start: pd.Timestamp) -> np.ndarray:
    """Calendar months (UTC) from ``start``'s month; -1 before it."""
    month = created.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[M]").astype(np.int64)
    since = month - np.datetime64(start.tz_localize(None), "M").astype(np.int64)
    return np.where(since >= 0, since, -1)


def _outcome_times(
    rng: np.random.Generator, created: pd.Series, converted: np.ndarray, delay: Delay, exported: pd.Timestamp
) -> tuple[pd.Series, pd.Series]:
    """Converted leads convert after a drawn delay, the others are disqualified when the window closes (no earlier:
    an early end would tell the outcome); what falls after the export is not shown (the lead is still open)."""
    days = np.where(converted, delay.draw(rng, len(converted)), delay.window)
    at = created + pd.to_timedelta(np.round(days * DAY_S), unit="s")
    at = at.where(at <= exported)
    return at.where(converted), at.where(~converted)


def _measure(leads: pd.DataFrame, exported: pd.Timestamp, spec: Shape) -> dict[str, object]:
    """What the export shows: monthly volume, the conversion it shows before and in the latest quarter, and the
    delays of conversions among leads whose whole window lies before the export."""
    month = _months_since(leads["created_at"], _first_month(exported, spec.months))
    volume = np.bincount(month, minlength=spec.months)
    late = month >= spec.months - LATE_MONTHS
    converted = leads["converted_at"].notna().to_numpy()
    complete = (leads["created_at"] <= exported - pd.Timedelta(days=spec.delay.window)).to_numpy()
    delays = ((leads["converted_at"] - leads["created_at"]).dt.total_seconds() / DAY_S).to_numpy()[converted & complete]
    return {
        "leads": len(leads),
        "months": int((volume > 0).sum()),
        "first_month_leads": int(volume[0]),
        "last_month_leads": int(volume[-1]),
        "conversion_before_late": float(converted[~late].mean()),
        "conversion_late": float(converted[late].mean()),
        "delay_p50": float(np.quantile(delays, 0.5)) if len(delays) else float("nan"),
        "delay_p90": float(np.quantile(delays, 0.9)) if len(delays) else float("nan"),
    }


def _planted(label: np.ndarray, month: np.ndarray, spec: Shape, start: pd.Timestamp, change: int) -> dict[str, object]:
    """The outcomes as drawn (shown or not yet) before and in the latest quarter, and when the mix changes."""
    late = month >= spec.months - LATE_MONTHS
    figures: dict[str, object] = {
        "late_from": _month_start(start, spec.months - LATE_MONTHS).isoformat(),
        "drawn_conversion_before_late": float(label[~late].mean()),
        "drawn_conversion_late": float(label[late].mean()),
        "window_days": spec.delay.window,
    }
    if spec.change_share is not None:
        figures["change_at"] = _month_start(start, change).isoformat()
    return figures
