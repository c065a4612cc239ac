"""A real salesml service for tests: the trained, exported stores of a tier (tests/conftest.py) served by
``salesml serve`` on a free loopback port."""

from __future__ import annotations

import httpx

from benchmarks.server import Server as MeasuredServer
from benchmarks.server import free_port
from features.crm.privacy import KEY_FILE, Redactor
from tests.helpers import KEY, REVOKED, Stores

__all__ = ["KEY", "REVOKED", "Server", "Stores", "free_port"]


class Server(MeasuredServer):
    """The benchmarks' server, with a client that sends a key and the redactor its log is written with."""

    def redactor(self) -> Redactor:
        """What the server redacts its log with: the key the test set, else the one it created in the store."""
        key = self.env.get("SALESML_LOG_HASH_KEY")
        return Redactor(key.encode() if key else (self.stores.store / KEY_FILE).read_bytes().strip())

    def client(self, key: str | None = KEY) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)
