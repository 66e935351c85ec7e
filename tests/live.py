"""A real HTTP server for tests: the platform's app under uvicorn in a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn
from sqlalchemy import Engine

from api.app import create_app
from api.server import uvicorn_options
from spatial.config import Settings
from spatial.postgis import free_port


@dataclass
class ServedCity:
    """A test city served over HTTP: its database, settings, engine, base URL and a token per role."""

    url: str
    settings: Settings
    engine: Engine
    base: str
    tokens: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        """The Authorization header of a role."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """Serve ``create_app(settings)`` on a free loopback port; yield its base URL."""
    port = free_port()
    settings = settings.model_copy(update={"host": "127.0.0.1", "port": port, "public_url": None})
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                            **uvicorn_options(settings))  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def get_json(url: str, **params: object) -> dict:
    response = httpx.get(url, params=params, timeout=30)
    response.raise_for_status()
    return response.json()
