"""Who may move an incident: the offices of the workflow mapped onto departments and roles.

The access model knows departments and four roles (admin, editor, inspector, viewer). The
workflow's offices are read from them:

==============  ===================================================  =========================
office          who                                                  actions
==============  ===================================================  =========================
reporter        anyone (anonymous: source public only); staff for    report
                hotline/video; inspectors for source inspector
supervision     editors of department ``supervision`` (监督中心)       register, not_register,
                                                                     close, merge, assign_verifier
command         editors of department ``command`` (指挥中心)           dispatch, suspend, resume,
                                                                     approve/deny_extension
handler         editors of the department the incident is            accept, return, handled,
                dispatched to (专业部门 or street office)              request_extension
inspector       role ``inspector`` of any department (监督员),        verify, rework
                never the person who recorded the handling; once
                the centre assigned 核查 to one (``verifier``),
                only they (or an admin)
==============  ===================================================  =========================

Admins may act for every office (the local operator at the command line is one), but the
four-eyes rule of verification holds for them too. Viewers may do nothing.
"""

from __future__ import annotations

from spatial.access.principal import Principal
from spatial.errors import Forbidden, Unauthorized

SUPERVISION = "supervision"
COMMAND = "command"
EDITOR_ROLES = ("editor", "admin")


def office_label(office: str, department: str | None = None) -> str:
    """Words for an office, for refusals."""
    return {
        "supervision": "editors of the supervision centre (department 'supervision')",
        "command": "editors of the command centre (department 'command')",
        "handler": f"editors of the department the incident is dispatched to ({department!r})",
        "inspector": "inspectors (role 'inspector')",
    }.get(office, office)


def may_act(principal: Principal | None, office: str, department: str | None = None) -> bool:
    """Whether ``principal`` acts for ``office`` (``department``: the incident's, for handlers)."""
    if principal is None:
        return False
    if principal.is_admin:
        return True
    if office == "inspector":
        return principal.role == "inspector"
    if principal.role not in EDITOR_ROLES:
        return False
    wanted = {"supervision": SUPERVISION, "command": COMMAND, "handler": department}.get(office)
    return wanted is not None and principal.department_code == wanted


def require_office(principal: Principal | None, office: str, action: str, department: str | None = None) -> None:
    """Unauthorized without credentials, Forbidden when the principal does not hold the office."""
    if principal is None:
        raise Unauthorized(f"'{action}' needs credentials: send Authorization: Bearer <token>")
    if not may_act(principal, office, department):
        raise Forbidden(f"{principal.label} may not '{action}': only {office_label(office, department)} may")


def require_reporter(principal: Principal | None, source: str) -> None:
    """Who may file with which source: public for anyone, inspector for inspectors, else staff."""
    if source == "public":
        return
    if principal is None:
        raise Unauthorized(f"filing as source '{source}' needs credentials (anonymous reports use 'public')")
    if source == "inspector" and not (principal.role == "inspector" or principal.is_admin):
        raise Forbidden(f"{principal.label} is not an inspector: file with source 'public', 'hotline' or 'video'")
    if source in ("hotline", "video") and principal.role == "viewer":
        raise Forbidden(f"{principal.label} may not file '{source}' reports (viewers only read)")
