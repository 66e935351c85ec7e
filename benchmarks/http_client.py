"""The benchmarks' HTTP client: lean, keep-alive, so the client's own cost stays out of the server's figures."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


class PageClient:
    """A lean keep-alive HTTP/1.1 client (the standard library's): one connection to ``base``.

    httpx spent about 0.4 ms of its own on each 300 kB page here, more than libpq spends
    delivering the in-database document; this client reads the body in one Content-Length read.
    """

    def __init__(self, base: str) -> None:
        address = urlsplit(base)
        self.connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=120)

    def get(self, path: str, ok: tuple[int, ...] = (200,)) -> bytes:
        self.connection.request("GET", path)
        response = self.connection.getresponse()
        body = response.read()
        if response.status not in ok:
            raise RuntimeError(f"{path}: HTTP {response.status}: {body[:200]!r}")
        return body

    def __enter__(self) -> PageClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.connection.close()
