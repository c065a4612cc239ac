"""The analyst notebooks run top to bottom in the project's own kernel against the session's small simulated CRM
and a private MLflow store holding both models, and they are committed without outputs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient

from features.crm.dataset import read_dataset
from features.errors import DataError
from features.insights.health import funnel
from tests.helpers import ROOT, Stores
from training.explain import factor_changes, open_matrix
from training.registry import load_scorer

NOTEBOOKS = ROOT / "notebooks"
# notebook -> (images it must show, text its outputs must contain)
EXPECTED = {
    "1.0-explore-crm-data.ipynb": (1, ("needs_confirmed", "activation_rate", "Validation of")),
    "2.0-retrain-lead-score.ipynb": (0, ("challenger v2", "champion v1", "promoted by the gate")),
    "3.0-explain-deals.ipynb": (3, ("p(win)", "change")),
    "4.0-forecast-backtest.ipynb": (2, ("won_to_date", "p_yellow", "stage_weighted")),
}


@pytest.fixture(scope="module")
def env(small_crm: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A copy of the session's small CRM and its data (both models trained, 2 trials: the retraining notebook adds a
    version, the exploring one validates the data, which writes beside it); kernels inherit the variables."""
    stores = small_crm.copy(tmp_path_factory.mktemp("notebooks") / "stores", with_data=True)
    data, store = stores.data, stores.store
    values = {
        "SALESML_DATA": str(data),
        "SALESML_STORE": str(store),
        "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
        "SALESML_TRIALS": "2",
        "SALESML_BACKTEST_FROM": "2025-11-01",
        "SALESML_BACKTEST_TO": "2025-11-30",
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in values.items():
            mp.setenv(key, value)
        yield values


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]


def test_committed_notebooks_are_the_four_and_have_no_outputs() -> None:
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert [p.name for p in paths] == sorted(EXPECTED)
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        code = [cell for cell in nb.cells if cell.cell_type == "code"]
        assert code and all(not cell.outputs and cell.execution_count is None for cell in code), path.name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_top_to_bottom(name: str, env: dict[str, str]) -> None:
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = _outputs(nb)
    images, fragments = EXPECTED[name]
    assert sum("image/png" in out.get("data", {}) for out in outputs) >= images
    text = "\n".join(str(out.get("data", {}).get("text/plain", "")) + str(out.get("text", "")) for out in outputs)
    for fragment in fragments:
        assert fragment in text, f"{name}: {fragment!r} not in its outputs"
    if name.startswith("2.0"):
        uri = env["MLFLOW_TRACKING_URI"]  # the registry too: in-process trainings set a global registry URI
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        assert str(client.get_model_version_by_alias("lead_score", "champion").version) == "2"


@pytest.mark.slow
def test_factor_changes_move_only_with_time_and_need_the_deal_to_exist(env: dict[str, str]) -> None:
    ds = read_dataset(Path(env["SALESML_DATA"]))
    scorer, _ = load_scorer("close_probability")
    deals, _ = open_matrix(scorer, ds)
    same = factor_changes(scorer, ds, deals["entity_id"].iloc[0], ds.manifest.exported_at, days=0)
    assert (same.factors["change"] == 0).all() and same.p_before == same.p_at
    week = factor_changes(scorer, ds, deals["entity_id"].iloc[0], ds.manifest.exported_at, days=7)
    assert (week.factors["change"] == week.factors["at"] - week.factors["before"]).all()
    assert week.factors["change"].abs().is_monotonic_decreasing
    created = ds.get("opportunities").set_index("opportunity_id")["created_at"]
    with pytest.raises(DataError, match="before the opportunity was created"):
        factor_changes(scorer, ds, deals["entity_id"].iloc[0], created[deals["entity_id"].iloc[0]], days=7)


def test_funnel_narrows_stage_by_stage(small_data: Path) -> None:
    table = funnel(read_dataset(small_data))
    assert table["reached"].is_monotonic_decreasing and table["reached"].iloc[-1] > 0
    assert (table[["won", "lost", "open"]].sum(axis=1) == table["reached"]).all()
    assert table["won"].nunique() == 1  # a won deal went through every stage
