"""A trained and exported salesml in a directory of its own, built with the real ``salesml`` command as a user
builds it, so benchmarks never touch the repository's stores and several benchmarks can share one build."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from features.scoring import MODELS  # the service declares both

ROOT = Path(__file__).resolve().parents[1]
SETUP_FILE = "setup.json"  # what a build was made with, and how long its steps took


@dataclass(frozen=True)
class StoreSize:
    leads: int  # synthetic CRM the models are trained on
    trials: int  # Optuna trials of lead_score (close_probability gets one: only lead_score is measured)
    seed: int


# The smallest build every model trains on: the quick runs of the benchmarks that need one share it, and the test
# suite's small tier is the same build, which its quick runs of the benchmarks reuse.
QUICK_STORE = StoreSize(leads=3_000, trials=2, seed=11)


def salesml(*args: object, env: dict[str, str]) -> float:
    """Run the real ``salesml`` command; its wall seconds (raises with its output when it fails)."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "salesml_cli", *map(str, args)],
        cwd=ROOT,
        env=os.environ | env | {"COLUMNS": "200", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"salesml {' '.join(map(str, args))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - began


@dataclass
class Stores:
    """The private MLflow and BentoML stores, the data and the API key file of one salesml."""

    root: Path
    data: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment that points ``salesml`` (and this process, when applied) at these stores alone."""
        return {
            "SALESML_STORE": str(self.root / "mlflow"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{self.root / 'mlflow' / 'mlflow.db'}",
            "BENTOML_HOME": str(self.root / "bentoml"),
            "SALESML_REPORT_DIR": str(self.root / "reports"),
            "SALESML_API_KEY_FILE": str(self.keys),
            "SALESML_API_KEYS": "",
            "BENTOML_DO_NOT_TRACK": "true",
        }

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    def build(self, size: StoreSize) -> dict[str, float]:
        """Synthesise, train both models (champions whatever the gate says: a benchmark needs a served model, not a
        good one) and export: seconds of each step."""
        data, env = self.data, self.env
        synth = salesml("data", "synth", "--out", data, "--leads", size.leads, "--seed", size.seed, env=env)
        lead, deal = MODELS
        train = salesml("train", "--model", lead, "--data", data, "--trials", size.trials, "--promote", env=env)
        salesml("train", "--model", deal, "--data", data, "--trials", 1, "--promote", env=env)
        return {"synth": synth, "train": train, "export": salesml("export", "--data", data, env=env)}

    def register_copy(self, name: str, version: str = "1") -> str:
        """A new registered version of ``name`` holding the same model as ``version`` (no training: the version tests
        and the shadow benchmark need a second version, not a different model); its number."""
        from mlflow.tracking import MlflowClient

        uri = self.env["MLFLOW_TRACKING_URI"]
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        old = client.get_model_version(name, version)
        # The version's source names its logged model (models:/m-...), which MLflow would look up through the
        # process-wide tracking URI, not the client's: the model's own files are named instead, so that nothing
        # process-wide is set (mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI into the environment, where
        # later tests and their processes would find this store).
        model_id = old.source.removeprefix("models:/")
        source = client.get_logged_model(model_id).artifact_location
        return str(client.create_model_version(name, source, old.run_id, tags=old.tags, model_id=model_id).version)

    def with_challenger(self, name: str) -> str:
        """A second registered version of ``name`` (``register_copy``) aliased challenger and exported beside the
        champion, which the service shadow-scores with; its number."""
        from mlflow.tracking import MlflowClient

        from features.scoring.pyfunc import CHALLENGER

        version = self.register_copy(name)
        uri = self.env["MLFLOW_TRACKING_URI"]
        MlflowClient(tracking_uri=uri, registry_uri=uri).set_registered_model_alias(name, CHALLENGER, version)
        salesml("export", "--data", self.data, env=self.env)
        return version

    @classmethod
    def prepare(cls, root: Path, size: StoreSize) -> tuple[Stores, dict[str, float]]:
        """Stores in ``root``: built, or reused when an earlier run built them with the same size; the seconds of
        each build step."""
        stores, done = cls(root, root / "data"), root / SETUP_FILE
        wanted = asdict(size)
        if done.exists():
            setup = json.loads(done.read_text())
            if {k: setup.get(k) for k in wanted} != wanted:
                raise SystemExit(f"{root} holds stores built with {setup}; use another directory")
            return stores, setup
        print(f"building stores in {root} ({size.leads:,} leads, {size.trials} trials)...", file=sys.stderr)
        root.mkdir(parents=True, exist_ok=True)
        setup = stores.build(size) | wanted
        done.write_text(json.dumps(setup))
        return stores, setup


@contextlib.contextmanager
def workdir(kept: Path | None, prefix: str) -> Iterator[Path]:
    """``kept`` (stores built there stay for the next run), or a temporary directory removed after the run."""
    if kept is not None:
        yield kept.resolve()
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
