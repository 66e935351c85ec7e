"""Run the independent ``ogctests`` suite (PyPI) against a live onemap; run by tests/test_ogctests.py.

It runs with the Python of its own virtual environment (``.venv-ogctests``, made by ``make venv``):
ogctests 0.1.15 pins httpx <0.28, pyarrow <18 and pytest <9, which the project's venv does not hold.

    python tests/ogctests_runner.py BASE_URL SCOPE JUNIT_XML [pytest arguments…]

The suite's own HTTP client is replaced (its documented ``test_client`` hook) by one that shows it
only the collections offering items: ogctests treats every collection of ``/collections`` as a
feature collection, while OGC API Common lets coverages and maps live there too, and the official
test suite tests only collections with items (ets-ogcapi-features10 #134, #138). The collections
left out are printed on a line starting with ``SET ASIDE:`` so the caller can check them.
"""

from __future__ import annotations

import json
import os
import sys

import httpx
from ogctests.main import run_ogctests


class CollectionsWithItems(httpx.HTTPTransport):
    """An HTTP transport whose ``/collections`` answers list only collections with an items link."""

    set_aside: set[str] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method != "GET" or not request.url.path.rstrip("/").endswith("/collections"):
            return response
        response.read()
        if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
            return response
        document = json.loads(response.content)
        kept = [c for c in document.get("collections", []) if has_items(c)]
        self.set_aside.update(c["id"] for c in document.get("collections", []) if not has_items(c))
        document["collections"] = kept
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", "content-encoding")]
        return httpx.Response(response.status_code, headers=headers, content=json.dumps(document).encode(),
                              request=request)  # fmt: skip


def has_items(collection: dict) -> bool:
    """Whether a collection document offers items (a link with rel ``items``)."""
    return any(link.get("rel") == "items" for link in collection.get("links", []))


def main(base_url: str, scope: str, junit: str, *pytest_args: str) -> int:
    transport = CollectionsWithItems()
    with httpx.Client(base_url=base_url, transport=transport, timeout=120) as client:
        # -c: not the project's pytest settings (its venv lives inside the project)
        flags = ["-c", os.devnull, f"--junitxml={junit}", "-p", "no:cacheprovider", "-q", "--tb=short", *pytest_args]
        code = run_ogctests(scope, instance_url=base_url, flags=flags, test_client=client)
    print("SET ASIDE:", json.dumps(sorted(transport.set_aside)), flush=True)
    return int(code)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
