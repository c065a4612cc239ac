"""A real salesml service for tests: the trained, exported stores of a tier (tests/conftest.py) served by
``salesml serve`` on a free loopback port."""

from __future__ import annotations

import httpx

from benchmarks.server import Server as MeasuredServer
from benchmarks.server import free_port
from tests.helpers import KEY, REVOKED, Stores

__all__ = ["KEY", "REVOKED", "Server", "Stores", "free_port"]


class Server(MeasuredServer):
    """The benchmarks' server, with a client that sends a key."""

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)
