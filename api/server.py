"""Run the platform with uvicorn, after checking the port and the database."""

from __future__ import annotations

import os
import socket

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
        )
        return
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning")
