"""The connection's and the body's budgets over a real socket (issue 13, deliverable 4).

A server with short time-outs is started on the migrated test database; clients are raw sockets,
so nothing between the test and uvicorn tidies the bytes up: a huge header block is 431 and the
connection closed, slow or silent clients are 408, bodies over their budget are 413 before or
while they stream, and /health keeps answering meanwhile. Shutdown finishes within its budget
even with a request in flight.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.server import uvicorn_options
from spatial.config import Settings
from spatial.postgis import free_port
from tests.live import live_server

HEADER_LIMIT = 16 * 1024


@pytest.fixture(scope="module")
def tight_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "max_header_bytes": HEADER_LIMIT, "header_timeout_s": 1.0, "body_timeout_s": 2.0,
        "max_body_bytes": 1024 * 1024, "max_upload_bytes": 512 * 1024, "max_feature_bytes": 256 * 1024,
        "geocode_batch_max_bytes": 256 * 1024,
    })  # fmt: skip


@pytest.fixture(scope="module")
def tight_server(tight_settings: Settings) -> Iterator[tuple[str, int]]:
    with live_server(tight_settings) as base:
        yield "127.0.0.1", int(base.rsplit(":", 1)[1])


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """Everything the server says until it closes the connection (or 10 s pass)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def _health(address: tuple[str, int]) -> int:
    return httpx.get(f"http://{address[0]}:{address[1]}/health", timeout=5).status_code


def test_a_huge_header_block_is_431_and_closed(tight_server) -> None:
    sock = _connect(tight_server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
    sent = 0
    try:  # up to 200 MB, as the outsider did: the server must close long before
        while sent < 200 * 1024 * 1024:
            sock.sendall(b"a" * 65536)
            sent += 65536
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = _answer(sock)
    sock.close()
    assert _status(answer) == 431, answer[:200]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower()  # the one error shape, not plain text
    assert json.loads(body)["code"] == "RequestHeaderFieldsTooLarge"
    assert sent < 64 * 1024 * 1024  # refused long before the end
    assert _health(tight_server) == 200


def test_many_headers_are_431(tight_server) -> None:
    sock = _connect(tight_server)
    headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(400))
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    answer = _answer(sock)
    sock.close()
    assert _status(answer) == 431, answer[:200]


def test_headers_under_the_limit_pass(tight_server) -> None:
    sock = _connect(tight_server)
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Fine: " + b"a" * 4000 + b"\r\nConnection: close\r\n\r\n")
    answer = _answer(sock)
    sock.close()
    assert _status(answer) == 200, answer[:200]


@pytest.mark.parametrize("opening", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"])
def test_silent_and_slow_clients_are_408(tight_server, opening: bytes) -> None:
    sock = _connect(tight_server)
    sock.sendall(opening)
    answer = _answer(sock)  # the server speaks first once its header time-out passes
    sock.close()
    assert _status(answer) == 408, answer[:200]


def test_slowloris_does_not_starve_health(tight_server) -> None:
    sockets = []
    for _ in range(50):
        sock = _connect(tight_server)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        sockets.append(sock)
    try:
        assert _health(tight_server) == 200
    finally:
        for sock in sockets:
            sock.close()


def test_a_declared_body_over_the_budget_is_413_unread(tight_server) -> None:
    sock = _connect(tight_server)
    sock.sendall(b"POST /api/v1/incidents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 300000000\r\n\r\n")  # fmt: skip
    answer = _answer(sock)
    sock.close()
    assert _status(answer) == 413, answer[:300]


def test_a_chunked_body_past_the_budget_is_413(tight_server) -> None:
    host, port = tight_server

    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 4 MiB in all, the budget is 1 MiB
            yield b"x" * 65536

    answer = httpx.post(f"http://{host}:{port}/api/v1/geocode/batch", content=chunks(),
                        headers={"Content-Type": "text/csv"}, timeout=30)  # fmt: skip
    assert answer.status_code == 413, answer.text


def test_open311_xml_over_its_budget_is_413(tight_server) -> None:
    host, port = tight_server
    body = b"<?xml version='1.0'?><request><description>" + b"a" * (2 * 1024 * 1024) + b"</description></request>"
    answer = httpx.post(f"http://{host}:{port}/open311/v2/requests.xml", content=body,
                        headers={"Content-Type": "text/xml"}, timeout=30)  # fmt: skip
    assert answer.status_code == 413, answer.text


def test_a_body_that_stops_arriving_is_dropped(tight_server) -> None:
    sock = _connect(tight_server)
    sock.sendall(b"POST /api/v1/geocode/batch HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                 b"Content-Length: 1000\r\n\r\nq\n")  # fmt: skip
    answer = _answer(sock)  # the body time-out (2 s) closes the connection
    sock.close()
    assert _status(answer) in (0, 400, 408), answer[:200]
    assert _health(tight_server) == 200


def test_shutdown_finishes_within_its_budget_with_a_request_in_flight(tight_settings: Settings) -> None:
    port = free_port()
    settings = tight_settings.model_copy(update={"port": port, "body_timeout_s": 60.0})
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", **uvicorn_options(settings)))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    sock = _connect(("127.0.0.1", port))
    sock.sendall(b"POST /api/v1/geocode/batch HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
                 b"Content-Length: 1000\r\n\r\nq\n")  # a request that never finishes  # fmt: skip
    time.sleep(0.5)
    server.should_exit = True
    thread.join(timeout=settings.shutdown_timeout_s + 4)  # the budget, plus the server's own tick
    sock.close()
    assert not thread.is_alive(), "the server was still running past its shutdown budget"


def test_a_statement_over_its_budget_is_cancelled_and_answered_503(db_url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from api.errors import as_domain_error
    from spatial.db import make_engine

    engine = make_engine(db_url, pool_size=1, interactive=True, statement_timeout_s=0.2)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(5)"))
        err = as_domain_error(caught.value)
        assert err is not None and err.status == 503 and "busy" in err.message
        with engine.connect() as conn:  # the connection is usable again at once
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
