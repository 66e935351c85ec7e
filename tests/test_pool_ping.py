"""Pooled connections are pinged when they sat idle, not on every checkout (spatial.db.ping_when_idle).

A connection whose server backend died is replaced before use when it was idle past the bound;
one taken again within the bound is used as it is (no ping round trip: a busy server's case).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from spatial import db


def _kill_pooled_backend(interactive: Engine, engine: Engine) -> int:
    """Open, return and then terminate the backend of ``interactive``'s one pooled connection; its pid."""
    with interactive.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with engine.connect() as other:
        assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    return int(pid)


def test_a_dead_connection_idle_past_the_bound_is_replaced_before_use(db_url: str, engine: Engine,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    interactive = db.make_engine(db_url, pool_size=1, interactive=True)
    try:
        dead = _kill_pooled_backend(interactive, engine)
        monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every checkout counts as idle
        with interactive.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != dead
    finally:
        interactive.dispose()


def test_a_connection_taken_again_at_once_is_not_pinged(db_url: str, engine: Engine,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    interactive = db.make_engine(db_url, pool_size=1, interactive=True)
    try:
        _kill_pooled_backend(interactive, engine)
        monkeypatch.setattr(db, "IDLE_PING_S", 3600.0)
        with pytest.raises(OperationalError), interactive.connect() as conn:  # used unpinged: it fails
            conn.execute(text("SELECT 1"))
        with interactive.connect() as conn:  # the failure invalidated the pool: a fresh connection
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        interactive.dispose()
