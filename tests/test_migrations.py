"""Alembic migrations: up, down, up again, and the models agree with the scripts."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from geoalchemy2 import alembic_helpers
from sqlalchemy import inspect, text

from spatial import migrate
from spatial.all_models import SCHEMAS, Base
from spatial.db import make_engine


def _schemas(engine) -> set[str]:
    return set(inspect(engine).get_schema_names()) & set(SCHEMAS)


def test_upgrade_downgrade_upgrade(make_database) -> None:
    engine = make_engine(make_database("onemap_migr"), pool_size=1)
    assert migrate.current(engine) is None
    assert migrate.upgrade(engine) == migrate.head()
    assert _schemas(engine) == set(SCHEMAS)
    tables = {(s, t) for s in SCHEMAS for t in inspect(engine).get_table_names(schema=s)}
    assert {("basemap", "admin_division"), ("basemap", "address"), ("catalog", "layer"),
            ("grid", "unit_cell"), ("audit", "event")} <= tables

    assert migrate.downgrade(engine, "base") is None
    assert _schemas(engine) == set()

    assert migrate.upgrade(engine) == migrate.head()
    assert migrate.upgrade(engine) == migrate.head()  # running it again changes nothing
    engine.dispose()


def test_every_geometry_column_has_a_gist_index(engine) -> None:
    with engine.connect() as conn:
        missing = conn.execute(text(
            """
            SELECT g.f_table_schema || '.' || g.f_table_name || '.' || g.f_geometry_column
            FROM geometry_columns g
            WHERE g.f_table_schema = ANY(:schemas)
              AND NOT EXISTS (
                SELECT 1 FROM pg_indexes i
                WHERE i.schemaname = g.f_table_schema AND i.tablename = g.f_table_name
                  AND i.indexdef ILIKE '%USING gist%' AND i.indexdef LIKE '%' || g.f_geometry_column || '%')
            """
        ), {"schemas": list(SCHEMAS)}).scalars().all()
    assert missing == []


def test_geometries_are_stored_in_srid_4326(engine) -> None:
    with engine.connect() as conn:
        srids = set(conn.execute(text(
            "SELECT DISTINCT srid FROM geometry_columns WHERE f_table_schema = ANY(:s)"
        ), {"s": list(SCHEMAS)}).scalars())
    assert srids == {4326}


def test_models_match_the_migrations(engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_object": alembic_helpers.include_object,
                "include_name": lambda name, type_, parents: type_ != "schema" or name in SCHEMAS,
            },
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
