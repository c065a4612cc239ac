"""One trained, exported salesml and one running server for the service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.service.server import Server, Stores


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    return Stores.build(tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="session")
def server(stores: Stores, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(stores, tmp_path_factory.mktemp("predictions") / "log").start()
    yield running
    running.stop()
