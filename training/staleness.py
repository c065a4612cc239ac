"""How fast a model goes stale: one registered version judged month by month on later data.

The rows are the ones training would make of the same export (the spec's snapshots, features as of each cutoff,
labels by the version's own label rule), kept when their label is known by the export; each calendar month of
cutoffs is scored with the version and graded by ROC AUC, calibration error and lift. Months are counted from the
month of the version's last training cutoff (``trained_until``): month 0 overlaps its training data, later months
are what it meets in service.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.crm.dataset import Dataset, option_period, read_dataset, to_utc_scalar
from features.errors import DataError
from features.pit.build import build_features
from features.pit.frames import label_known_at
from features.scoring.metrics import binary_metrics
from features.scoring.pyfunc import CHAMPION, load_registered, load_version
from features.scoring.scorer import Scorer
from training.data import label_horizon_days, resolve_horizon, snapshot_frame
from training.spec import ModelSpec, load_spec


@dataclass(frozen=True)
class MonthQuality:
    """One month of cutoffs: how many labelled rows, how many positive, and how well the version did on them."""

    month: str  # YYYY-MM
    months_since_training: int
    n: int
    positives: int
    roc_auc: float
    ece: float
    lift_top_decile: float


@dataclass(frozen=True)
class Staleness:
    model: str
    version: str
    trained_until: str
    label: str
    months: list[MonthQuality]

    def as_dict(self) -> dict[str, object]:
        """Plain JSON: NaN (a month with one class or none) becomes null."""
        out = asdict(self)
        out["months"] = [
            {k: None if isinstance(v, float) and not np.isfinite(v) else v for k, v in row.items()}
            for row in out["months"]
        ]
        return out


def evaluate_version(model: str, data: Path, start: str, end: str, version: str | None = None) -> Staleness:
    """Score the cutoffs of each calendar month from ``start``'s to ``end``'s with ``version`` of ``model``
    (default: the champion) and grade each month against the labels training would give those rows."""
    first, last = _month_range(start, end)
    if version is None:
        scorer, version = load_registered(model, CHAMPION)
    else:
        scorer = load_version(model, version)
    ds = read_dataset(data)
    if not ds.manifest.has_event_times:
        raise DataError(f"{data}: the dataset has no event times, so it has no months to evaluate")
    spec = _as_trained(load_spec(scorer.model_name)[0], scorer, ds)
    frame = snapshot_frame(spec, ds)
    cutoff = frame["cutoff_time"]
    settled = label_known_at(ds, spec.entity, frame, label_horizon_days(spec)) <= to_utc_scalar(ds.manifest.exported_at)
    keep = frame[spec.label].notna() & settled & (cutoff >= first) & (cutoff < last)
    rows = frame[keep.to_numpy(dtype=bool)].reset_index(drop=True)
    if rows.empty:
        raise DataError(
            f"no {spec.entity} snapshot between {start} and {end} has a label known by the export "
            f"({to_utc_scalar(ds.manifest.exported_at):%Y-%m-%d}); choose earlier months"
        )
    x, _ = scorer.encode(build_features(ds, spec.entity, rows))
    probability = scorer.probability(x)
    trained_until = str(scorer.metadata.get("trained_until") or scorer.metadata["data_window"][1])
    months = _monthly(rows, probability, spec.label, first, last, _month(to_utc_scalar(trained_until)))
    return Staleness(model, version, trained_until, spec.label, months)


def _as_trained(spec: ModelSpec, scorer: Scorer, ds: Dataset) -> ModelSpec:
    """The spec with the label horizon the version was trained with (a lead horizon derived from the training
    export would come out differently from a later one)."""
    horizon = scorer.metadata.get("horizon_days")
    if spec.entity == "lead" and horizon is not None:
        return spec.model_copy(update={"horizon_days": int(horizon)})
    return resolve_horizon(spec, ds)[0]


def _month_range(start: str, end: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first instant of ``start``'s month and of the month after ``end``'s (UTC)."""
    first, last = option_period(start, end)
    return _month_start(first), _month_start(last) + pd.DateOffset(months=1)


def _month_start(at: pd.Timestamp) -> pd.Timestamp:
    return at.tz_convert("UTC").tz_localize(None).to_period("M").to_timestamp().tz_localize("UTC")


def _month(at: pd.Timestamp) -> int:
    """Months since 1970-01 (UTC), to count months between two times."""
    return int(np.datetime64(at.tz_convert("UTC").tz_localize(None), "M").astype(np.int64))


def _monthly(
    rows: pd.DataFrame, probability: np.ndarray, label: str, first: pd.Timestamp, last: pd.Timestamp, trained: int
) -> list[MonthQuality]:
    """Every month from ``first`` up to ``last``, those without rows too (n 0): a gap is worth seeing."""
    month = rows["cutoff_time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[M]")
    y = rows[label].astype(int).to_numpy()
    out = []
    for start in pd.date_range(first, last, freq="MS", inclusive="left"):
        index = _month(start)
        member = month.astype(np.int64) == index
        metrics = binary_metrics(y[member], probability[member]) if member.any() else {}
        out.append(
            MonthQuality(
                month=f"{start:%Y-%m}",
                months_since_training=index - trained,
                n=int(member.sum()),
                positives=int(y[member].sum()),
                roc_auc=metrics.get("roc_auc", float("nan")),
                ece=metrics.get("ece", float("nan")),
                lift_top_decile=metrics.get("lift_top_decile", float("nan")),
            )
        )
    return out
