"""A crash under load loses no answered prediction: every 200 a client got is in the prediction log.

A dedicated server (the shared one must survive) scores a few hundred concurrent requests of a few leads or deals
each, and is SIGKILLed with every process it started once enough of them have been answered (``Server.kill``):
no shutdown hook runs.

Then every request answered with a 200 must have one log line per scored item (its request id and entity id, with
the model and probability it was answered with), and the log must still parse: no torn line.
"""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from features.insights.monitoring.outcomes import read_log
from serving.schemas.scoring import LEAD_EXAMPLE, OPPORTUNITY_EXAMPLE
from tests.serving.server import KEY, Server, Stores

REQUESTS = 400
ITEMS = 3  # leads or deals per request
WORKERS = 8
KILL_AFTER = 80  # answered requests before the SIGKILL
MIN_ANSWERED = 20


def payload(i: int) -> tuple[str, dict[str, Any], list[str]]:
    """Request ``i``: its path, its body and the entity ids it carries (unique over the whole test)."""
    if i % 3 == 2:
        path, example, items, key = "/v1/opportunities/score", OPPORTUNITY_EXAMPLE, "opportunities", "opportunity_id"
    else:
        path, example, items, key = "/v1/leads/score", LEAD_EXAMPLE, "leads", "lead_id"
    entities = []
    for j in range(ITEMS):
        entity = copy.deepcopy(example[items][0])
        entity[key] = f"crash-{i:04d}-{j}"
        entities.append(entity)
    return path, {**example, items: entities}, [e[key] for e in entities]


def crash(server: Server) -> None:
    """SIGKILL the server and every process it started; none may be left serving."""
    assert server.process is not None
    workers = psutil.Process(server.process.pid).children(recursive=True)
    assert workers, "no worker process found under the server"
    server.kill()
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE], "still running"


@pytest.mark.slow
def test_sigkill_under_load_loses_no_answered_prediction(stores: Stores, tmp_path: Path) -> None:
    server = Server(stores, tmp_path / "log").start()
    answered: list[tuple[str, list[str], dict[str, Any]]] = []  # (path, entity ids sent, response body)
    refused: list[str] = []  # anything but a complete 200: cut off by the kill, or a non-200
    lock, enough = threading.Lock(), threading.Event()
    local, clients = threading.local(), []

    def send(i: int) -> None:
        path, body, ids = payload(i)
        if not hasattr(local, "client"):
            local.client = server.client(key=KEY)
            with lock:
                clients.append(local.client)
        try:
            response = local.client.post(path, json=body)
        except httpx.HTTPError as error:
            with lock:
                refused.append(f"{i}: {type(error).__name__}")
            return
        with lock:
            if response.status_code == 200:
                answered.append((path, ids, response.json()))
            else:
                refused.append(f"{i}: {response.status_code} {response.text[:200]}")
            if len(answered) >= KILL_AFTER or len(answered) + len(refused) == REQUESTS:
                enough.set()

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            futures = [pool.submit(send, i) for i in range(REQUESTS)]
            enough.wait(timeout=300)
            crash(server)
            for future in futures:
                future.result()
    finally:
        server.stop()
        for client in clients:
            client.close()
    assert server.process is not None and server.process.returncode is not None, "the server outlived the SIGKILL"

    assert len(answered) >= MIN_ANSWERED, f"only {len(answered)} answers before the kill: {refused[:5]}"
    assert refused, "every request was answered: the kill did not happen under load"

    log = read_log(server.log_dir)  # raises on a torn line
    logged = {(r["request_id"], r["entity_id"]): r for r in log}
    missing = []
    for path, ids, body in answered:
        key = "opportunity_id" if path.startswith("/v1/opportunities") else "lead_id"
        assert [r[key] for r in body["results"]] == ids
        for result in body["results"]:
            record = logged.get((body["request_id"], result[key]))
            if record is None:
                missing.append((body["request_id"], result[key]))
                continue
            assert record["endpoint"] == path
            assert record["model"] == result["model"]
            assert record["model_version"] == result["model_version"]
            assert record["probability"] == pytest.approx(result["probability"])
            assert record["score"] == result["score"]
    assert not missing, f"{len(missing)} answered predictions are not in the log, e.g. {missing[:5]}"
    print(f"{len(answered)} answered, {len(refused)} cut off or refused, {len(log)} log lines")
