"""A running service takes a new champion without a restart: ``salesml models rollback`` (or ``promote``) exports
it, every worker loads it (``POST /v1/admin/reload`` at once, with an admin key; the watch on the export within a
second), and the answers name the version that scored them. A reload that fails keeps the models served."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from serving.reload import CHECK_INTERVAL_S
from serving.schemas.scoring import LEAD_EXAMPLE
from tests.helpers import ADMIN_KEY, KEY, Stores, cut_short, salesml
from tests.serving.server import Server

MODEL, RELOAD = "lead_score", "/v1/admin/reload"
CALLS = 6  # each on a new connection, so that they reach both workers


@pytest.fixture
def two_versions(small_crm: Stores, tmp_path: Path) -> Stores:
    """A copy of the small tier where lead_score version 2 (a copy of version 1) is champion and exported, with an
    admin key beside the test keys."""
    stores = small_crm.copy(tmp_path / "stores")
    stores.register_copy(MODEL)
    promoted = salesml("models", "promote", "--model", MODEL, "--version", "2", env=stores.env)
    assert promoted.returncode == 0, promoted.stderr
    with open(stores.root / "keys", "a", encoding="utf-8") as keys:
        keys.write(f"admin: {ADMIN_KEY}\n")
    return stores


def scored_versions(server: Server) -> set[str]:
    """The lead_score versions that answered ``CALLS`` calls, each on a new connection."""
    found = set()
    for _ in range(CALLS):
        answer = httpx.post(
            f"{server.url}/v1/leads/score", json=LEAD_EXAMPLE, headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        found |= {result["model_version"] for result in answer.json()["results"]}
    return found


def reload(server: Server, key: str | None) -> httpx.Response:
    with server.client(key) as client:
        return client.post(RELOAD)


def served(answer: httpx.Response) -> dict[str, str]:
    return {model["name"]: model["version"] for model in answer.json()["models"]}


@pytest.mark.slow
def test_rollback_is_served_without_a_restart(two_versions: Stores, tmp_path: Path) -> None:
    server = Server(two_versions, tmp_path / "predictions", env={"SALESML_WORKERS": "2"}).start()
    try:
        processes = {p.pid for p in server.processes()}
        assert scored_versions(server) == {"2"}
        assert reload(server, None).status_code == 401
        assert reload(server, KEY).status_code == 403

        rolled = salesml("models", "rollback", "--model", MODEL, "--reason", "v2 misbehaves", env=two_versions.env)
        assert rolled.returncode == 0, rolled.stderr
        answer = reload(server, ADMIN_KEY)
        assert answer.status_code == 200, answer.text
        assert served(answer)[MODEL] == "1"
        time.sleep(3 * CHECK_INTERVAL_S)  # the other worker follows the touched stamp
        assert scored_versions(server) == {"1"}

        promoted = salesml("models", "promote", "--model", MODEL, "--version", "2", env=two_versions.env)
        assert promoted.returncode == 0, promoted.stderr
        time.sleep(3 * CHECK_INTERVAL_S)  # no admin call: each worker's watch sees the export
        assert scored_versions(server) == {"2"}

        cut_short(two_versions.root / "bentoml", MODEL)
        failed = reload(server, ADMIN_KEY)
        assert failed.status_code == 503
        assert failed.json()["message"].startswith(f"reload failed, still serving {MODEL} v2")
        assert scored_versions(server) == {"2"}
        assert {p.pid for p in server.processes()} == processes  # no worker was restarted
    finally:
        server.stop()
