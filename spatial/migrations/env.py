"""Alembic environment: migrations run against the URL the caller passes in ``config.attributes``."""

from __future__ import annotations

from typing import Any

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from spatial.all_models import SCHEMAS, Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: Any, type_: Any, parent_names: Any) -> bool:
    if type_ == "schema":
        return name in SCHEMAS
    return True


def run_migrations_online() -> None:
    url = str(config.attributes.get("url") or config.get_main_option("sqlalchemy.url"))
    connectable = config.attributes.get("connection") or create_engine(url, poolclass=pool.NullPool)
    if hasattr(connectable, "connect"):
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_schemas=True,
        include_name=_include_name,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
        version_table_schema="public",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `onemap db upgrade`")
run_migrations_online()
