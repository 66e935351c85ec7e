"""Rate limits counted once for all server processes (ONEMAP_RATE_LIMIT_STORAGE=redis://…).

Two limiters stand for two API processes behind nginx: with the shared store, the budget is
spent once across both; with memory (the default) each counts on its own. A Redis that stops
answering never turns a write into a 5xx: each process counts on its own meanwhile.
"""

from __future__ import annotations

import pydantic
import pytest

from api.ratelimit import RateLimiter
from spatial.access.principal import Principal
from spatial.config import Settings
from spatial.errors import TooManyRequests

EDITOR = Principal(name="rl-editor", role="editor", department_code="water", token_id=4242)


def spent(limiter: RateLimiter, times: int) -> int:
    """How many of ``times`` writes the limiter let through."""
    allowed = 0
    for _ in range(times):
        try:
            limiter.check_token(EDITOR)
            allowed += 1
        except TooManyRequests as err:
            assert err.retry_after and err.retry_after >= 1
    return allowed


def test_two_processes_share_one_budget_in_redis(redis_server) -> None:
    _, port = redis_server
    store = f"redis://127.0.0.1:{port}/1"
    first, second = RateLimiter("5/minute", "off", store), RateLimiter("5/minute", "off", store)
    assert spent(first, 3) == 3
    assert spent(second, 5) == 2  # the other process already spent three of five
    assert spent(first, 1) == 0


def test_memory_counts_per_process() -> None:
    first, second = RateLimiter("5/minute", "off"), RateLimiter("5/minute", "off")
    assert spent(first, 5) == 5 and spent(second, 5) == 5


def test_a_silent_store_means_counting_in_the_process_never_an_error(redis_server) -> None:
    process, port = redis_server
    limiter = RateLimiter("3/minute", "off", f"redis://127.0.0.1:{port}/1")
    assert spent(limiter, 1) == 1
    process.kill()
    process.wait(timeout=10)
    assert spent(limiter, 5) == 3  # the process's own count: a full budget, then 429s


def test_the_store_setting_is_checked() -> None:
    assert Settings(rate_limit_storage="redis://10.0.0.7:6379/1").rate_limit_storage.startswith("redis://")
    with pytest.raises(pydantic.ValidationError, match="rate-limit store"):
        Settings(rate_limit_storage="mysql://x")
