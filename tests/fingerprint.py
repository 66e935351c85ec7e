"""Fingerprints of database tables (row count + md5 of the ordered rows), to prove nothing changed."""

from __future__ import annotations

from sqlalchemy import Engine, text

TABLES = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg_toast%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                      AND d.objid = c.oid AND d.deptype = 'e')
    ORDER BY 1, 2
"""


def table_names(engine: Engine) -> list[str]:
    """Every table of the database that is not an extension's own, as 'schema.table'."""
    with engine.connect() as conn:
        return [f"{schema}.{name}" for schema, name in conn.execute(text(TABLES))]


def fingerprint(engine: Engine, tables: list[str] | None = None) -> dict[str, tuple[int, str]]:
    """``{table: (rows, md5 of the rows in a stable order)}`` for ``tables`` (default: all)."""
    out = {}
    with engine.connect() as conn:
        for table in tables if tables is not None else table_names(engine):
            schema, _, name = table.partition(".")
            quoted = f'"{schema}"."{name}"'
            row = conn.execute(text(
                f"SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) "
                f"FROM {quoted} t"
            )).one()  # fmt: skip
            out[table] = (int(row[0]), str(row[1]))
    return out
