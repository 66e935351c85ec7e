"""Who may do what in dispatch, read from the access model (departments and roles).

================  ===================================================  ============================
office            who                                                  may
================  ===================================================  ============================
staff             any signed-in principal                              read units, calls, KPIs,
                                                                       recommendations
dispatcher        editors of department ``command`` (指挥中心)           take calls, dispatch, close
                                                                       or cancel calls, relay the
                                                                       status of units on a call
owner             editors of the unit's department (消防, 120, 公安)     add units, report their
                                                                       status (out of service too)
================  ===================================================  ============================

Admins act for every office. Viewers and inspectors read only. No default principal: every
function takes the caller.
"""

from __future__ import annotations

from spatial.access.principal import Principal
from spatial.errors import Forbidden, Unauthorized

COMMAND = "command"
EDITOR_ROLES = ("editor", "admin")


def require_staff(principal: Principal | None, what: str) -> Principal:
    """Any signed-in principal; Unauthorized for anonymous callers."""
    if principal is None:
        raise Unauthorized(f"{what} is for staff: send Authorization: Bearer <token>")
    return principal


def is_dispatcher(principal: Principal | None) -> bool:
    """Editors of the command centre, and admins."""
    if principal is None:
        return False
    return principal.is_admin or (principal.role == "editor" and principal.department_code == COMMAND)


def owns(principal: Principal | None, department: str) -> bool:
    """Editors of ``department`` (the unit's), and admins."""
    if principal is None:
        return False
    return principal.is_admin or (principal.role == "editor" and principal.department_code == department)


def require_dispatcher(principal: Principal | None, action: str) -> Principal:
    """Unauthorized without credentials; Forbidden unless a dispatcher."""
    principal = require_staff(principal, f"'{action}'")
    if not is_dispatcher(principal):
        raise Forbidden(f"{principal.label} may not '{action}': only editors of the command centre "
                        "(department 'command') may")  # fmt: skip
    return principal


def require_owner(principal: Principal | None, department: str, action: str, *, relay: bool = False) -> Principal:
    """Unauthorized without credentials; Forbidden unless an editor of ``department``
    (or, with ``relay``, a dispatcher passing on what the crew reported by radio)."""
    principal = require_staff(principal, f"'{action}'")
    if owns(principal, department) or (relay and is_dispatcher(principal)):
        return principal
    raise Forbidden(f"{principal.label} may not '{action}': the unit belongs to department {department!r}; "
                    f"only its editors may")  # fmt: skip
