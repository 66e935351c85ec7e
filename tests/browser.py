"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright, for page tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is missing: `make test` installs it (package chromium)")
    return path


def _failed(request: Any, problems: list[str]) -> None:
    # a fetch the page itself aborted (the map moved on) is not a failure
    if (request.failure or "") != "net::ERR_ABORTED":
        problems.append(f"request failed: {request.url} ({request.failure})")


@contextmanager
def browser_page(
    viewport: tuple[int, int] = (1280, 800), args: list[str] | None = None
) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page and the list its console errors and failed requests are collected in;
    ``args``: more Chromium switches (e.g. software WebGL for the 3D view)."""
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS + (args or []))
        try:
            page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
            watch(page, problems)
            yield page, problems
        finally:
            browser.close()


def watch(page: Any, problems: list[str]) -> None:
    """Collect the page's console errors, script errors, failed requests and 4xx/5xx answers in ``problems``."""
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(f"page error: {err}"))
    page.on("requestfailed", lambda req: _failed(req, problems))
    page.on("response", lambda res: problems.append(f"HTTP {res.status}: {res.url}") if res.status >= 400 else None)


def another_page(page: Any, viewport: tuple[int, int]) -> tuple[Any, list[str]]:
    """A second page of the same browser in a context of its own (its own cookies: another person signed in)."""
    problems: list[str] = []
    other = page.context.browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    watch(other, problems)
    return other, problems
