"""A running service takes a new champion without a restart: ``salesml models rollback`` (or ``promote``) exports
it, every worker loads it (``POST /v1/admin/reload`` at once, with an admin key; the watch on the export within a
second), and the answers name the version that scored them. A reload that fails keeps the models served."""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from features.crm.dataset import read_dataset, write_dataset
from features.crm.schema import ExtraColumn
from features.insights.monitoring.outcomes import read_log
from serving.reload import CHECK_INTERVAL_S
from serving.schemas.scoring import LEAD_EXAMPLE
from serving.schemas.workflow import QUALITY_EXAMPLE
from tests.helpers import ADMIN_KEY, KEY, Stores, cut_short, salesml
from tests.serving.server import Server

MODEL, RELOAD = "lead_score", "/v1/admin/reload"
REMARK, SECRET = "remark", "客户下周秘密访问苏州工厂 reload-planted-sentence"
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


def with_remarks(stores: Stores, out: Path) -> Path:
    """The stores' history with a free-text ``remark`` column on deals, as a source that exports notes declares it."""
    ds = read_dataset(stores.data)
    deals = ds.tables["opportunities"].assign(**{REMARK: "已联系"})
    extras = {**ds.manifest.extra_columns}
    extras["opportunities"] = [*extras.get("opportunities", []), ExtraColumn(REMARK, "text")]
    manifest = replace(ds.manifest, extra_columns=extras)
    write_dataset(replace(ds, manifest=manifest, tables={**ds.tables, "opportunities": deals}), out)
    return out


def logged_remark(server: Server) -> object:
    """A deal's follow-up quality asked with the planted remark (the call logs its request): the remark as the
    prediction log holds it."""
    quality = copy.deepcopy(QUALITY_EXAMPLE)
    quality["opportunity"]["attributes"] = {REMARK: SECRET}
    with server.client() as client:
        answer = client.post("/v1/activities/quality", json=quality)
    assert answer.status_code == 200, answer.text
    (record,) = [r for r in read_log(server.log_dir) if r["request_id"] == answer.json()["request_id"]]
    return record["request"]["opportunity"]["attributes"][REMARK]


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

        # a history whose source declares a free-text column: the reloaded workers hash it whole in the log
        exported = salesml("export", "--data", with_remarks(two_versions, tmp_path / "remarks"), env=two_versions.env)
        assert exported.returncode == 0, exported.stderr
        time.sleep(3 * CHECK_INTERVAL_S)
        hashed = f"<text:{len(SECRET)}:{server.redactor().digest('text', SECRET)}>"
        for _ in range(CALLS):  # each on a new connection, so that both workers are seen
            assert logged_remark(server) == hashed

        cut_short(two_versions.root / "bentoml", MODEL)
        failed = reload(server, ADMIN_KEY)
        assert failed.status_code == 503
        assert failed.json()["message"].startswith(f"reload failed, still serving {MODEL} v2")
        assert scored_versions(server) == {"2"}
        assert {p.pid for p in server.processes()} == processes  # no worker was restarted
    finally:
        server.stop()
