"""salesml beside plain baselines on the customer's own data, split by creation time, as a new user would try it.

The dataset's entities (leads or deals) are split by creation time: the earliest ``1 - test_share`` with their
outcomes form an export that salesml trains on with defaults; the latest form a second export with their
outcomes removed (and nothing the entity did at or after its own resolution), which the trained model scores as
of the export, as ``salesml score`` does. A plain scikit-learn logistic regression and a default LightGBM are
fitted on the early entities' own columns (their attributes as exported) with the final outcome as the label.
All three are judged by ROC AUC against the late entities' final outcomes. A dataset without event times is
split in a seeded random order instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pandas as pd

from features import settings
from features.crm.dataset import Dataset, read_dataset, write_dataset
from features.crm.schema import ENTITIES, TABLES
from features.errors import DataError, NotEnoughData
from features.pit.build import build_features
from features.pit.frames import dataset_as_of, scoring_frame
from features.pit.history import OUTCOME_COLUMNS
from features.pit.timeline import column
from features.scoring import PRIOR
from training.data import require_entities
from training.spec import load_spec

#: Canonical columns that are not an entity's own attributes (keys, times, outcomes).
NOT_ATTRIBUTES = ("_id", "_at", "outcome", "stage", "name", "email", "phone")
#: The share of entities held out: enough late entities to judge, enough early ones to train.
TEST_SHARES = (0.05, 0.5)


@dataclass(frozen=True)
class Comparison:
    """ROC AUC of salesml and the plain baselines on the late entities, and what salesml did."""

    model: str
    split: str
    train_entities: int
    test_entities: int
    test_positives: int
    auc: dict[str, float]
    salesml: dict[str, Any]

    def rows(self) -> list[tuple[str, float]]:
        return sorted(self.auc.items(), key=lambda kv: -kv[1])


def final_labels(ds: Dataset, entity: str) -> pd.Series:
    """Each entity's final outcome (converted; won), indexed by id; NA where still open at the export."""
    table, id_col = ENTITIES[entity]
    rows = ds.tables[table]
    if entity == "lead":
        label = rows["converted_at"].notna().astype("Int8")
        label[rows["converted_at"].isna() & column(rows, "disqualified_at").isna()] = pd.NA
    else:
        label = rows["outcome"].map({"won": 1, "lost": 0}).astype("Int8")
    return pd.Series(label.to_numpy(), index=rows[id_col].to_numpy())


def split_entities(ds: Dataset, entity: str, test_share: float, seed: int = 0) -> tuple[np.ndarray, str]:
    """Whether each entity is late (test): by creation time, or in a seeded random order without event times."""
    table, _ = ENTITIES[entity]
    created = ds.tables[table]["created_at"]
    if not ds.manifest.has_event_times:
        order = np.random.default_rng(seed).permutation(len(created))
        return order >= int(round((1 - test_share) * len(created))), "random order (no event times)"
    cut = created.quantile(1 - test_share)
    return (created >= cut).to_numpy(), f"by creation time at {cut:%Y-%m-%d}"


def early_export(ds: Dataset, entity: str, late: np.ndarray) -> Dataset:
    """The early entities with everything known about them; rows of other tables that name a late one go."""
    table, id_col = ENTITIES[entity]
    gone = ds.tables[table][id_col][late]
    tables = {}
    for name, df in ds.tables.items():
        if name == table:
            tables[name] = df[~late].reset_index(drop=True)
            continue
        owner, _ = _owner(name, df, entity)
        tables[name] = df if owner is None else df[~owner.isin(gone).to_numpy()].reset_index(drop=True)
    return replace(ds, tables=tables)


def early_export_at_cut(ds: Dataset, entity: str, late: np.ndarray) -> Dataset:
    """The early entities as the export stood when the first late one was created: a fresh export of the earlier
    period, where the recent entities' slow outcomes have not happened yet (``dataset_as_of``)."""
    table, _ = ENTITIES[entity]
    return dataset_as_of(early_export(ds, entity, late), ds.tables[table]["created_at"][late].min())


def late_export(ds: Dataset, entity: str, late: np.ndarray) -> Dataset:
    """The whole export with the late entities' outcomes removed, and nothing of theirs at or after their
    resolution (the activities and records that would tell it)."""
    table, id_col = ENTITIES[entity]
    rows = ds.tables[table]
    outcome = [c for c in OUTCOME_COLUMNS[table] if c in rows.columns]
    ends = [c for c in outcome if c.endswith("_at")]
    resolved = pd.Series(rows[ends].min(axis=1).where(late).to_numpy(), index=rows[id_col].to_numpy())
    cleared = rows.copy()
    for c in outcome:
        cleared.loc[late, c] = pd.NA
    tables = {table: cleared}
    for name, df in ds.tables.items():
        if name != table:
            owner, when = _owner(name, df, entity)
            if owner is None or when is None:
                tables[name] = df
                continue
            until = pd.to_datetime(owner.map(resolved), utc=True)
            keep = until.isna() | (pd.to_datetime(when, utc=True) < until)
            tables[name] = df[keep.to_numpy(dtype=bool)].reset_index(drop=True)
    return replace(ds, tables=tables)


def _owner(name: str, df: pd.DataFrame, entity: str) -> tuple[pd.Series | None, pd.Series | None]:
    """Which entity of the compared kind a row of another table belongs to (NA: none), and when it happened."""
    key = ENTITIES[entity][1]
    if name == "activities":
        return df["entity_id"].where(df["entity_type"] == entity), df["occurred_at"]
    if key in df.columns:
        when = next((df[c] for c in ("changed_at", "created_at") if c in df.columns), None)
        return df[key], when
    return None, None


def attribute_frame(ds: Dataset, entity: str, rows: pd.DataFrame) -> pd.DataFrame:
    """An entity's own exported attributes (no keys, times or outcomes), as a plain model would take them."""
    table = ENTITIES[entity][0]
    extras = {e.name for e in ds.manifest.extras(table) if e.kind != "text"}
    canonical = {c.name for c in TABLES[table].columns} if table in TABLES else set()
    keep = [
        c
        for c in rows.columns
        if (c in extras or c in canonical) and not any(c.endswith(s) or c == s for s in NOT_ATTRIBUTES)
    ]
    out = rows[keep].copy()
    for c in keep:
        if not pd.api.types.is_numeric_dtype(out[c]) or pd.api.types.is_bool_dtype(out[c]):
            out[c] = out[c].astype("string").astype("category")
    return out


def plain_baselines(train: pd.DataFrame, y: np.ndarray, test: pd.DataFrame) -> dict[str, np.ndarray]:
    """Plain logistic regression (one-hot, standardised numbers) and a default LightGBM on the raw attributes."""
    import lightgbm as lgb
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    categorical = [c for c in train.columns if isinstance(train[c].dtype, pd.CategoricalDtype)]
    numeric = [c for c in train.columns if c not in categorical]
    columns = ColumnTransformer(
        [
            ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("categorical", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5), categorical),
        ]
    )

    def plain(df: pd.DataFrame) -> pd.DataFrame:
        """Numbers as floats (missing: NaN), categories as text (missing: a level of its own)."""
        out = df.astype({c: float for c in numeric})
        return out.astype({c: object for c in categorical}).fillna({c: "<missing>" for c in categorical})

    logistic = make_pipeline(columns, LogisticRegression(max_iter=2000)).fit(plain(train), y)
    aligned = test.copy()
    for c in categorical:
        known = train[c].cat.categories
        values = aligned[c].astype("string")
        aligned[c] = pd.Categorical(values.where(values.isin(known)), categories=known)  # unseen: missing
    booster = lgb.LGBMClassifier(verbosity=-1).fit(train, y)
    return {
        "plain logistic regression": logistic.predict_proba(plain(test))[:, 1],
        "default LightGBM": booster.predict_proba(aligned)[:, 1],
    }


def compare_baselines(
    data: Path,
    model: str,
    test_share: float = 0.25,
    trials: int | None = None,
    order_seed: int | None = None,
    at_cut: bool = False,
) -> Comparison:
    """Train salesml with defaults on the early entities and score the late ones beside the plain baselines.

    Args:
        data: a canonical dataset directory (with outcomes).
        model: a model spec by name or path (``lead_score``).
        test_share: the share of entities, latest by creation, held out.
        trials: Optuna trials (default: the spec's).
        order_seed: seeds the random order that splits an export without event times (default: the spec's
            ``split.seed``); one draw of a few thousand entities moves ROC AUC by a few thousandths, so compare
            over several.
        at_cut: Train salesml and fit the baselines on the early entities as known when the first late one was
            created (``early_export_at_cut``: outcomes after it unknown, the still open entities left out of the
            baselines), not with the outcomes the whole export shows for them. Needs event times.

    Returns:
        A ``Comparison`` with each model's ROC AUC on the late entities.

    Raises:
        DataError: a bad share, no entity the model scores, no outcomes, ``at_cut`` without event times, or a
            training that fails (its own one-line reason).
    """
    from sklearn.metrics import roc_auc_score

    from training.train import train

    check_test_share(test_share)
    spec, _ = load_spec(model)
    ds = read_dataset(data)
    require_entities(ds, spec)
    if at_cut and not ds.manifest.has_event_times:
        raise DataError(f"{data}: no event times, so no cut to train as of: leave out --at-cut")
    table, id_col = ENTITIES[spec.entity]
    late, how = split_entities(ds, spec.entity, test_share, spec.split.seed if order_seed is None else order_seed)
    how += ", trained on the early entities as known at the cut" if at_cut else ""
    labels = final_labels(ds, spec.entity)
    early = early_export_at_cut(ds, spec.entity, late) if at_cut else early_export(ds, spec.entity, late)
    with TemporaryDirectory(prefix="salesml-compare-") as tmp, private_store(Path(tmp) / "store"):
        early_dir = Path(tmp) / "early"
        write_dataset(early, early_dir)
        result = train(model, early_dir, trials=trials, progress=False)
    if result.report.get("kind") == PRIOR:  # a prior has no model to compare: what train would have said
        raise NotEnoughData(result.report["prior"]["reason"])
    scored_ds = late_export(ds, spec.entity, late)
    frame = scoring_frame(scored_ds, spec.entity)
    late_ids = set(ds.tables[table][id_col][late])
    frame = frame[frame["entity_id"].isin(late_ids)].reset_index(drop=True)
    probability = result.scorer.predict(build_features(scored_ds, spec.entity, frame))["probability"].to_numpy()
    y = labels.reindex(frame["entity_id"].to_numpy()).to_numpy(dtype=float)
    known = ~np.isnan(y)
    rows = ds.tables[table].set_index(id_col)
    early_ids = ds.tables[table][id_col][~late]
    early_labels = final_labels(early, spec.entity) if at_cut else labels
    early_y = early_labels.reindex(early_ids.to_numpy()).to_numpy(dtype=float)
    fit_rows = ~np.isnan(early_y)
    x_train = attribute_frame(ds, spec.entity, rows.loc[early_ids[fit_rows]].reset_index())
    x_test = attribute_frame(ds, spec.entity, rows.loc[frame["entity_id"][known]].reset_index())
    plain = plain_baselines(x_train, early_y[fit_rows].astype(int), x_test)
    truth = y[known].astype(int)
    auc = {"salesml": float(roc_auc_score(truth, probability[known]))}
    auc |= {name: float(roc_auc_score(truth, p)) for name, p in plain.items()}
    report = result.report
    return Comparison(
        model=spec.name,
        split=how,
        train_entities=int((~late).sum()),
        test_entities=int(known.sum()),
        test_positives=int(truth.sum()),
        auc=auc,
        salesml={
            "served": report["chosen"],
            "horizon": report["horizon_note"] if report["horizon_days"] else "eventual outcome",
            "split": report["split"]["kind"],
            "internal_test_auc": report["test"]["metrics"]["roc_auc"],
            "candidates": {k: v["test"]["roc_auc"] for k, v in report["candidates"].items()},
            "promoted": report["promoted"],
            "distinct_probabilities": int(len(np.unique(probability[known]))),
        },
    )


def check_test_share(test_share: float) -> None:
    """A share outside ``TEST_SHARES`` is the user's mistake (one line); checked before the libraries load."""
    low, high = TEST_SHARES
    if not low <= test_share <= high:
        raise DataError(f"--test-share {test_share}: use a share between {low} and {high}")


@contextmanager
def private_store(store: Path) -> Iterator[None]:
    """Train against a throwaway MLflow store: the comparison never touches the user's registry."""
    saved = {k: os.environ.get(k) for k in (settings.STORE.name, settings.TRACKING_URI.name)}
    os.environ[settings.STORE.name] = str(store)
    os.environ[settings.TRACKING_URI.name] = f"sqlite:///{store / 'mlflow.db'}"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
