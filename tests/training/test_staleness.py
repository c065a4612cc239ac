"""``salesml evaluate``: a version trained before the simulated world drifts loses ranking skill after the drift,
month by month, while on the same world without the drift it holds; and bad input is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from features.synth import synthesize
from tests.helpers import assert_one_line_error, salesml, train_in_store
from training.staleness import MonthQuality

LEADS = 8_000  # about 130 converting leads a month: a month's AUC within about 0.03
SEED = 5
TRAINED_AT = "2024-10-01"  # the export the version is trained on
DRIFT_DATE = "2025-04-01"  # six months later: months between are unseen but undrifted
EVALUATED = ("2024-10-01", "2025-10-31")  # the last month's labels are known by the export at the end of 2025


def _store_env(store: Path) -> dict[str, str]:
    return {"SALESML_STORE": str(store), "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}"}


def _trained_before(root: Path, drift: str | None) -> tuple[Path, Path, str]:
    """A simulated CRM (drifting or not) and lead_score trained on its export as it stood at TRAINED_AT (``salesml
    data cut``): the data, the store and the version."""
    data = root / "crm"
    synthesize(data, leads=LEADS, seed=SEED, drift=drift)
    past = root / "past"
    cut = salesml("data", "cut", "--data", data, "--as-of", TRAINED_AT, "--out", past)
    assert cut.returncode == 0, cut.stderr
    result = train_in_store(root / "store", "lead_score", past, trials=2)
    return data, root / "store", result.version


def _evaluated(data: Path, store: Path, version: str) -> list[MonthQuality]:
    proc = salesml(
        "evaluate", "--model", "lead_score", "--data", data, "--from", EVALUATED[0], "--to", EVALUATED[1],
        "--version", version, "--json", env=_store_env(store),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["version"] == version and report["trained_until"] < TRAINED_AT
    return [MonthQuality(**{k: np.nan if v is None else v for k, v in row.items()}) for row in report["months"]]


def _auc(months: list[MonthQuality], after_drift: bool) -> float:
    """Mean monthly ROC AUC (weighted by rows) over the months before or after the drift date."""
    chosen = [m for m in months if (m.month >= DRIFT_DATE[:7]) == after_drift]
    return float(np.average([m.roc_auc for m in chosen], weights=[m.n for m in chosen]))


@pytest.mark.slow
def test_a_version_trained_before_the_drift_goes_stale_after_it(tmp_path: Path) -> None:
    data, store, version = _trained_before(tmp_path / "drifting", DRIFT_DATE)
    drifting = _evaluated(data, store, version)
    steady_data, steady_store, steady_version = _trained_before(tmp_path / "steady", None)
    steady = _evaluated(steady_data, steady_store, steady_version)
    table = salesml(
        "evaluate", "--model", "lead_score", "--data", steady_data, "--from", "2025-09-15", "--to", "2025-10-01",
        env=_store_env(steady_store),
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert f"lead_score v{steady_version} (trained until 2024-" in table.stdout  # the champion by default
    assert [line.split()[1] for line in table.stdout.splitlines() if line.startswith("│ 2025-")] == [
        "2025-09",
        "2025-10",
    ]
    assert [m.month for m in drifting][:2] == ["2024-10", "2024-11"] and len(drifting) == 13
    assert all(m.n > 500 and m.positives > 50 and m.months_since_training > 0 for m in drifting + steady)
    drop = {name: _auc(months, False) - _auc(months, True) for name, months in (("drift", drifting), ("no", steady))}
    assert drop["drift"] > 0.05, drop  # measured: 0.076
    assert abs(drop["no"]) < 0.025, drop  # measured: 0.000
    assert all(0.0 <= m.ece < 0.1 and m.lift_top_decile > 1 for m in drifting + steady)
    unknown = salesml(
        "evaluate", "--model", "lead_score", "--data", data, "--from", EVALUATED[0], "--to", EVALUATED[1],
        "--version", "99", env=_store_env(store),
    )  # fmt: skip
    assert_one_line_error(unknown, "no version '99' of lead_score", f"versions: {version}")


@pytest.mark.slow  # salesml processes
def test_bad_dates_and_an_unknown_version_are_one_line_exit_2(tmp_path: Path) -> None:
    env = _store_env(tmp_path / "store")
    base = ("evaluate", "--model", "lead_score", "--data", tmp_path)
    assert_one_line_error(salesml(*base, "--from", "soon", "--to", "2025-01-01", env=env), "--from 'soon': not a time")
    assert_one_line_error(salesml(*base, "--from", "2025-03-01", "--to", "2025-01-01", env=env), "before --from")
    proc = salesml(*base, "--from", "2025-01-01", "--to", "2025-02-01", "--version", "9", env=env)
    assert_one_line_error(proc, "lead_score version 9")
