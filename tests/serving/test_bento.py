"""``bentoml build`` packs the service with the exported models, and the bento serves what the source serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from serving.schemas.scoring import LEAD_EXAMPLE
from tests.helpers import ROOT
from tests.serving.server import Server, Stores


def _bentoml(stores: Stores, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bentoml", *args],
        cwd=ROOT,
        env=os.environ | stores.env,
        capture_output=True,
        text=True,
        timeout=300,
    )


pytestmark = pytest.mark.slow  # a bento built, and served from


@pytest.fixture(scope="module")
def bento(stores: Stores) -> str:
    built = _bentoml(stores, "build", "-o", "tag")
    assert built.returncode == 0, built.stderr + built.stdout
    return built.stdout.strip().splitlines()[-1].removeprefix("__tag__:")


def test_the_bento_carries_the_champions_and_the_history(stores: Stores, bento: str) -> None:
    shown = _bentoml(stores, "get", bento, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    (service,) = json.loads(shown.stdout)["services"]
    assert {m["tag"].split(":")[0] for m in service["models"]} == {"lead_score", "close_probability", "salesml_context"}


def test_the_built_bento_scores_like_the_source(stores: Stores, bento: str, server: Server, tmp_path) -> None:
    from_bento = Server(stores, tmp_path / "log", target=bento).start()
    try:
        with from_bento.client() as client, server.client() as source:
            built, direct = (c.post("/v1/leads/score", json=LEAD_EXAMPLE) for c in (client, source))
        assert built.status_code == direct.status_code == 200, built.text
        assert built.json()["results"][0]["probability"] == direct.json()["results"][0]["probability"]
    finally:
        from_bento.stop()
