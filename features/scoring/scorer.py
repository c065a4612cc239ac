"""A trained model as it is applied: features -> LightGBM -> calibration -> score, grade and key factors.

Training evaluates with this class and serving answers requests with it, so both apply one code path. It is
saved as a directory (``booster.txt`` + ``scorer.json``) and logged to MLflow as a pyfunc model wrapping it.

- probability: the calibrated probability of the label within the model's horizon.
- score (0-100): the percentile of that probability among the reference population at training time, so the
  fixed grade thresholds keep their meaning (A at score >= 85 is the top 15% by default).
- factors: the model's exact SHAP contributions (``pred_contrib``) in log-odds, summed per key factor (the features
  that express one driver), and each factor's effect on the calibrated probability: the probability's change from
  the base (the calibrated probability at the model's expected margin, a typical lead or deal) shared out in
  proportion to the contributions, so that the base and every factor's effect add up to the probability.
- time windows (``p_{N}d``, when the spec asks for heads): the calibrated probability of the label within N days,
  capped so that a shorter window never exceeds a longer one nor the main probability; ``expected_days`` is
  the median time to the event given that it happens, read off those windows (a deal's expected close).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa

from features.crm.blocks import frame_of
from features.messages import Locale
from features.scoring.blend import Model, load_model, model_kind, save_model
from features.scoring.explanations import Factors, probability_per_log_odds, top_factors
from features.scoring.inputs import InputFeature, encode_inputs, encode_matrix

REFERENCE_POINTS = 1001
SCORER_FILE = "scorer.json"
TRAINING_REFERENCE_FILE = "training_reference.parquet"
#: Training rows kept as the reference that monitoring measures drift against.
TRAINING_REFERENCE_ROWS = 5_000
#: The text dtype pandas gives a column of strings: the grades' in a scores frame.
TEXT_DTYPE = pd.StringDtype("pyarrow", na_value=np.nan)


@dataclass
class Calibrator:
    """Maps LightGBM's raw log-odds to a calibrated probability (isotonic steps or Platt's sigmoid)."""

    kind: Literal["isotonic", "sigmoid", "none"]  # none: the model's own probability (a = 1, b = 0)
    x: list[float] = field(default_factory=list)  # isotonic knots (log-odds) ...
    y: list[float] = field(default_factory=list)  # ... and their probabilities
    a: float = 1.0  # sigmoid: p = 1 / (1 + exp(-(a * margin + b)))
    b: float = 0.0

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        if self.kind == "isotonic":
            return np.interp(margin, self.x, self.y)
        return 1.0 / (1.0 + np.exp(-(self.a * margin + self.b)))


@dataclass
class Head:
    """A time-window head: the calibrated probability of the label within ``days`` (won within 30 days, ...),
    trained on the same inputs as the main model."""

    days: int
    booster: lgb.Booster
    calibrator: Calibrator

    def probability(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        return np.clip(self.calibrator(self.booster.predict(x, raw_score=True)), 0.0, 1.0)


def consistent_windows(probability: np.ndarray, windows: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
    """Window probabilities capped so that p_30d <= p_60d <= ... <= probability (winning within 30 days implies
    winning within 60 and winning at all); the main probability is left as it is."""
    out, cap = {}, probability
    for days in sorted(windows, reverse=True):
        cap = out[days] = np.minimum(windows[days], cap)
    return dict(sorted(out.items()))


def expected_days(probability: np.ndarray, windows: dict[int, np.ndarray]) -> np.ndarray:
    """Days until the label event (a deal's close as won), as the median given that it happens: where the
    cumulative curve through (0, 0) and the consistent windows reaches half the probability, linearly between
    windows. NaN when that lies past the longest window (or the probability is 0)."""
    days = np.array([0, *sorted(windows)], dtype=float)
    curve = np.column_stack([np.zeros_like(probability), *(windows[d] for d in sorted(windows))])
    half = probability / 2
    reached = curve >= half[:, None]
    reached[:, 0] = False  # the curve starts at 0: a positive half is reached after day 0
    first = np.argmax(reached, axis=1)
    before = np.maximum(first - 1, 0)
    found = reached.any(axis=1) & (probability > 0)
    rows = np.arange(len(probability))
    lo, hi = curve[rows, before], curve[rows, first]
    rise = hi - lo
    share = np.divide(half - lo, rise, out=np.ones_like(half), where=rise > 0)
    return np.where(found, days[before] + share * (days[first] - days[before]), np.nan)


@dataclass
class Scorer:
    """Everything needed to score: inputs, trees, calibration, reference population, grade thresholds."""

    model_name: str
    entity: str
    inputs: list[InputFeature]
    booster: Model  # the trees, a logistic / naive-Bayes model or a blend, all with LightGBM's predict interface
    calibrator: Calibrator
    reference: np.ndarray  # calibrated probabilities at REFERENCE_POINTS quantiles of the reference population
    grades: dict[str, float]  # {"A": 85, "B": 60}
    metadata: dict[str, Any] = field(default_factory=dict)
    heads: list[Head] = field(default_factory=list)  # time windows (deals: won within 30/60/90 days)
    training_reference: pd.DataFrame | None = None  # a sample of training inputs and their out-of-fold probability

    @cached_property
    def factors(self) -> Factors:
        """The inputs grouped into key factors, with their names (for explanations)."""
        return Factors.of(self.inputs)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.inputs]

    @property
    def model_kind(self) -> str:
        """``lightgbm``, ``logistic``, ``naive_bayes`` or ``blend``."""
        return model_kind(self.booster)

    def encode(self, table: pd.DataFrame) -> tuple[pd.DataFrame, list[list[str]]]:
        """The model's input frame, and per row the warnings (unseen categories, missing columns)."""
        return encode_inputs(self.inputs, table)

    def margin(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        return self.booster.predict(x, raw_score=True)

    def probability(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        return np.clip(self.calibrator(self.margin(x)), 0.0, 1.0)

    def score(self, probability: np.ndarray) -> np.ndarray:
        """Percentile (0-100) of each probability among the reference population."""
        below = np.searchsorted(self.reference, probability, side="left")
        return np.floor(100.0 * below / len(self.reference)).clip(0, 100).astype(int)

    def grade(self, score: np.ndarray) -> np.ndarray:
        return np.where(score >= self.grades["A"], "A", np.where(score >= self.grades["B"], "B", "C"))

    def predict(self, table: pd.DataFrame) -> pd.DataFrame:
        """probability, score and grade per row of a feature table."""
        x, _ = encode_matrix(self.inputs, table)
        return _scores_frame(self._scores(self.margin(x), x), len(table))

    def _scores(self, margin: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
        """probability, score, grade, and ``p_{days}d`` per time-window head."""
        p = np.clip(self.calibrator(margin), 0.0, 1.0)
        s = self.score(p)
        windows = self.windows(x, p)
        timing = {f"p_{d}d": w for d, w in windows.items()}
        if windows:
            timing["expected_days"] = expected_days(p, windows)
        return {"probability": p, "score": s, "grade": self.grade(s), **timing}

    def windows(self, x: pd.DataFrame | np.ndarray, probability: np.ndarray) -> dict[int, np.ndarray]:
        """Per time-window head (days), its probabilities made consistent with each other and ``probability``."""
        return consistent_windows(probability, {head.days: head.probability(x) for head in self.heads})

    def contributions(self, x: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact tree SHAP in log-odds: per-feature (rows x inputs), per-factor sums (rows x factors), and
        the factor keys (columns of the sums)."""
        raw, _, _ = self._shap(x)
        return raw, self.factors.sums(raw), self.factors.keys

    def _shap(self, x: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-feature contributions, the margin they sum to with the bias, and the bias: the model's expected
        margin, the last column (one pass over the model for all three)."""
        full = self.booster.predict(x, pred_contrib=True)
        return full[:, :-1], full.sum(axis=1), full[:, -1]

    def predict_with_factors(
        self, table: pd.DataFrame, top: int = 5, locale: Locale = "zh-CN"
    ) -> tuple[pd.DataFrame, list[dict[str, list]]]:
        """Scores and key factors for every row of a feature table, in one pass over the model.

        ``predict`` and ``explain`` at once (the margin is the sum of the SHAP values). Batch scoring
        (``salesml score``) and the service call it on ``build_features`` output. A row's answer does not depend
        on the rows scored with it. The effects add up: ``base_probability`` + the listed factors'
        ``delta_probability`` + ``other_effect`` = ``probability``.

        Args:
            table: A feature table (``build_features``), one row per entity and cutoff, in any column order; other
                columns are ignored. An input column that is missing is scored as missing, and an unseen category
                as the pooled rare level, each with a warning on its row.
            top: The most factors listed each way (raising and lowering the probability) per row. A factor whose
                effect would show as 0.0% (under ``explanations.MIN_EFFECT``) is not listed; its effect is in
                ``other_effect``.
            locale: ``"zh-CN"`` or ``"en"``: the language of the factors' and features' display names.

        Returns:
            ``(scores, reasons)``, both in ``table``'s row order.

            ``scores``: a DataFrame with a fresh ``RangeIndex`` and the columns ``probability`` (calibrated, of the
            label within the model's horizon), ``score`` (0-100: its percentile in the reference population),
            ``grade`` (A, B or C by the spec's thresholds), ``p_{N}d`` per time-window head and ``expected_days``
            (models with window heads: deals), ``base_probability`` (a typical lead's or deal's: the calibrated
            probability at the model's expected margin), ``other_effect`` (the summed effect of the factors not
            listed) and ``warnings`` (a list of strings per row).

            ``reasons``: per row, a dict ``{"positive": [...], "negative": [...]}`` of
            ``explanations.FactorEffect``, strongest first: the factor, its display name, the input that weighed
            most within it and that input's value, the summed SHAP ``contribution`` in log-odds and
            ``delta_probability``.

        Raises:
            Nothing for bad values: a number that cannot be read is missing; a missing column or an unseen
            category is scored with a warning on its row. Ids and times are checked before, by
            ``build_features`` and the service's request models.

        Example:
            With ``table = build_features(ds, "lead", frame)`` (as in its example) for leads L00000001 and
            L00000002 at 2024-01-02T00:00:00Z, and a lead_score model trained on the same data:

            >>> from training.registry import load_scorer
            >>> scorer, version = load_scorer("lead_score")  # doctest: +SKIP
            >>> scores, reasons = scorer.predict_with_factors(table, top=3, locale="en")  # doctest: +SKIP
            >>> scores.round(3).loc[:0, ["probability", "score", "grade"]].to_dict("records")  # doctest: +SKIP
            [{'probability': 0.089, 'score': 61, 'grade': 'B'}]
            >>> reasons[0]["positive"][0].text("en")  # doctest: +SKIP
            "Rep's track record: Rep's lead conversion from this source (smoothed) = 0.5 (+2.6%)"
        """
        x, warnings = encode_matrix(self.inputs, table)
        raw, margin, bias = self._shap(x)
        scores = self._scores(margin, x)
        base = np.clip(self.calibrator(bias), 0.0, 1.0)
        change = scores["probability"] - base
        scale = probability_per_log_odds(margin - bias, change)
        reasons, listed = top_factors(self.factors, x, table, raw, scale, top, locale)
        columns = {**scores, "base_probability": base, "other_effect": change - listed, "warnings": warnings}
        return _scores_frame(columns, len(table)), reasons

    def explain(self, table: pd.DataFrame, top: int = 5, locale: Locale = "zh-CN") -> list[dict[str, list]]:
        """Per row: up to ``top`` factors raising and lowering the prediction, in the locale's words."""
        return self.predict_with_factors(table, top, locale)[1]

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        save_model(self.booster, directory)
        for head in self.heads:
            head.booster.save_model(str(directory / f"head_{head.days}d.txt"))
        state = {
            "model_name": self.model_name,
            "entity": self.entity,
            "inputs": [asdict(f) for f in self.inputs],
            "calibrator": asdict(self.calibrator),
            "reference": self.reference.tolist(),
            "grades": self.grades,
            "metadata": self.metadata,
            "heads": [{"days": h.days, "calibrator": asdict(h.calibrator)} for h in self.heads],
        }
        (directory / SCORER_FILE).write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        if self.training_reference is not None:
            self.training_reference.to_parquet(directory / TRAINING_REFERENCE_FILE, index=False)
        return directory

    @classmethod
    def load(cls, directory: Path) -> Scorer:
        state = json.loads((directory / SCORER_FILE).read_text(encoding="utf-8"))
        return cls(
            model_name=state["model_name"],
            entity=state["entity"],
            inputs=[InputFeature(**f) for f in state["inputs"]],
            booster=load_model(directory),
            calibrator=Calibrator(**state["calibrator"]),
            reference=np.asarray(state["reference"], dtype=float),
            grades=state["grades"],
            metadata=state["metadata"],
            heads=[
                Head(
                    h["days"],
                    lgb.Booster(model_file=str(directory / f"head_{h['days']}d.txt")),
                    Calibrator(**h["calibrator"]),
                )
                for h in state.get("heads", [])
            ],
            training_reference=(
                pd.read_parquet(directory / TRAINING_REFERENCE_FILE)
                if (directory / TRAINING_REFERENCE_FILE).exists()
                else None
            ),
        )


def training_reference(table: pd.DataFrame, scorer: Scorer, seed: int) -> pd.DataFrame:
    """Up to TRAINING_REFERENCE_ROWS training rows' inputs and cutoff time, with ``scorer``'s probability of each:
    what the model learned from and how it scores it, to tell later inputs and scores that have moved away."""
    rows = pd.DataFrame(table[[*scorer.feature_names, "cutoff_time"]]).reset_index(drop=True)
    if len(rows) > TRAINING_REFERENCE_ROWS:
        rows = rows.sample(TRAINING_REFERENCE_ROWS, random_state=seed).reset_index(drop=True)
    return rows.assign(probability=scorer.predict(rows)["probability"].to_numpy())


def reference_quantiles(probabilities: np.ndarray) -> np.ndarray:
    """The reference population, compressed to REFERENCE_POINTS quantiles (enough for integer percentiles)."""
    return np.quantile(probabilities, np.linspace(0.0, 1.0, REFERENCE_POINTS))


def _scores_frame(columns: dict[str, np.ndarray | list[list[str]]], rows: int) -> pd.DataFrame:
    """The scores' columns as a frame, as the dict constructor makes it (grades as text, one list of warnings per
    row) at a third of its cost, which exceeds the scoring of a request's one row."""
    arrays: list[Any] = []
    for values in columns.values():
        if isinstance(values, list):  # the warnings: each row's list, as it is
            listed = np.empty(rows, dtype=object)
            for i, row in enumerate(values):
                listed[i] = row
            arrays.append(listed)
        elif values.dtype.kind == "U":  # the grades
            arrays.append(TEXT_DTYPE.__from_arrow__(pa.array(values.tolist(), type=pa.large_string())))
        else:
            arrays.append(values)
    return frame_of(list(columns), arrays, rows)
