"""One trained, exported salesml (the session's small CRM) and one running server for the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.serving.server import Server, Stores


@pytest.fixture(scope="session")
def stores(small_crm: Stores) -> Stores:
    return small_crm


@pytest.fixture(scope="session")
def server(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(stores, tmp_path_factory.mktemp("predictions") / "log").start()
    yield running
    running.stop()
