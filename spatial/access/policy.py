"""THE permission check: who may read and who may write a layer. Every door calls these.

Rules (issue 4):

- ``public`` layers: anyone, signed in or not;
- ``internal`` layers: any authenticated caller;
- ``department`` layers: that department's people, and admins;
- writes: the owning department's editors, and admins; only on department overlays
  (the ``thematic`` schema), never on the base map.

A layer hidden from a caller looks exactly like a missing one (NotFound). Writing needs
credentials (Unauthorized without), and a visible layer the caller may not change is Forbidden.
Both answers depend only on the caller's *view* (``view_key``): admin, a department's editors,
a department's readers, or anonymous, so per-view caches (the OGC API gateway) are safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spatial.access.principal import Principal
from spatial.errors import Forbidden, NotFound, Unauthorized

OVERLAY_SCHEMA = "thematic"
WRITER_ROLES = ("editor", "admin")


@dataclass(frozen=True)
class LayerRef:
    """What the check needs to know about a layer: owner, visibility and where it is stored."""

    id: str
    department_code: str
    visibility: str
    storage_schema: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LayerRef:
        """From a catalog row (``catalog.layer`` columns)."""
        return cls(
            id=str(row["id"]),
            department_code=str(row["department_code"]),
            visibility=str(row["visibility"]),
            storage_schema=row.get("storage_schema"),
        )

    @property
    def is_overlay(self) -> bool:
        """A department overlay (editable), not the base map or imagery."""
        return self.storage_schema == OVERLAY_SCHEMA


def can_read(principal: Principal | None, layer: LayerRef) -> bool:
    """Whether ``principal`` (None = anonymous) may see ``layer`` at all."""
    if layer.visibility == "public":
        return True
    if principal is None:
        return False
    if layer.visibility == "internal" or principal.is_admin:
        return True
    return principal.department_code == layer.department_code


def can_write(principal: Principal | None, layer: LayerRef) -> bool:
    """Whether ``principal`` may change ``layer``'s features or replace its contents."""
    if principal is None or not layer.is_overlay or not can_read(principal, layer):
        return False
    if principal.is_admin:
        return True
    return principal.role in WRITER_ROLES and principal.department_code == layer.department_code


def require_read(principal: Principal | None, layer: LayerRef | None, name: str = "") -> LayerRef:
    """``layer`` when readable; NotFound when missing or hidden (the two look alike)."""
    if layer is None or not can_read(principal, layer):
        raise NotFound(f"no layer named {(layer.id if layer else name)!r}")
    return layer


def require_write(principal: Principal | None, layer: LayerRef | None, name: str = "") -> LayerRef:
    """``layer`` when writable; Unauthorized, NotFound or Forbidden otherwise (in that order)."""
    if principal is None:
        raise Unauthorized("changing data needs credentials: send Authorization: Bearer <token>")
    layer = require_read(principal, layer, name)
    if not can_write(principal, layer):
        raise Forbidden(_refusal(principal, layer))
    return layer


def require_publish(principal: Principal | None, department_code: str) -> None:
    """May ``principal`` create a new layer owned by ``department_code``?"""
    if principal is None:
        raise Unauthorized("publishing a layer needs credentials: send Authorization: Bearer <token>")
    if principal.is_admin:
        return
    if principal.role not in WRITER_ROLES or principal.department_code != department_code:
        raise Forbidden(
            f"{principal.label} may not publish layers for department {department_code!r}: "
            "only that department's editors and admins may"
        )


def require_admin(principal: Principal | None, action: str) -> None:
    """Only admins (the command line's operator among them) may ``action`` (e.g. replace the base map)."""
    if principal is None:
        raise Unauthorized(f"to {action} needs credentials: send Authorization: Bearer <token>")
    if not principal.is_admin:
        raise Forbidden(f"{principal.label} may not {action}: only admins may")


def _refusal(principal: Principal, layer: LayerRef) -> str:
    """Why a visible layer may not be changed, in words."""
    if not layer.is_overlay:
        return f"layer {layer.id!r} is part of the base map and read-only here"
    if principal.department_code != layer.department_code:
        return (
            f"layer {layer.id!r} belongs to department {layer.department_code!r}: "
            f"{principal.label} may not change it"
        )
    return f"{principal.label} may read layer {layer.id!r} but not change it (editors and admins may)"


INCIDENT_CENTRES = ("supervision", "command")  # 监督中心, 指挥中心: they oversee every incident
PUBLIC_PHOTO_STAGES = ("report",)  # what the reporter attached: part of the incident's public view


def can_read_incident_photo(
    principal: Principal | None, *, stage: str, incident_department: str | None
) -> bool:
    """Whether ``principal`` may see a photo attached to an incident at ``stage``.

    The reporter's photos belong to the incident's public view (Open311 ``media_url``), so
    anyone may; photos of the handling stages (处置反馈) are staff-only: admins, inspectors (who
    verify the handling), the supervision and command centres, and the department the incident
    is dispatched to. A photo hidden from a caller is answered as a missing one.
    """
    if stage in PUBLIC_PHOTO_STAGES:
        return True
    if principal is None:
        return False
    if principal.is_admin or principal.role == "inspector":
        return True
    if principal.department_code in INCIDENT_CENTRES:
        return True
    return incident_department is not None and principal.department_code == incident_department


def view_key(principal: Principal | None) -> str:
    """The group of callers that see and may change exactly the same layers."""
    if principal is None:
        return "anonymous"
    if principal.is_admin:
        return "admin"
    kind = "editor" if principal.role in WRITER_ROLES else "reader"
    return f"{principal.department_code}:{kind}"
