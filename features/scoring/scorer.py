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

import itertools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.pit.catalog import (
    EXTRA_PREFIX,
    MISSING_VALUE,
    RARE_VALUE,
    Feature,
    factor_of,
    many_values_names,
)
from features.scoring.blend import Model, load_model, model_kind, save_model

Locale = Literal["zh-CN", "en"]
OTHER = "__other__"  # rare training levels are pooled into this one
REFERENCE_POINTS = 1001
SCORER_FILE = "scorer.json"
MIN_EFFECT = 0.0005  # a factor's effect under this would show as +0.0%: it is not listed (it is in other_effect)
MANY_VALUES = 50  # a categorical with more distinct values in training is shown as one of that many
#: An extra attribute named like an identifier (customer_id, "Customer ID", LeadId, 客户编号, a URL).
_ID_LIKE = re.compile(r"(?:^|[^A-Za-z])(?i:id|uuid|guid|url)(?![A-Za-z])|(?<=[a-z])I[Dd](?![a-z])|编号|号码|网址|链接")


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
class InputFeature:
    """A model input: the catalog entry plus, for categoricals, the levels seen in training."""

    name: str
    kind: Literal["numeric", "categorical"]
    zh: str
    en: str
    factor: str
    factor_zh: str
    factor_en: str
    levels: list[str] | None = None
    distinct: int | None = None  # categoricals: distinct values seen in training (None: not recorded)

    @classmethod
    def of(cls, feature: Feature, levels: list[str] | None = None, distinct: int | None = None) -> InputFeature:
        f = factor_of(feature)
        return cls(feature.name, feature.kind, feature.zh, feature.en, f.key, f.zh, f.en, levels, distinct)


@dataclass
class FactorEffect:
    """One key factor's push on one prediction."""

    factor: str
    name: str  # display name in the requested locale
    feature: str  # the member feature that contributed most
    feature_name: str
    value: Any
    contribution: float  # log-odds
    delta_probability: float  # its additive effect: base_probability + every factor's effect = probability

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def text(self, locale: Locale) -> str:
        """The effect in words, ``Lead age: Age (days) = 66 (+6.6%)``, in the locale its names are in; a factor that is
        one input is named once."""
        shown = evidence(self.feature_name, self.value, locale)
        head = shown if self.factor == self.feature else f"{self.name}: {shown}"
        return f"{head} ({self.delta_probability:+.1%})"


def evidence(feature_name: str, value: Any, locale: Locale) -> str:
    """The input that weighed most within a factor and its value, ``Age (days) = 66``."""
    return f"{feature_name} = {shown_value(value, locale)}"


def shown_value(value: Any, locale: Locale) -> str:
    """A feature value as explanations print it: numbers compact (integers whole, others to 3 significant digits
    below 100), missing and pooled rare values in words."""
    if value is None:
        return _local(MISSING_VALUE, locale)
    if value == OTHER:
        return _local(RARE_VALUE, locale)
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def _local(words: tuple[str, str], locale: Locale) -> str:
    """The locale's one of the catalog's (zh, en) words."""
    return words[0] if locale == "zh-CN" else words[1]


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
        return self._scores(self.margin(x), x)

    def _scores(self, margin: np.ndarray, x: np.ndarray) -> pd.DataFrame:
        """probability, score, grade, and ``p_{days}d`` per time-window head."""
        p = np.clip(self.calibrator(margin), 0.0, 1.0)
        s = self.score(p)
        windows = self.windows(x, p)
        timing = {f"p_{d}d": w for d, w in windows.items()}
        if windows:
            timing["expected_days"] = expected_days(p, windows)
        return pd.DataFrame({"probability": p, "score": s, "grade": self.grade(s), **timing})

    def windows(self, x: pd.DataFrame | np.ndarray, probability: np.ndarray) -> dict[int, np.ndarray]:
        """Per time-window head (days), its probabilities made consistent with each other and ``probability``."""
        return consistent_windows(probability, {head.days: head.probability(x) for head in self.heads})

    def contributions(self, x: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Exact tree SHAP in log-odds: per-feature (rows x inputs), per-factor sums (rows x factors), and
        the factor keys (columns of the sums)."""
        raw, _, _ = self._shap(x)
        return raw, *self._by_factor(raw)

    def _shap(self, x: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-feature contributions, the margin they sum to with the bias, and the bias: the model's expected
        margin, the last column (one pass over the model for all three)."""
        full = self.booster.predict(x, pred_contrib=True)
        return full[:, :-1], full.sum(axis=1), full[:, -1]

    def _by_factor(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-factor sums of the members' contributions, added column by column in input order: a row's sums do
        not depend on the rows scored with it (a matrix product's blocking does, in the last bits)."""
        keys, index = np.unique([f.factor for f in self.inputs], return_inverse=True)
        sums = np.zeros((len(raw), len(keys)))
        for i, j in enumerate(index):
            sums[:, j] += raw[:, i]
        return sums, keys

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
                effect would show as 0.0% (under ``MIN_EFFECT``) is not listed; its effect is in ``other_effect``.
            locale: ``"zh-CN"`` or ``"en"``: the language of the factors' and features' display names.

        Returns:
            ``(scores, reasons)``, both in ``table``'s row order.

            ``scores``: a DataFrame with a fresh ``RangeIndex`` and the columns ``probability`` (calibrated, of the
            label within the model's horizon), ``score`` (0-100: its percentile in the reference population),
            ``grade`` (A, B or C by the spec's thresholds), ``p_{N}d`` per time-window head and ``expected_days``
            (models with window heads: deals), ``base_probability`` (a typical lead's or deal's: the calibrated
            probability at the model's expected margin), ``other_effect`` (the summed effect of the factors not
            listed) and ``warnings`` (a list of strings per row).

            ``reasons``: per row, a dict ``{"positive": [...], "negative": [...]}`` of ``FactorEffect``, strongest
            first: the factor, its display name, the input that weighed most within it and that input's value, the
            summed SHAP ``contribution`` in log-odds and ``delta_probability``.

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
        change = scores["probability"].to_numpy() - base
        reasons, listed = self._reasons(x, table, raw, probability_per_log_odds(margin - bias, change), top, locale)
        scores["base_probability"] = base
        scores["other_effect"] = change - listed
        scores["warnings"] = warnings
        return scores, reasons

    def explain(self, table: pd.DataFrame, top: int = 5, locale: Locale = "zh-CN") -> list[dict[str, list]]:
        """Per row: up to ``top`` factors raising and lowering the prediction, in the locale's words."""
        return self.predict_with_factors(table, top, locale)[1]

    def _reasons(
        self, x: np.ndarray, table: pd.DataFrame, raw: np.ndarray, scale: np.ndarray, top: int, locale: Locale
    ) -> tuple[list[dict[str, list]], np.ndarray]:
        """Per row, up to ``top`` factors raising and lowering the probability, strongest first, each by at least
        MIN_EFFECT (a factor's effect: its contribution times the row's ``scale``); and per row the sum of the effects
        listed."""
        by_factor, keys = self._by_factor(raw)
        effect = by_factor * scale[:, None]  # element by element: a row's effects do not depend on the batch
        leader = self._leading_members(raw, keys)
        order = np.argsort(-by_factor, axis=1, kind="stable")
        k = min(top, len(keys))
        sides = {"positive": (order[:, :k], 1.0), "negative": (order[:, ::-1][:, :k], -1.0)}
        out: list[dict[str, list]] = [{} for _ in range(len(x))]
        listed = np.zeros(len(x))
        for side, (picks, sign) in sides.items():
            shown = np.take_along_axis(effect, picks, axis=1)
            chosen = sign * shown >= MIN_EFFECT  # np.nonzero goes row by row, so each row keeps its order
            listed += np.where(chosen, shown, 0.0).sum(axis=1)
            r, j = np.nonzero(chosen)[0], picks[chosen]
            effects = self._effects(keys[j], by_factor[r, j], shown[chosen], leader[r, j], x, table, r, locale)
            ends = np.cumsum(chosen.sum(axis=1)).tolist()
            for row, (start, end) in zip(out, itertools.pairwise([0, *ends]), strict=True):
                row[side] = effects[start:end]
        return out, listed

    def _leading_members(self, raw: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Per row and factor, the input that contributed most (its value is shown)."""
        leader = np.zeros((len(raw), len(keys)), dtype=int)
        for j, key in enumerate(keys):
            members = np.array([i for i, f in enumerate(self.inputs) if f.factor == key])
            leader[:, j] = members[np.argmax(np.abs(raw[:, members]), axis=1)]
        return leader

    def _effects(
        self,
        keys: np.ndarray,
        totals: np.ndarray,
        deltas: np.ndarray,
        leads: np.ndarray,
        x: np.ndarray,
        table: pd.DataFrame,
        rows: np.ndarray,
        locale: Locale,
    ) -> list[FactorEffect]:
        """One effect per picked (row, factor), all at once: the leading member's value and the factor's effect."""
        words = [_names(f, locale) for f in self.inputs]
        values = _cells(self.inputs, x, table, rows, leads)
        return [
            FactorEffect(key, *words[lead], value, total, delta)
            for key, lead, value, total, delta in zip(
                keys.tolist(), leads.tolist(), values, totals.tolist(), deltas.tolist(), strict=True
            )
        ]

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
        )


def encode_inputs(inputs: list[InputFeature], table: pd.DataFrame) -> tuple[pd.DataFrame, list[list[str]]]:
    """Feature table -> model input frame (fixed categorical levels), and per row the warnings to report."""
    matrix, warnings = encode_matrix(inputs, table)
    columns = {
        f.name: pd.Categorical.from_codes(np.nan_to_num(matrix[:, j], nan=-1).astype(int), categories=f.levels or [])
        if f.kind == "categorical"
        else matrix[:, j]
        for j, f in enumerate(inputs)
    }
    return pd.DataFrame(columns, index=range(len(table))), warnings


def encode_matrix(inputs: list[InputFeature], table: pd.DataFrame) -> tuple[np.ndarray, list[list[str]]]:
    """Feature table -> float matrix LightGBM reads directly (categoricals as their training level codes, missing
    as NaN, exactly what LightGBM makes of the pandas frame), and per row the warnings to report."""
    warnings: list[list[str]] = [[] for _ in range(len(table))]
    table = pd.DataFrame(table, copy=False)  # without attrs: pandas deep-copies them on every column access
    matrix = np.full((len(table), len(inputs)), np.nan)
    numeric = [j for j, f in enumerate(inputs) if f.kind != "categorical" and f.name in table.columns]
    matrix[:, numeric] = _floats(table[[inputs[j].name for j in numeric]])
    for j, f in enumerate(inputs):
        if f.name not in table.columns:
            for w in warnings:
                w.append(f"{f.name}: not provided (treated as missing)")
        elif f.kind == "categorical":
            codes = _level_codes(f, table[f.name], warnings)
            matrix[:, j] = np.where(codes < 0, np.nan, codes)
    return matrix, warnings


def _floats(columns: pd.DataFrame) -> np.ndarray:
    """The columns as one float block (one copy when they are numeric, as built features are); text is parsed."""
    try:
        return columns.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        parsed = {c: pd.to_numeric(columns[c], errors="coerce") for c in columns.columns}
        return pd.DataFrame(parsed).to_numpy(dtype=np.float64, na_value=np.nan)


def _level_codes(f: InputFeature, values: pd.Series, warnings: list[list[str]]) -> np.ndarray:
    """Codes of the training levels; unseen values become the pooled rare level (or missing), with a warning."""
    levels = f.levels or []
    index = {level: i for i, level in enumerate(levels)}
    rare = index.get(OTHER, -1)
    codes = np.full(len(values), -1, dtype=np.int64)
    for i, value in enumerate(values.to_numpy(dtype=object, na_value=None).tolist()):
        if value is None:
            continue
        code = index.get(str(value), -2)
        if code == -2:
            warnings[i].append(f"{f.name}: unseen value {str(value)!r} (scored as a rare level)")
            code = rare
        codes[i] = code
    return codes


def probability_per_log_odds(rise: np.ndarray, change: np.ndarray) -> np.ndarray:
    """Per row, the probability's change from the base per log-odds of the margin's rise above the bias: a
    contribution times it is that contribution's share of the change. Calibration is monotone, so a share has its
    contribution's sign (or is 0), and a row's shares sum to its change exactly (0 where the margin is the bias)."""
    return np.divide(change, rise, out=np.zeros_like(change), where=rise != 0)


def _names(f: InputFeature, locale: Locale) -> tuple[str, str, str]:
    """An effect's names in the locale: its factor's, the leading input's key and that input's display name, which
    for an id-like input says how many values it takes."""
    zh, en = many_values_names(f.zh, f.en, f.distinct) if _many_valued(f) else (f.zh, f.en)
    return _local((f.factor_zh, f.factor_en), locale), f.name, _local((zh, en), locale)


def _many_valued(f: InputFeature) -> bool:
    """A categorical whose value is one of many (an id, a landing page): more than MANY_VALUES distinct values in
    training, or an extra attribute named like an identifier."""
    if f.kind != "categorical":
        return False
    named = f.name.startswith(EXTRA_PREFIX) and any(_ID_LIKE.search(text) for text in (f.name, f.en))
    return named or (f.distinct or 0) > MANY_VALUES


def _cells(
    inputs: list[InputFeature], matrix: np.ndarray, table: pd.DataFrame, rows: np.ndarray, columns: np.ndarray
) -> list[Any]:
    """The input values at (rows[i], columns[i]) as plain Python values, None if missing; for categoricals the level,
    or for one pooled with the rare levels the value the table holds (one id among hundreds, not ``__other__``)."""
    values = matrix[rows, columns]
    out: list[Any] = []
    for value, i, j in zip(values.tolist(), rows.tolist(), columns.tolist(), strict=True):
        f = inputs[j]
        if np.isnan(value):
            out.append(None)
        elif f.kind == "categorical":
            level = (f.levels or [])[int(value)]
            out.append(str(table[f.name].iat[i]) if level == OTHER else level)
        else:
            out.append(value)
    return out


def reference_quantiles(probabilities: np.ndarray) -> np.ndarray:
    """The reference population, compressed to REFERENCE_POINTS quantiles (enough for integer percentiles)."""
    return np.quantile(probabilities, np.linspace(0.0, 1.0, REFERENCE_POINTS))
