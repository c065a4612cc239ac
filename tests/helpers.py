"""Running the real ``salesml`` command in a fresh process, as a user does, and trained salesml stores for tests."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.stores import Stores as PrivateStores
from features.scoring import MODELS

if TYPE_CHECKING:
    import pandas as pd

    from features.crm.dataset import Dataset
    from serving.schemas.scoring import LeadScoreRequest, OpportunityScoreRequest
    from training.train import TrainResult

ROOT = Path(__file__).resolve().parents[1]
KEY, REVOKED, ADMIN_KEY = "test-key-0123456789", "old-key-9876543210", "admin-key-5555555555"
#: A Dask scheduler where nothing listens (the discard port), tried for one second.
UNREACHABLE_SCHEDULER = {"SALESML_DASK_SCHEDULER": "tcp://127.0.0.1:9", "SALESML_DASK_CONNECT_S": "1"}


def salesml(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a fresh process (wide terminal so tables do not wrap)."""
    return subprocess.run(
        [sys.executable, "-m", "salesml_cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ | {"COLUMNS": "200", "NO_COLOR": "1"} | (env or {}),
        timeout=600,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0]


def cut_short(bentoml_home: Path, name: str) -> None:
    """Cut the model files of the latest ``name`` in a BentoML store off halfway, as a full disk or a killed copy
    leaves them."""
    model = bentoml_home / "models" / name
    for file in (model / (model / "latest").read_text().strip() / "scorer").glob("*.*"):
        if file.name in ("booster.txt", "additive.json"):
            file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])


def train_in_store(store: Path, spec: str, data: Path, trials: int) -> TrainResult:
    """Train in-process against a private MLflow store; the environment is restored afterwards."""
    import pytest

    from training.train import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SALESML_STORE", str(store))
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
        return train(spec, data, trials=trials, progress=False)


@dataclass
class Stores(PrivateStores):
    """A trained salesml (the benchmarks' private stores: MLflow under ``root/mlflow``, BentoML under
    ``root/bentoml`` once exported, reports and the key file under ``root``) with what each model's training returned;
    the data it was trained on is kept apart (the session's data tiers are shared read-only)."""

    trained: dict[str, TrainResult] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        return self.root / "mlflow"

    @classmethod
    def trained_on(
        cls, root: Path, data: Path, trials: int = 2, export: bool = True, models: tuple[str, ...] = MODELS
    ) -> Stores:
        """The ``models`` (default both) trained in-process on ``data`` (``trials`` Optuna trials each) into ``root``,
        a key file with one live and one revoked key, and (``export``) the champions exported with the real
        ``salesml export``."""
        stores = cls(root, data, {spec: train_in_store(root / "mlflow", spec, data, trials) for spec in models})
        (root / "keys").write_text(f"# test keys\n{KEY}\n{REVOKED}\n-{REVOKED}\n", encoding="utf-8")
        if export:
            exported = salesml("export", "--data", data, env=stores.env)
            assert exported.returncode == 0, exported.stderr
        return stores

    def copy(self, root: Path, with_data: bool = False) -> Stores:
        """The stores copied to ``root`` (which must not exist), for a test that trains, promotes, exports or damages
        files: MLflow records absolute artifact locations, so they are rewritten to the copy's. The data stays the
        same folder (read-only) unless ``with_data`` copies it to ``root/data`` too (validation writes beside it)."""
        shutil.copytree(self.root, root)
        data = shutil.copytree(self.data, root / "data") if with_data else self.data
        old, new = f"{self.root}/", f"{root}/"
        with sqlite3.connect(root / "mlflow" / "mlflow.db") as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                for column in db.execute(f"PRAGMA table_info('{table}')").fetchall():
                    if column[2].upper().startswith(("VARCHAR", "TEXT")):
                        db.execute(f'UPDATE "{table}" SET "{column[1]}" = replace("{column[1]}", ?, ?)', (old, new))
        db.close()
        for path in (root / "mlflow" / "artifacts").rglob("MLmodel"):
            path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
        return Stores(root, data, self.trained)


ACTIVITY_FIELDS = ("occurred_at", "recorded_at", "type", "direction", "duration_s", "contact_role", "note", "rep_id")


def plain_value(v: object) -> object:
    """A CRM cell as a request field takes it: missing (None, NaN, NaT) as None."""
    import pandas as pd

    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


def lead_request(ds: Dataset, lead_ids: list[str], as_of: pd.Timestamp) -> LeadScoreRequest:
    """What a CRM would send for these leads as of ``as_of``: attributes and the history entered by then."""
    from serving.schemas.scoring import ActivityIn, LeadIn, LeadScoreRequest

    leads = ds.get("leads").set_index("lead_id")
    acts = ds.get("activities")
    known = acts[acts["entity_type"].eq("lead") & (acts["recorded_at"] <= as_of) & (acts["occurred_at"] <= as_of)]
    items = []
    for lead_id in lead_ids:
        row = leads.loc[lead_id]
        history = known[known["entity_id"] == lead_id]
        items.append(
            LeadIn(
                lead_id=lead_id,
                **{k: plain_value(row[k]) for k in ("source", "region", "industry", "company_size", "owner_rep_id")},
                account_id=plain_value(row["account_id"]),
                created_at=row["created_at"].to_pydatetime(),
                activities=[
                    ActivityIn(**{k: plain_value(a[k]) for k in ACTIVITY_FIELDS}) for _, a in history.iterrows()
                ],
            )
        )
    return LeadScoreRequest(leads=items, as_of=as_of.to_pydatetime())


def deal_request(ds: Dataset, deal_ids: list[str], as_of: pd.Timestamp) -> OpportunityScoreRequest:
    """What a CRM would send for these deals as of ``as_of``: attributes, stages and activities entered by then."""
    from serving.schemas.scoring import ActivityIn, OpportunityIn, OpportunityScoreRequest, StageIn

    deals = ds.get("opportunities").set_index("opportunity_id")
    stages = ds.get("stage_changes")
    acts = ds.get("activities")
    entered = (acts["recorded_at"] <= as_of) & (acts["occurred_at"] <= as_of)
    known = acts[acts["entity_type"].eq("opportunity") & entered]
    fields = ("account_id", "lead_id", "owner_rep_id", "product", "amount", "currency", "expected_close_at")
    items = []
    for deal_id in deal_ids:
        row = deals.loc[deal_id]
        history = stages[(stages["opportunity_id"] == deal_id) & (stages["changed_at"] <= as_of)]
        items.append(
            OpportunityIn(
                opportunity_id=deal_id,
                created_at=row["created_at"].to_pydatetime(),
                **{k: plain_value(row[k]) for k in fields},
                attributes={"discount_pct": plain_value(row["discount_pct"])} if "discount_pct" in row else {},
                stages=[StageIn(stage=s.stage, changed_at=s.changed_at) for s in history.itertuples()],
                activities=[
                    ActivityIn(**{k: plain_value(a[k]) for k in ACTIVITY_FIELDS})
                    for _, a in known[known["entity_id"] == deal_id].iterrows()
                ],
            )
        )
    return OpportunityScoreRequest(opportunities=items, as_of=as_of.to_pydatetime())
