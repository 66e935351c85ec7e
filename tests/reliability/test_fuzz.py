"""schemathesis over the whole OpenAPI documents, anonymous and with tokens, writes included.

Checks: no 5xx, every answer matches its documented schema, status code and content type (the
REST/Open311 document is derived by FastAPI from the routers, ``api/rest.py``); for OGC API (pygeoapi's generated
document) no 5xx and schema conformance. Each run has a time budget so the suite stays quick;
``ONEMAP_FUZZ_SCALE=10`` runs ten times longer for a deeper search (the anonymous GET run over
OGC API is ``tests/test_ogc_clients.py``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import ReliableCity

SCALE = float(os.environ.get("ONEMAP_FUZZ_SCALE", "1"))
ALL_CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
OGC_CHECKS = "not_a_server_error,response_schema_conformance"
RUNS = {
    "rest-anonymous": ("/api/v1/openapi.json", None, ALL_CHECKS, (), 8, 45),
    "rest-admin": ("/api/v1/openapi.json", "admin", ALL_CHECKS, (), 8, 60),
    "ogc-admin": ("/ogc/openapi?f=json", "admin", OGC_CHECKS, (), 4, 90),
    "ogc-editor-writes": ("/ogc/openapi?f=json", "editor", OGC_CHECKS, ("POST", "PUT", "PATCH", "DELETE"), 8, 60),
}


def schemathesis(url: str, checks: str, *, token: str | None, methods: tuple[str, ...], examples: int,
                 seconds: float, cwd: Path) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """One bounded schemathesis run."""
    args = [str(Path(sys.executable).parent / "schemathesis"), "run", url, "--checks", checks,
            "--max-examples", str(examples), "--seed", "9", "--request-timeout", "60", "--no-color",
            "--max-time", str(int(seconds * SCALE)), "--phases", "examples,coverage,fuzzing,stateful"]  # fmt: skip
    for method in methods:
        args += ["--include-method", method]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=seconds * SCALE + 600, cwd=cwd)


@pytest.mark.parametrize("run", list(RUNS))
def test_fuzzing_finds_no_server_error_nor_schema_break(reliable_city: ReliableCity, run: str, tmp_path: Path) -> None:
    path, role, checks, methods, examples, seconds = RUNS[run]
    token = reliable_city.tokens[role] if role else None
    result = schemathesis(reliable_city.base + path, checks, token=token, methods=methods, examples=examples,
                          seconds=seconds, cwd=tmp_path)  # fmt: skip
    tail = "\n".join(result.stdout.splitlines()[-60:])
    counted = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    print(f"\nfuzzing {run}: {counted.group(1) if counted else '?'} requests generated, {'no' if result.returncode == 0 else 'some'} failures")
    assert result.returncode == 0, tail
    assert counted and int(counted.group(1)) > 100 and counted.group(1) == counted.group(2), tail
