"""The month partitions of the incident tables (migration 0013): list, create ahead, detach a closed
month for archive and attach it back.

``incident`` and ``incident_public`` are partitioned by ``reported_at``, ``incident_event`` by
``at`` (UTC months), ``kpi_rollup`` by its local registration day. Partitions live in schema
``incidents_part`` (``incident_y2026m01`` …, plus ``…_default`` catching rows of a month not
created yet: creating that month moves them). Detaching month M moves the three incident tables'
partitions of M to schema ``incidents_archive`` (the archived events stay immutable); it is
refused while a case reported in M, or with an event in M, is not closed (closed, not registered
or merged), and for the current month or later. The rollup keeps its counts: the KPIs of an
archived month stay answerable.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import Connection, Engine, text

from spatial.errors import Conflict, InvalidInput, NotFound

TABLES = ("incident", "incident_event", "incident_public")
TERMINAL = ("closed", "not_registered", "merged")
MAX_MONTHS = 120
MONTH = re.compile(r"^(\d{4})-(\d{2})$")

LIST_SQL = text(
    """
    SELECT n.nspname AS schema, c.relname AS name, c.reltuples::bigint AS estimate,
           pg_total_relation_size(c.oid) AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('incidents_part', 'incidents_archive') AND c.relkind = 'r'
    ORDER BY c.relname
    """
)
OPEN_SQL = """
SELECT count(*) FROM (
    SELECT i.id FROM incidents_part.{incident} i WHERE i.state NOT IN {terminal}
    UNION
    SELECT i.id FROM incidents.incident i
    WHERE i.state NOT IN {terminal} AND i.id IN (SELECT e.incident_id FROM incidents_part.{event} e)
) open_cases
"""


def parse_month(month: str) -> dt.date:
    """'2026-01' → 2026-01-01; InvalidInput naming the expected form otherwise."""
    found = MONTH.match((month or "").strip())
    if not found or not 1 <= int(found[2]) <= 12 or int(found[1]) < 1900:
        raise InvalidInput(f"month {month!r}? give it as YYYY-MM, e.g. 2026-01")
    return dt.date(int(found[1]), int(found[2]), 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_y{month:%Y}m{month:%m}"


def _month_of(name: str) -> tuple[str, dt.date] | None:
    found = re.match(r"^(incident|incident_event|incident_public|kpi_rollup)_y(\d{4})m(\d{2})$", name)
    return (found[1], dt.date(int(found[2]), int(found[3]), 1)) if found else None


def current_month(now: dt.datetime | None = None) -> dt.date:
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return dt.date(now.year, now.month, 1)


def list_partitions(conn: Connection) -> dict[str, Any]:
    """``{"months": [{"month", "status", "rows", "bytes", …}], "default_rows": {table: n}}``.

    ``rows`` per table are the planner's estimates (exact after ANALYZE); ``default_rows`` are
    counted: rows there belong to a month with no partition yet.
    """
    months: dict[dt.date, dict[str, Any]] = {}
    for row in conn.execute(LIST_SQL).mappings():
        parsed = _month_of(row["name"])
        if parsed is None:
            continue
        table, month = parsed
        entry = months.setdefault(month, {"month": f"{month:%Y-%m}", "status": "attached", "rows": {}, "bytes": 0})
        entry["rows"][table] = max(int(row["estimate"]), 0)
        entry["bytes"] += int(row["bytes"])
        if row["schema"] == "incidents_archive":
            entry["status"] = "detached"
    default_rows = {
        table: int(conn.execute(text(f"SELECT count(*) FROM incidents_part.{table}_default")).scalar_one())
        for table in (*TABLES, "kpi_rollup")
    }
    return {"months": [months[m] for m in sorted(months)], "default_rows": default_rows}


def create_partitions(engine: Engine, months: int, *, first: dt.date | None = None) -> int:
    """Create the month partitions of ``months`` months from ``first`` (default: this UTC month);
    rows waiting in a DEFAULT partition move into their month. The number of tables created."""
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidInput(f"--months {months}? between 1 and {MAX_MONTHS}")
    with engine.begin() as conn:
        made = conn.execute(
            text("SELECT incidents.create_month_partitions(:first, :months)"),
            {"first": first or current_month(), "months": months},
        ).scalar_one()
    return int(made)


def open_cases(conn: Connection, month: dt.date) -> int:
    """Cases reported in ``month``, or with an event in it, that are not closed."""
    terminal = "(" + ", ".join(f"'{s}'" for s in TERMINAL) + ")"
    sql = OPEN_SQL.format(incident=partition_name("incident", month), event=partition_name("incident_event", month),
                          terminal=terminal)  # fmt: skip
    return int(conn.execute(text(sql)).scalar_one())


def _schema_of(conn: Connection, name: str) -> str | None:
    return conn.execute(
        text(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :name AND n.nspname IN ('incidents_part', 'incidents_archive')"
        ),
        {"name": name},
    ).scalar()


def detach_month(engine: Engine, month: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Detach a closed month's partitions into schema ``incidents_archive``; what moved."""
    first = parse_month(month)
    if first >= current_month(now):
        raise Conflict(f"{month} is the current month or later: cases are still being filed into it")
    names = {table: partition_name(table, first) for table in TABLES}
    with engine.begin() as conn:
        schemas = {table: _schema_of(conn, name) for table, name in names.items()}
        if all(s == "incidents_archive" for s in schemas.values()):
            raise Conflict(f"{month} is already detached (schema incidents_archive)")
        if any(s != "incidents_part" for s in schemas.values()):
            raise NotFound(f"no partitions for {month}: see `onemap incidents partitions list`")
        # no writes into the month while it is checked and detached
        conn.execute(text("LOCK TABLE " + ", ".join(f"incidents_part.{n}" for n in names.values()) + " IN SHARE MODE"))
        still_open = open_cases(conn, first)
        if still_open:
            raise Conflict(
                f"{month} still has {still_open} open case(s) (reported in that month or with events in it, "
                "not closed): close them before detaching the month"
            )
        rows = {t: int(conn.execute(text(f"SELECT count(*) FROM incidents_part.{n}")).scalar_one()) for t, n in names.items()}
        for table, name in names.items():
            conn.execute(text(f"ALTER TABLE incidents.{table} DETACH PARTITION incidents_part.{name}"))
            conn.execute(text(f"ALTER TABLE incidents_part.{name} SET SCHEMA incidents_archive"))
        conn.execute(text(
            f"CREATE TRIGGER archive_event_immutable BEFORE UPDATE OR DELETE ON incidents_archive.{names['incident_event']} "
            "FOR EACH ROW EXECUTE FUNCTION incidents.refuse_event_change()"
        ))  # fmt: skip
    return {"month": month, "detached": list(names.values()), "rows": rows, "schema": "incidents_archive"}


def attach_month(engine: Engine, month: str) -> dict[str, Any]:
    """Attach an archived month back (from schema ``incidents_archive``)."""
    first = parse_month(month)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    lo, hi = (dt.datetime.combine(d, dt.time(0), dt.UTC).isoformat() for d in (first, following))
    names = {table: partition_name(table, first) for table in TABLES}
    with engine.begin() as conn:
        schemas = {table: _schema_of(conn, name) for table, name in names.items()}
        if all(s == "incidents_part" for s in schemas.values()):
            raise Conflict(f"{month} is attached already")
        if any(s != "incidents_archive" for s in schemas.values()):
            raise NotFound(f"no archived partitions for {month} in schema incidents_archive")
        conn.execute(text(f"DROP TRIGGER IF EXISTS archive_event_immutable ON incidents_archive.{names['incident_event']}"))
        for table, name in names.items():
            conn.execute(text(f"ALTER TABLE incidents_archive.{name} SET SCHEMA incidents_part"))
            conn.execute(text(
                f"ALTER TABLE incidents.{table} ATTACH PARTITION incidents_part.{name} FOR VALUES FROM ('{lo}') TO ('{hi}')"
            ))  # fmt: skip
    return {"month": month, "attached": list(names.values())}
