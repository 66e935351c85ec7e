"""Who is asking: the bearer token of each request resolved once, to a principal or a 401.

The token look-up lives in ``spatial.access.tokens``; the rules in ``spatial.access.policy``.
Here the ``Authorization`` header becomes ``request.state.principal`` (None = anonymous),
before any route runs. A token that is malformed, unknown, revoked or expired is refused on
every path with 401, even where anonymous access would do: the caller meant to be someone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request

from api.errors import error_response
from spatial.access.principal import Principal
from spatial.access.tokens import authenticate
from spatial.errors import DatabaseUnavailable, Unauthorized


class PrincipalMiddleware:
    """ASGI middleware: ``scope['state']['principal']`` from the Authorization header."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        principal = None
        header = Headers(scope=scope).get("authorization")
        if header:
            engine = scope["app"].state.engine
            try:
                principal = await run_in_threadpool(authenticate, engine, header)
            except Unauthorized as err:
                await error_response(err)(scope, receive, send)
                return
            except OperationalError:
                unavailable = DatabaseUnavailable("the database is not reachable: cannot check the token",
                                                  retry_after=5)  # fmt: skip
                await error_response(unavailable)(scope, receive, send)
                return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def principal_of(request: Request) -> Principal | None:
    """The request's principal (None: anonymous)."""
    return getattr(request.state, "principal", None)
