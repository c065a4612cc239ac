"""``salesml forecast``, ``targets`` and ``backtest`` through the real CLI, on a small simulated CRM."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import Stores, assert_one_line_error, salesml


@pytest.fixture(scope="module")
def stores(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """A copy of the session's small CRM (the backtest logs runs to the store, a test moves its files aside) holding
    close_probability alone, as a store where only the deal model was trained."""
    stores = small_crm.copy(tmp_path_factory.mktemp("forecast") / "stores")
    uri = f"sqlite:///{stores.store / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri, registry_uri=uri).delete_registered_model("lead_score")
    return stores


@pytest.fixture(scope="module")
def env(stores: Stores) -> dict[str, str]:
    return {"SALESML_STORE": str(stores.store), "MLFLOW_TRACKING_URI": f"sqlite:///{stores.store / 'mlflow.db'}"}


@pytest.fixture(scope="module")
def crm(stores: Stores) -> Path:
    return stores.data


def test_forecast_writes_table_csv_and_fan_chart(crm: Path, env: dict[str, str], tmp_path: Path) -> None:
    proc = salesml(
        "forecast", "--data", crm, "--as-of", "2025-11-10", "--by", "team", "--periods", 2, "--out", tmp_path, env=env
    )
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "forecast.csv")
    assert set(table["period"]) == {"2025-11", "2025-12"}
    assert (table["p10"] <= table["p50"]).all() and (table["p50"] <= table["p90"]).all()
    assert (table["expected"] >= table["won_to_date"]).all()
    assert (tmp_path / "forecast.png").stat().st_size > 10_000
    assert "total" in proc.stdout and "P90" in proc.stdout


@pytest.mark.slow  # two forecasts through the CLI
def test_forecast_explain_writes_drivers_that_add_up_to_the_p50_change(
    crm: Path, env: dict[str, str], tmp_path: Path
) -> None:
    proc = salesml("forecast", "--data", crm, "--as-of", "2025-11-20", "--explain", "--since", "2025-11-06",
                   "--periods", 1, "--sims", 500, "--out", tmp_path, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    figures = json.loads((tmp_path / "drivers.json").read_text(encoding="utf-8"))
    assert figures["period"] == "2025-11" and figures["since"].startswith("2025-11-06")
    parts = {p["part"]: p for p in figures["parts"]}
    assert list(parts) == ["won", "lost", "slipped", "pulled_in", "created", "probability", "not_yet_created",
                           "p50_vs_expected"]  # fmt: skip
    assert abs(sum(p["change"] for p in parts.values()) - figures["p50"]["change"]) < 1e-6
    assert figures["p50"]["change"] == figures["p50"]["as_of"] - figures["p50"]["since"]
    deals = pd.read_csv(tmp_path / "driver_deals.csv")
    assert deals.groupby("part").size().to_dict() == {k: p["deals"] for k, p in parts.items() if p["deals"]}
    for part in parts.values():
        amounts = [d["amount"] for d in part["largest_deals"]]
        assert amounts == sorted(amounts, reverse=True) and len(amounts) <= 3
    assert "What moved the 2025-11 forecast from 2025-11-06" in proc.stdout
    assert "Slipped out of the period" in proc.stdout


def test_targets_board_has_colors_and_chances(crm: Path, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "board.csv"
    proc = salesml("targets", "--data", crm, "--as-of", "2025-11-20", "--level", "team", "--out", out, env=env)
    assert proc.returncode == 0, proc.stderr
    board = pd.read_csv(out)
    assert set(board["color"]) <= {"red", "yellow", "green"} and len(board) > 0
    assert (board["p_red"] >= board["p_yellow"]).all() and (board["p_yellow"] >= board["p_green"]).all()
    assert (board["period"] == "2025-11").all()


@pytest.mark.slow  # three monthly backtests
def test_backtest_writes_report_and_logs_to_mlflow(crm: Path, env: dict[str, str], tmp_path: Path) -> None:
    proc = salesml(
        "backtest", "--data", crm, "--from", "2025-09-01", "--to", "2025-11-30", "--by", "team",
        "--sims", 500, "--out", tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert {"salesml", "stage_weighted", "naive", "oracle"} <= set(metrics["method"])
    cells = pd.read_csv(tmp_path / "backtest.csv")
    assert set(cells["period"]) == {"2025-09", "2025-10", "2025-11"}
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| salesml |" in report and "| stage_weighted |" in report and "backtest.png" in report
    assert (tmp_path / "backtest.png").stat().st_size > 10_000
    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])  # set_tracking_uri would leak into later tests
    runs = client.search_runs([client.get_experiment_by_name("backtest").experiment_id])
    assert runs and all(run.data.metrics["salesml_groups_wape"] >= 0 for run in runs)
    assert {"report.md", "backtest.png", "metrics.csv"} <= {a.path for a in client.list_artifacts(runs[0].info.run_id)}


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("forecast", "--period", "fortnight"), ("unknown period 'fortnight'",)),
        (("forecast", "--by", "planet"), ("unknown grouping 'planet'",)),
        (("forecast", "--as-of", "2031-01-01"), ("after the export",)),
        # slow: these read the data before they answer
        pytest.param(
            ("forecast", "--as-of", "2025-11-10", "--explain", "--since", "2025-11-20"),
            ("is not before --as-of",),
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ("forecast", "--explain", "--since", "2020-01-01"),
            ("--since 2020-01-01 00:00 is before the export's",),
            marks=pytest.mark.slow,
        ),
        (("forecast", "--since", "2025-11-01"), ("add --explain",)),
        (("targets", "--level", "product"), ("targets are set per",)),
        pytest.param(
            ("backtest", "--from", "2025-06-01", "--to", "2025-03-01"), ("before --from",), marks=pytest.mark.slow
        ),
        pytest.param(
            ("backtest", "--from", "2031-01-01", "--to", "2031-06-01"),
            ("choose earlier dates",),
            marks=pytest.mark.slow,
        ),
    ],
)
def test_bad_options_are_one_line_errors(
    crm: Path, env: dict[str, str], args: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    assert_one_line_error(salesml(*args, "--data", crm, env=env), *fragments)


@pytest.mark.slow  # a salesml process that loads the model first
def test_score_with_no_deal_open_yet_is_one_line(crm: Path, env: dict[str, str], tmp_path: Path) -> None:
    """At the first lead's creation no deal exists yet: nothing to score (LightGBM divided by zero rows)."""
    first = pd.read_parquet(crm / "leads.parquet")["created_at"].min()
    proc = salesml("score", "--model", "close_probability", "--data", crm, "--as-of", first.isoformat(),
                   "--out", tmp_path / "s.csv", env=env)  # fmt: skip
    assert_one_line_error(proc, f"no opportunity is open as of {first:%Y-%m-%d %H:%M}: nothing to score")


def test_score_out_in_a_missing_directory_creates_it(crm: Path, env: dict[str, str], tmp_path: Path) -> None:
    """As every --out of the CLI: the directories are made (scored a day after the first deal: few are open)."""
    at = pd.read_parquet(crm / "opportunities.parquet")["created_at"].min() + pd.Timedelta(days=1)
    out = tmp_path / "new" / "deeper" / "scores.csv"
    proc = salesml("score", "--model", "close_probability", "--data", crm, "--as-of", at.isoformat(), "--out", out,
                   "--show", 0, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_csv(out)) > 0


@pytest.mark.slow  # a score and an export on a store with its files moved aside
def test_lost_model_files_name_the_store_and_the_rebuild(crm: Path, env: dict[str, str], tmp_path: Path) -> None:
    """The store's artifacts folder deleted after training: scoring and export say so in one line."""
    artifacts = Path(env["SALESML_STORE"]) / "artifacts"
    aside = artifacts.rename(tmp_path / "artifacts")
    try:
        score = salesml("score", "--model", "close_probability", "--data", crm, "--out", tmp_path / "s.csv", env=env)
        export = salesml("export", "--data", crm, env=env | {"BENTOML_HOME": str(tmp_path / "bentoml")})
    finally:
        aside.rename(artifacts)
    for proc in (score, export):
        assert_one_line_error(
            proc,
            f"the MLflow store at {env['SALESML_STORE']} has lost the files of close_probability version",
            "move it aside and run salesml train again, then salesml export",
        )
