"""Departments (部门) that own layers and hold tokens: add or rename, list."""

from __future__ import annotations

import re

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert

from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.errors import InvalidInput
from spatial.models import Department

CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def add_department(
    engine: Engine, code: str, *, name_zh: str, name_en: str | None = None, actor: Principal
) -> bool:
    """Add a department, or rename it when the code exists; True when it was new (audited)."""
    if not CODE_PATTERN.match(code):
        raise InvalidInput(
            f"department code {code!r} is not allowed: 1-32 lowercase letters, digits and _, "
            "starting with a letter"
        )
    if not name_zh.strip():
        raise InvalidInput("a department needs a name (--name-zh)")
    with engine.begin() as conn:
        existed = conn.execute(select(Department.code).where(Department.code == code)).first()
        statement = insert(Department).values(code=code, name_zh=name_zh, name_en=name_en or name_zh)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[Department.code],
                set_={"name_zh": name_zh, "name_en": name_en or name_zh},
            )
        )
        action = "department.rename" if existed else "department.add"
        record_audit(conn, action, f"department {code}", principal=actor,
                     detail={"name_zh": name_zh, "name_en": name_en or name_zh})  # fmt: skip
    return existed is None


def list_departments(engine: Engine) -> list[dict]:
    """Every department: code, names, when added."""
    table = Department.__table__
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(select(table).order_by(table.c.code)).mappings()]
