"""The principal: who is asking (a token's holder, or the local operator at the command line)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from spatial.access.models import ROLES


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a name, the department they act for, and their role.

    Anonymous callers have no Principal (``None``). ``department_code`` is None only for the
    local operator, who runs the command line with the database's own credentials.
    """

    name: str
    role: str
    department_code: str | None
    token_id: int | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} unknown; one of {', '.join(ROLES)}")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def label(self) -> str:
        """'张三 (emergency editor)' for messages and history."""
        where = self.department_code or "local"
        return f"{self.name} ({where} {self.role})"


def local_operator() -> Principal:
    """Whoever runs the `onemap` command: they hold the database credentials, so act as admin."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "operator"
    return Principal(name=f"{user}@cli", role="admin", department_code=None)
