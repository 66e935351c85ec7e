"""Shared fixtures of the scale-out tests: a real redis-server of the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from spatial.postgis import free_port


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, int]]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        if os.environ.get("CI"):
            raise RuntimeError("redis-server is missing on CI: .ci/os-packages.sh installs it")
        pytest.skip("redis-server is not installed (.ci/os-packages.sh installs it)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    import redis

    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    try:
        yield process, port
    finally:
        process.kill()
        process.wait(timeout=10)
