"""The README's request examples work against the demo city (issue 15, item 5; a first part).

Every `GET /…` example in the README's tables and every http://127.0.0.1:8000/… address in its
URL table is requested from the served demo: each must answer 200, and the geocoding and
suggestion examples must find something (an example that finds nothing teaches nothing).
Examples with placeholders ({z}, …, om_…) are left to the tests of their own doors.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from spatial.config import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
GET_EXAMPLE = re.compile(r"`GET (/[^`\s]+)`")
LOCAL_URL = re.compile(r"http://127\.0\.0\.1:8000(/[^\s|)`]*)")
PLACEHOLDER = re.compile(r"[{}…\[\]]|om_")
FINDS_SOMETHING = ("/api/v1/geocode", "/api/v1/suggest", "/api/v1/reverse")
STAFF_ONLY = ("/api/v1/supervision/",)
"""Doors the README says are for staff: anonymous, they must refuse with 401 (not fail)."""


def examples(text: str) -> list[str]:
    """Concrete request paths in the README (no placeholders), in order, once each."""
    found = GET_EXAMPLE.findall(text) + LOCAL_URL.findall(text)
    paths = [p.rstrip(".,") for p in found if not PLACEHOLDER.search(p)]
    return list(dict.fromkeys(paths))


def test_the_readme_has_request_examples() -> None:
    paths = examples(README.read_text(encoding="utf-8"))
    assert any(p.startswith("/api/v1/geocode?q=") for p in paths) and len(paths) >= 8, paths


@pytest.mark.parametrize("path", examples(README.read_text(encoding="utf-8")))
def test_a_readme_example_answers(demo_server: str, path: str) -> None:
    response = httpx.get(demo_server + path, timeout=60)
    expected = 401 if path.startswith(STAFF_ONLY) else 200
    assert response.status_code == expected, (path, response.status_code, response.text[:300])
    if path.startswith(FINDS_SOMETHING):
        assert response.json()["features"], f"{path} finds nothing in the demo city"


def test_placeholders_are_recognised() -> None:
    sample = "`GET /api/v1/geocode?q=x` `GET /tiles/{z}/{x}.png` http://127.0.0.1:8000/ogc …"
    assert examples(sample) == ["/api/v1/geocode?q=x", "/ogc"]
    assert not Path("nonexistent").exists()
