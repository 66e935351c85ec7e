"""Base-map versions: every load is a version; earlier ones are archived for comparison and rollback.

The current version's data are the ``basemap`` tables. When a load (or a rollback) replaces
them, their rows are first copied to ``basemap_archive.v<id>_<table>`` in the same transaction,
so a failure leaves both as they were. The newest ``KEEP_ARCHIVES`` archives are kept; older
versions stay listed with their counts and report but can no longer be restored.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spatial.errors import Conflict, NotFound

BASEMAP_TABLES = ("admin_division", "road", "building", "poi", "address")
"""Written in this order (divisions first: the others take their codes)."""
DERIVED_TABLES = ("address_search", "place_search")
"""The geocoding index, rebuilt from the base map (never archived)."""
ARCHIVE_SCHEMA = "basemap_archive"
KEEP_ARCHIVES = 5
LOCK_KEY = "onemap-basemap"


@dataclass(frozen=True)
class VersionRow:
    """One base-map version as listed."""

    id: int
    city_code: str
    name_zh: str
    name_en: str
    counts: dict[str, int]
    loaded_by: str
    loaded_at: dt.datetime
    is_current: bool
    archived: bool

    def line(self) -> str:
        """'v3 * manhattan 曼哈顿/Manhattan 2026-12-05 11:02 by cli:root — 76 divisions, …'."""
        mark = "*" if self.is_current else ("a" if self.archived else " ")
        counts = ", ".join(f"{n:,} {table}" for table, n in self.counts.items())
        when = self.loaded_at.strftime("%Y-%m-%d %H:%M")
        return f"v{self.id} {mark} {self.city_code} {self.name_zh}/{self.name_en} {when} by {self.loaded_by} — {counts}"


def lock_basemap(conn: Connection) -> None:
    """One base-map writer at a time (loads and rollbacks), held to the end of the transaction."""
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": LOCK_KEY})


def archive_table(version_id: int, table: str) -> str:
    """'basemap_archive.v3_road'."""
    return f"{ARCHIVE_SCHEMA}.v{int(version_id)}_{table}"


def current_version(conn: Connection) -> int | None:
    """The id of the current version (None before the first load)."""
    value = conn.execute(text("SELECT id FROM basemap.version WHERE is_current")).scalar()
    return None if value is None else int(value)


def archive_current(conn: Connection) -> int | None:
    """Copy the current version's tables to the archive (once); its id, None when there is none."""
    version_id = current_version(conn)
    if version_id is None:
        return None
    archived = conn.execute(
        text("SELECT archived FROM basemap.version WHERE id = :id"), {"id": version_id}
    ).scalar()
    if not archived:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {ARCHIVE_SCHEMA}"))
        for table in BASEMAP_TABLES:
            target = archive_table(version_id, table)
            conn.execute(text(f"DROP TABLE IF EXISTS {target}"))
            conn.execute(text(f"CREATE TABLE {target} AS TABLE basemap.{table}"))
        conn.execute(
            text("UPDATE basemap.version SET archived = true WHERE id = :id"), {"id": version_id}
        )
    conn.execute(
        text("UPDATE basemap.version SET is_current = false WHERE id = :id"), {"id": version_id}
    )
    return version_id


def empty_basemap(conn: Connection) -> None:
    """Remove every base-map row (and the index built from them) inside the transaction."""
    tables = ", ".join(f"basemap.{t}" for t in (*DERIVED_TABLES, *BASEMAP_TABLES))
    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))


def record_version(
    conn: Connection, *, city: Any, profile: dict[str, Any], counts: dict[str, int],
    report: dict[str, Any], view: dict[str, Any], loaded_by: str,
) -> int:  # fmt: skip
    """Insert the new current version row; its id."""
    return int(
        conn.execute(
            text(
                "INSERT INTO basemap.version (city_code, name_zh, name_en, profile, counts, report, "
                "view, loaded_by, is_current) VALUES (:code, :zh, :en, CAST(:profile AS jsonb), "
                "CAST(:counts AS jsonb), CAST(:report AS jsonb), CAST(:view AS jsonb), :by, true) "
                "RETURNING id"
            ),
            {
                "code": city.code,
                "zh": city.name.zh,
                "en": city.name.en,
                "profile": json.dumps(profile, ensure_ascii=False, default=str),
                "counts": json.dumps(counts),
                "report": json.dumps(report, ensure_ascii=False),
                "view": json.dumps(view, ensure_ascii=False),
                "by": loaded_by,
            },  # fmt: skip
        ).scalar_one()
    )


def list_versions(conn: Connection) -> list[VersionRow]:
    """Every version, newest first."""
    rows = conn.execute(
        text(
            "SELECT id, city_code, name_zh, name_en, counts, loaded_by, loaded_at, is_current, "
            "archived FROM basemap.version ORDER BY id DESC"
        )
    ).all()
    return [VersionRow(*row) for row in rows]


def restore_version(conn: Connection, version_id: int) -> int | None:
    """Make archived version ``version_id`` current again (its data back in ``basemap``).

    The version being replaced is archived first, so a rollback can itself be rolled back.
    Returns the id of the version replaced.
    """
    row = conn.execute(
        text("SELECT is_current, archived FROM basemap.version WHERE id = :id"), {"id": version_id}
    ).first()
    if row is None:
        raise NotFound(f"no base-map version {version_id}")
    if row.is_current:
        raise Conflict(f"version {version_id} is already the current base map")
    if not row.archived:
        raise Conflict(
            f"version {version_id} is no longer archived (only the newest {KEEP_ARCHIVES} are kept)"
        )
    replaced = archive_current(conn)
    empty_basemap(conn)
    for table in BASEMAP_TABLES:
        columns = ", ".join(f'"{c}"' for c in shared_columns(conn, version_id, table))
        conn.execute(
            text(
                f"INSERT INTO basemap.{table} ({columns}) "
                f"SELECT {columns} FROM {archive_table(version_id, table)}"
            )
        )
        conn.execute(text(f"ANALYZE basemap.{table}"))
    reset_sequences(conn)
    conn.execute(
        text("UPDATE basemap.version SET is_current = true WHERE id = :id"), {"id": version_id}
    )
    return replaced


def shared_columns(conn: Connection, version_id: int, table: str) -> list[str]:
    """Columns both the live table and its archive have (a later migration may have added some)."""
    return list(
        conn.execute(
            text(
                "SELECT a.column_name FROM information_schema.columns a "
                "JOIN information_schema.columns b USING (column_name) "
                "WHERE a.table_schema = 'basemap' AND a.table_name = :t "
                "AND b.table_schema = :s AND b.table_name = :archive ORDER BY a.ordinal_position"
            ),
            {"t": table, "s": ARCHIVE_SCHEMA, "archive": f"v{int(version_id)}_{table}"},
        ).scalars()
    )


def reset_sequences(conn: Connection) -> None:
    """Point every base-map id sequence past its largest id (rows were copied with their ids)."""
    for table in BASEMAP_TABLES[1:]:  # divisions are keyed by their code
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": f"basemap.{table}"}
        ).scalar()
        if sequence:
            conn.execute(
                text(
                    f"SELECT setval(:s, coalesce((SELECT max(id) FROM basemap.{table}), 0) + 1, false)"
                ),
                {"s": sequence},
            )


def prune_archives(conn: Connection, keep: int = KEEP_ARCHIVES) -> list[int]:
    """Drop the archived data of all but the newest ``keep`` archived versions; their ids."""
    old = (
        conn.execute(
            text("SELECT id FROM basemap.version WHERE archived ORDER BY id DESC OFFSET :keep"),
            {"keep": keep},
        )
        .scalars()
        .all()
    )
    for version_id in old:
        for table in BASEMAP_TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS {archive_table(version_id, table)}"))
        conn.execute(
            text("UPDATE basemap.version SET archived = false WHERE id = :id"), {"id": version_id}
        )
    return [int(v) for v in old]


@dataclass(frozen=True)
class DivisionDiff:
    """How the divisions of two versions differ, by code."""

    added: list[str]
    removed: list[str]
    renamed: list[tuple[str, str, str]]
    reshaped: list[tuple[str, float]]
    counts: dict[str, tuple[int, int]]

    def lines(self) -> list[str]:
        """A readable comparison."""
        out = [f"{table}: {a:,} → {b:,}" for table, (a, b) in self.counts.items() if a or b]
        if self.added:
            out.append(
                f"divisions added: {', '.join(self.added[:20])}"
                + (" …" if len(self.added) > 20 else "")
            )
        if self.removed:
            out.append(
                f"divisions removed: {', '.join(self.removed[:20])}"
                + (" …" if len(self.removed) > 20 else "")
            )
        out += [f"division {code} renamed: {old} → {new}" for code, old, new in self.renamed[:20]]
        out += [
            f"division {code} reshaped: {share:.1%} of its area changed"
            for code, share in self.reshaped[:20]
        ]
        if len(out) == sum(1 for a, b in self.counts.values() if a or b):
            out.append("divisions: same codes, names and shapes")
        return out


def division_source(conn: Connection, version_id: int) -> str:
    """Where a version's divisions are: the live table or its archive."""
    if version_id == current_version(conn):
        return "basemap.admin_division"
    archived = conn.execute(
        text("SELECT archived FROM basemap.version WHERE id = :id"), {"id": version_id}
    ).first()
    if archived is None:
        raise NotFound(f"no base-map version {version_id}")
    if not archived[0]:
        raise Conflict(f"version {version_id} is no longer archived: its data cannot be compared")
    return archive_table(version_id, "admin_division")


def compare_versions(conn: Connection, old: int, new: int) -> DivisionDiff:
    """Division codes added, removed, renamed and reshaped (> 1 % of area) from ``old`` to ``new``."""
    a, b = division_source(conn, old), division_source(conn, new)
    added = (
        conn.execute(text(f"SELECT code FROM {b} EXCEPT SELECT code FROM {a} ORDER BY 1"))
        .scalars()
        .all()
    )
    removed = (
        conn.execute(text(f"SELECT code FROM {a} EXCEPT SELECT code FROM {b} ORDER BY 1"))
        .scalars()
        .all()
    )
    renamed = conn.execute(
        text(
            f"SELECT x.code, x.name_en || ' ' || x.name_zh, y.name_en || ' ' || y.name_zh FROM {a} x "
            f"JOIN {b} y USING (code) WHERE (x.name_zh, x.name_en) IS DISTINCT FROM (y.name_zh, y.name_en) "
            "ORDER BY 1"
        )
    ).all()
    reshaped = conn.execute(
        text(
            f"SELECT x.code, ST_Area(ST_SymDifference(x.geom, y.geom)::geography) / "
            f"greatest(ST_Area(x.geom::geography), 1) AS share FROM {a} x JOIN {b} y USING (code) "
            "WHERE NOT ST_Equals(x.geom, y.geom) ORDER BY 1"
        )
    ).all()
    before, after = version_counts(conn, old), version_counts(conn, new)
    counts = {table: (before.get(table, 0), after.get(table, 0)) for table in BASEMAP_TABLES}
    return DivisionDiff(
        list(added), list(removed), [(r[0], r[1], r[2]) for r in renamed],
        [(code, float(share)) for code, share in reshaped if share > 0.01], counts,
    )  # fmt: skip


def version_counts(conn: Connection, version_id: int) -> dict[str, int]:
    """The row counts recorded with a version."""
    counts = conn.execute(
        text("SELECT counts FROM basemap.version WHERE id = :id"), {"id": version_id}
    ).scalar()
    return dict(counts or {})
