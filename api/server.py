"""Run the platform with uvicorn, after checking the port and the database."""

from __future__ import annotations

import os
import socket
from typing import Any

from api.http_protocol import EnvironmentGuardedProtocol, guarded_protocol
from spatial.config import Settings
from spatial.db import check_database, database_url, make_engine
from spatial.errors import InvalidInput


def ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise InvalidInput(
                f"port {port} on {host} is busy: stop what uses it or choose another with --port "
                "(make demo PORT=NNNN)"
            ) from None


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's connection limits (``api.http_protocol``), time-outs and proxy headers.

    Header size and read time-outs are held by our httptools protocol class; idle keep-alive
    connections close after ``ONEMAP_KEEPALIVE_TIMEOUT_S``; a shutdown cancels what still runs
    after ``ONEMAP_SHUTDOWN_TIMEOUT_S`` (under 10 s).

    Proxy headers are read only from ``ONEMAP_TRUSTED_PROXIES`` (default: none).

    uvicorn's own default believes ``X-Forwarded-For`` from 127.0.0.1 (or ``FORWARDED_ALLOW_IPS``),
    so any local process, or a proxy that passes the header through unchanged, could pick the
    client address the anonymous rate limit counts. ``scope["client"]`` is the resolved address
    everyone downstream uses (``api.ratelimit.client_address``).
    """
    limits = {"http": guarded_protocol(settings), "timeout_keep_alive": settings.keepalive_timeout_s,
              "timeout_graceful_shutdown": settings.shutdown_timeout_s}  # fmt: skip
    proxies = settings.trusted_proxy_list
    if not proxies:
        return {**limits, "proxy_headers": False}
    return {**limits, "proxy_headers": True, "forwarded_allow_ips": proxies}


def run(settings: Settings, *, workers: int = 1) -> None:
    """Check, then serve until interrupted."""
    import uvicorn

    from api.app import create_app

    ensure_port_free(settings.host, settings.port)
    probe = make_engine(database_url(settings), pool_size=1)
    check_database(probe)
    probe.dispose()
    print(f"onemap serving on {settings.base_url}  (OGC API: {settings.base_url}/ogc)", flush=True)
    if workers > 1:
        # worker processes rebuild the app from the environment (ONEMAP_*)
        os.environ.update({"ONEMAP_HOST": settings.host, "ONEMAP_PORT": str(settings.port)})
        uvicorn.run(
            "api.app:app_from_environment", factory=True, host=settings.host,
            port=settings.port, workers=workers, log_level="warning",
            **(uvicorn_options(settings) | {"http": EnvironmentGuardedProtocol}),
        )
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning",
                **uvicorn_options(settings))  # fmt: skip
