"""Batch scoring on Dask (``salesml score --engine dask``): every open entity's features built on the cluster
(``features.pit.distributed``), then each partition scored where it was built by the champions this process loaded
from the registry (``Champions``, the local path's code and columns) and written as one Parquet part. The frame is
made here from the lead and deal tables; only the scores' parts leave the workers, straight to disk."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pandas as pd
from distributed import Client

from features.crm.dataset import STRING_DTYPE, as_of_time
from features.insights.trend import week_ago
from features.messages import Locale, locale_of
from features.pit.cluster import write_parts
from features.pit.distributed import Tables, distributed_features
from training.scoring import Champions, open_frame

#: The frame column that carries each row's probability ``TREND_DAYS`` earlier to its partition.
BEFORE = "p_7d_ago"


def score_open_on_dask(
    client: Client, model: str, data: Path, out: Path, *, as_of: str | None, locale: str, top: int, partitions: int
) -> tuple[int, int]:
    """``training.scoring.score_open``'s table for ``model``'s open entities in ``data`` as of ``as_of``, written to
    ``out/part-*.parquet`` in the local path's row order; the rows scored and the parts written."""
    tables = Tables.read(data)
    at = as_of_time(tables.local, as_of)
    champions = Champions.load(model)
    entity = champions.main.entity
    frame = open_frame(tables.local, entity, at)
    sent = client.scatter(champions, broadcast=True, hash=False)  # once to each worker, not into every task

    def probabilities(rows: pd.DataFrame) -> np.ndarray:
        table = distributed_features(tables, entity, rows, partitions)  # held: its scattered frame lives with it
        parts = [dask.delayed(_probability)(part, sent) for part in table.to_delayed()]
        return np.concatenate(dask.compute(*parts))

    before = week_ago(tables.local, champions.segmented(), frame, probabilities)
    table = distributed_features(tables, entity, frame.assign(**{BEFORE: before}), partitions)
    language = locale_of(locale)
    write_parts(client, [dask.delayed(_scored)(part, sent, top, language) for part in table.to_delayed()], out)
    return len(frame), table.npartitions


def _probability(part: pd.DataFrame, champions: Champions) -> np.ndarray:
    return champions.segmented().predict(part)["probability"].to_numpy()


def _scored(part: pd.DataFrame, champions: Champions, top: int, language: Locale) -> pd.DataFrame:
    """A partition's scores, its text columns typed as text even where every value is missing (no trend in a part
    of young entities), so that every part has the same schema."""
    scores = champions.scores(part.drop(columns=[BEFORE]), part[BEFORE].to_numpy(), top, language)
    return scores.astype({column: STRING_DTYPE for column in scores.columns if scores[column].dtype == object})
