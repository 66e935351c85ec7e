"""The connection's budget, before any request reaches the app: header size and read time-outs.

uvicorn's httptools protocol accepts a header block of any size (a 200 MB header was read into
memory) and waits forever for a client that opens a connection and sends its request slowly,
or nothing at all. This subclass of it keeps three limits from the settings:

- ``ONEMAP_MAX_HEADER_BYTES``: the request line and headers together; past it the connection
  is answered ``431 Request Header Fields Too Large`` and closed, after reading no more than
  one network read past the limit;
- ``ONEMAP_HEADER_TIMEOUT_S``: from the connection (or the end of the previous response) to the
  end of the headers; past it: ``408 Request Timeout`` and closed (slowloris, idle sockets);
- ``ONEMAP_BODY_TIMEOUT_S``: from the end of the headers to the end of the body; past it the
  connection is closed, and the app sees the client as gone (``http.disconnect``).

Body size is the app's business (``api.limits.BodyLimitMiddleware``: 413 while streaming), as
are idle keep-alive connections (uvicorn's ``timeout_keep_alive``).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from spatial.config import Settings

REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}
CODES = {408: "RequestTimeout", 431: "RequestHeaderFieldsTooLarge"}  # the one error shape's "code"


def guarded_protocol(settings: Settings) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol class, with the settings' connection limits."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {
        "max_header_bytes": settings.max_header_bytes,
        "header_timeout_s": settings.header_timeout_s,
        "body_timeout_s": settings.body_timeout_s,
    })  # fmt: skip


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """httptools' protocol with a header budget and read time-outs (see the module)."""

    max_header_bytes = 64 * 1024
    header_timeout_s = 10.0
    body_timeout_s = 300.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refused = False
        self._in_headers = True
        self._header_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._arm(self.header_timeout_s, self._headers_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._in_headers and self._header_bytes > self.max_header_bytes and not self._refused:
            self._refuse(431, f"the request line and headers are over {self.max_header_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._header_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_header_bytes:  # a block that arrived whole in one read
            self._refuse(431, f"the request line and headers are over {self.max_header_bytes} bytes")
            return
        self._arm(self.body_timeout_s, self._body_too_slow)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._refused:
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():  # the next request's headers are timed afresh
            self._in_headers = True
            self._arm(self.header_timeout_s + self.timeout_keep_alive, self._headers_too_slow)

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # a parser error after our own refusal says nothing new
            super().send_400_response(msg)

    # ------------------------------------------------------------------------- refusals
    def _headers_too_slow(self) -> None:
        if self._in_headers and not self.transport.is_closing():
            self._refuse(408, f"the request headers did not arrive within {self.header_timeout_s:g} s")

    def _body_too_slow(self) -> None:
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            self.logger.warning("closing a connection whose body did not arrive within %s s", self.body_timeout_s)
            self.transport.close()  # the app's receive() answers http.disconnect

    def _refuse(self, status: int, message: str) -> None:
        self._refused = True
        self._disarm()
        # the error document every door answers (api/errors.py), written here: no app runs for this request
        body = json.dumps({"code": CODES[status], "type": CODES[status], "description": message}).encode()
        head = [b"HTTP/1.1 %d %s\r\n" % (status, REASONS[status]),
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body), b"connection: close\r\n\r\n"]  # fmt: skip
        self.transport.write(b"".join(head) + body)
        self.transport.close()

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            timer.cancel()
            self._timer = None


class EnvironmentGuardedProtocol(GuardedHttpToolsProtocol):
    """For ``--workers N``: uvicorn pickles the protocol class into each worker process, so it must
    be importable by name (``guarded_protocol``'s classes are not); its limits are read once from the
    environment's settings (ONEMAP_*), as the workers' app is."""

    _configured = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        cls = type(self)
        if not cls._configured:
            settings = Settings()
            cls.max_header_bytes = settings.max_header_bytes
            cls.header_timeout_s = settings.header_timeout_s
            cls.body_timeout_s = settings.body_timeout_s
            cls._configured = True
        super().connection_made(transport)
