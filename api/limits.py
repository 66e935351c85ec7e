"""The body budget of every request: refused with 413 before or while it streams, never after.

``BodyLimitMiddleware`` holds every request to ``ONEMAP_MAX_BODY_BYTES`` (the largest body any
route accepts: a layer upload): a declared ``Content-Length`` over it is answered 413 before a
byte of the body is read, and a body that streams past it (chunked, or lying about its length)
stops the route with 413 at that chunk. Routes with smaller budgets read through
``read_limited`` (e.g. Open311's XML, 1 MiB), so no body is ever held whole before its check.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from api.errors import error_response
from spatial.errors import InvalidInput, PayloadTooLarge, TooManyRequests

LENGTH = re.compile(r"[0-9]{1,19}")


def too_large(limit: int, what: str = "the request body") -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} is larger than {limit:,} bytes")


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length a request declares (None: absent or not a plain number)."""
    for name, value in headers:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if LENGTH.fullmatch(text) else None
    return None


def refuse_declared(request: Request, limit: int, message: str) -> None:
    """PayloadTooLarge(``message``) when the request declares a body over ``limit`` bytes."""
    declared = declared_length(request.scope["headers"])
    if declared is not None and declared > limit:
        raise PayloadTooLarge(message)


async def read_limited(request: Request, limit: int, what: str = "the request body") -> bytes:
    """The whole body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = declared_length(request.scope["headers"])
    if declared is not None and declared > limit:
        raise too_large(limit, what)
    chunks, received = [], 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise too_large(limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int, what: str = "the request body") -> dict[str, Any]:
    """The body as a JSON object of inputs, read within ``limit`` bytes (empty: ``{}``); 400 otherwise."""
    raw = await read_limited(request, limit, what)
    try:
        given = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError:
        raise InvalidInput(f"{what} is not JSON: send an object of inputs") from None
    if not isinstance(given, dict):
        raise InvalidInput(f"{what} must be a JSON object of inputs")
    return given


class BodyLimitMiddleware:
    """ASGI middleware: every request body within ``settings.max_body_bytes`` (413 otherwise)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = scope["app"].state.settings.body_limit
        declared = declared_length(scope["headers"])
        if declared is not None and declared > limit:
            await error_response(too_large(limit))(scope, receive, send)
            return
        received = 0

        async def counted() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large(limit)
            return message

        await self.app(scope, counted, send)


class ConcurrencyBudget:
    """At most ``limit`` of something at once in this process (event streams): the next is refused
    with 429 and ``Retry-After`` before any work starts; ``release`` gives the slot back."""

    def __init__(self, limit: int, what: str, retry_after: int = 30) -> None:
        self.limit, self.what, self.retry_after = limit, what, retry_after
        self.used = 0

    def acquire(self) -> None:
        """Take a slot (the event loop is single-threaded: no lock needed)."""
        if self.used >= self.limit:
            raise TooManyRequests(f"all {self.limit} {self.what} are in use: try again in a while",
                                  retry_after=self.retry_after)  # fmt: skip
        self.used += 1

    def release(self) -> None:
        self.used = max(0, self.used - 1)
