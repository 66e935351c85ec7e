"""Schema migrations (Alembic) run from code: upgrade, downgrade, current revision."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from spatial.models import SCHEMAS


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "spatial:migrations")
    cfg.attributes["url"] = engine.url.render_as_string(hide_password=False)
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> str | None:
    """Bring the schema to ``revision`` (default: every branch's newest); safe on every start.

    Modules add their tables on branches of their own (``depends_on`` the initial revision),
    so ``heads`` rather than ``head``.
    """
    with engine.begin() as conn:
        # serialise concurrent upgraders (several test workers, serve + demo)
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('onemap-migrate'))"))
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current(engine)


def downgrade(engine: Engine, revision: str) -> str | None:
    with engine.begin() as conn:
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    return current(engine)


def current(engine: Engine) -> str | None:
    """The applied revision(s), comma-separated when several branches are applied; None if none."""
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return ",".join(sorted(heads)) or None


def head() -> str | None:
    """The newest revision(s) of the scripts, in the form ``current`` reports them."""
    cfg = Config()
    cfg.set_main_option("script_location", "spatial:migrations")
    heads = ScriptDirectory.from_config(cfg).get_heads()
    return ",".join(sorted(heads)) or None


def is_current(engine: Engine) -> bool:
    return current(engine) == head()


__all__ = ["SCHEMAS", "upgrade", "downgrade", "current", "head", "is_current"]
