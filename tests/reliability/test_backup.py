"""`onemap db backup` / `onemap db restore`: a round trip keeps every table, refusals change nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from spatial.backup import restore
from spatial.config import PROJECT_ROOT
from spatial.db import make_engine
from spatial.errors import ClusterError, InvalidInput
from tests.fingerprint import fingerprint, table_names


def onemap(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONEMAP_")} | {"ONEMAP_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300, cwd=PROJECT_ROOT)  # fmt: skip


@pytest.fixture(scope="module")
def dump(demo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backup") / "demo.dump"
    result = onemap("db", "backup", str(path), url=demo_url)
    assert result.returncode == 0, result.stderr
    return path


def test_backup_is_private_and_round_trips_every_table(demo_url: str, dump: Path, make_database) -> None:
    assert dump.stat().st_mode & 0o077 == 0, "the dump holds reporters' contacts: owner only"
    assert not list(dump.parent.glob(".*partial"))
    source = make_engine(demo_url, pool_size=1)
    target_url = make_database("onemap_restore")
    target = make_engine(target_url, pool_size=1)
    try:
        result = onemap("db", "restore", str(dump), url=target_url)
        assert result.returncode == 0, result.stderr
        before, after = fingerprint(source), fingerprint(target)
        assert len(before) > 20 and sum(rows for rows, _ in before.values()) > 1000
        assert after == before
        with target.connect() as conn:  # sequences continue after the restored ids
            conn.execute(text("SELECT nextval('audit.event_id_seq')")).scalar_one()
    finally:
        source.dispose()
        target.dispose()


def test_restore_refuses_a_database_with_tables_unless_forced(demo_url: str, dump: Path, make_database) -> None:
    target_url = make_database("onemap_restore")
    target = make_engine(target_url, pool_size=1)
    try:
        restore(target, dump)
        with target.begin() as conn:
            conn.execute(text("CREATE TABLE thematic.added_later (id int)"))
            conn.execute(text("DELETE FROM incidents.routing_rule"))
        changed = fingerprint(target)
        result = onemap("db", "restore", str(dump), url=target_url)
        assert result.returncode == 2 and "--force" in result.stderr and "Traceback" not in result.stderr
        assert fingerprint(target) == changed
        restore(target, dump, force=True)
        assert "thematic.added_later" not in table_names(target)
        source = make_engine(demo_url, pool_size=1)
        assert fingerprint(target) == fingerprint(source)
        source.dispose()
    finally:
        target.dispose()


def test_restore_of_a_broken_archive_changes_nothing(dump: Path, make_database, tmp_path: Path) -> None:
    target_url = make_database("onemap_restore")
    target = make_engine(target_url, pool_size=1)
    try:
        restore(target, dump)
        before = fingerprint(target)
        not_an_archive = tmp_path / "notes.dump"
        not_an_archive.write_text("SELECT 1;")
        with pytest.raises(InvalidInput, match="not a pg_dump"):
            restore(target, not_an_archive, force=True)
        truncated = tmp_path / "truncated.dump"
        truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size // 2])
        with pytest.raises(ClusterError, match="rolled back"):
            restore(target, truncated, force=True)
        assert fingerprint(target) == before
    finally:
        target.dispose()
