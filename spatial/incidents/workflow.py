"""The supervised workflow (受理 → 立案 → 派遣 → 处置 → 核查 → 结案) as a table of actions.

::

    reported ──register──▶ registered ──dispatch──▶ dispatched ──accept──▶ handling
       │  └─not_register─▶ not_registered (end)        │ ▲                 │  │
       └──merge──▶ merged (end)            return◀──────┘ └──dispatch── returned◀─return
                                                                    handling ──handled──▶ handled
    handled ──verify──▶ verified ──close──▶ closed (end)
    handled ──rework──▶ handling (返工)
    handled: assign_verifier (state unchanged): only the named inspector (or an admin) may verify/rework
    registered/dispatched/handling/returned ──suspend──▶ suspended (挂账) ──resume──▶ the state before
    dispatched/handling: request_extension → approve_extension / deny_extension (state unchanged)

Each action names the office that may take it (``spatial.incidents.roles``), whether a reason
or a photo is required, and which stage clock it starts. A transition locks the incident row:
of two concurrent transitions the second waits, then finds the state moved on and is refused
(Conflict, 409); a stale ``expected_version`` is refused the same way. Every transition appends
one immutable event carrying the deadline it set.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from spatial.access.principal import Principal
from spatial.errors import Conflict, Forbidden, InvalidInput
from spatial.incidents.calendar import WorkingCalendar, default_calendar
from spatial.incidents.photos import Photo
from spatial.incidents.roles import require_office
from spatial.incidents.store import (
    add_event,
    add_photos,
    category_row,
    is_active_inspector,
    lock_incident,
    update_incident,
)

MAX_EXTENSION_MINUTES = 10 * 480
Row = dict[str, Any]


@dataclass(frozen=True)
class Action:
    """A workflow action: from which states, to which, by which office, with what."""

    office: str
    sources: tuple[str, ...]
    target: str | None  # None: the state does not change (or, for resume, returns to the one before)
    stage: str | None = "keep"  # the stage clock this starts; None stops it; "keep" leaves it
    reason: bool = False
    photo: bool = False


ACTIONS: dict[str, Action] = {
    "register": Action("supervision", ("reported",), "registered", "dispatch"),
    "not_register": Action("supervision", ("reported",), "not_registered", None, reason=True),
    "merge": Action("supervision", ("reported", "registered"), "merged", None),
    "dispatch": Action("command", ("registered", "returned"), "dispatched", "handle"),
    "accept": Action("handler", ("dispatched",), "handling"),
    "return": Action("handler", ("dispatched", "handling"), "returned", "dispatch", reason=True),
    "handled": Action("handler", ("handling",), "handled", "verify", photo=True),
    "verify": Action("inspector", ("handled",), "verified", "close"),
    "rework": Action("inspector", ("handled",), "handling", "handle", reason=True),
    "close": Action("supervision", ("verified",), "closed", None),
    "assign_verifier": Action("supervision", ("handled",), None),
    "suspend": Action("command", ("registered", "dispatched", "handling", "returned"), "suspended", None, reason=True),
    "resume": Action("command", ("suspended",), None, "resume"),
    "request_extension": Action("handler", ("dispatched", "handling"), None, reason=True),
    "approve_extension": Action("command", ("dispatched", "handling"), None),
    "deny_extension": Action("command", ("dispatched", "handling"), None, reason=True),
}  # fmt: skip
STAGE_OF_STATE = {"reported": "register", "registered": "dispatch", "returned": "dispatch",
                  "dispatched": "handle", "handling": "handle", "handled": "verify", "verified": "close"}  # fmt: skip
TERMINAL = ("closed", "not_registered", "merged")


@dataclass
class TransitionRequest:
    """What the caller asks: an action with its reason, photos, department, extension or target."""

    action: str
    reason: str | None = None
    photos: list[Photo] = field(default_factory=list)
    department: str | None = None  # dispatch: send elsewhere than the routed department
    extension_minutes: int | None = None  # request_extension
    merge_into: int | None = None  # merge
    expected_version: int | None = None
    verifier: str | None = None  # assign_verifier: the inspector's principal name


@dataclass
class TransitionResult:
    incident_id: int
    action: str
    from_state: str
    state: str
    version: int
    stage: str | None
    stage_due_at: dt.datetime | None
    event_id: int
    photo_ids: list[int]

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["stage_due_at"] = self.stage_due_at.isoformat() if self.stage_due_at else None
        return out


def transition(
    engine: Engine, incident_id: int, request: TransitionRequest, *, principal: Principal | None,
    calendar: WorkingCalendar | None = None, now: dt.datetime | None = None,
) -> TransitionResult:
    """Apply one action to one incident, or refuse it (nothing changes)."""
    action = ACTIONS.get(request.action)
    if action is None:
        raise InvalidInput(f"action {request.action!r} unknown; one of {', '.join(ACTIONS)}")
    calendar = calendar or default_calendar()
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        incident = lock_incident(conn, incident_id)
        check_allowed(incident, request, action, principal)
        changes, detail = effects(conn, incident, request, action, calendar, now)
        if request.action == "handled" and principal is not None:
            changes["handled_by"] = principal.name  # the four-eyes rule of 核查 checks this
        event_id = add_event(
            conn, incident_id, at=now, action=request.action, from_state=incident["state"],
            to_state=changes.get("state", incident["state"]), principal=principal,
            department=changes.get("department_code", incident["department_code"]), reason=request.reason,
            due=changes.get("stage_due_at", incident["stage_due_at"]), detail=detail,
        )  # fmt: skip
        update_incident(conn, incident_id, changes | {"updated_at": now})
        photo_ids = add_photos(conn, incident_id, event_id, request.action, request.photos)
    return TransitionResult(
        incident_id, request.action, incident["state"], changes.get("state", incident["state"]),
        incident["version"] + 1, changes.get("stage", incident["stage"]),
        changes.get("stage_due_at", incident["stage_due_at"]), event_id, photo_ids,
    )  # fmt: skip


def check_allowed(incident: dict[str, Any], request: TransitionRequest, action: Action, principal: Principal | None) -> None:
    """Role first (who you are), then state, version, and what the action needs."""
    require_office(principal, action.office, request.action, incident["department_code"])
    if request.expected_version is not None and request.expected_version != incident["version"]:
        raise Conflict(f"incident {incident['id']} changed meanwhile (version {incident['version']}, "
                       f"you had {request.expected_version}): reload it")  # fmt: skip
    if incident["state"] not in action.sources:
        raise Conflict(f"incident {incident['id']} is {incident['state']}: '{request.action}' is only possible "
                       f"from {', '.join(action.sources)}")  # fmt: skip
    if action.reason and not (request.reason or "").strip():
        raise InvalidInput(f"'{request.action}' needs a reason")
    if action.photo and not request.photos:
        raise InvalidInput(f"'{request.action}' (处置反馈) needs at least one photo of the result")
    if action.office == "inspector" and principal is not None and principal.name == incident["handled_by"]:
        raise Forbidden(f"{principal.label} recorded the handling of incident {incident['id']}: "
                        "核查 must be done by another inspector")  # fmt: skip
    assigned = incident.get("verifier")
    if action.office == "inspector" and principal is not None and assigned and principal.name != assigned \
            and not principal.is_admin:  # fmt: skip
        raise Forbidden(f"the 核查 of incident {incident['id']} is assigned to inspector {assigned!r}: only they "
                        f"(or an admin) may '{request.action}', not {principal.label}")  # fmt: skip


def effects(
    conn: Connection, incident: dict[str, Any], request: TransitionRequest, action: Action,
    calendar: WorkingCalendar, now: dt.datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The column changes and event detail of an allowed action."""
    limits = category_row_any(conn, incident["category_code"])["time_limits"]
    changes: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    target = action.target
    if request.action == "resume":
        target = incident["suspended_from"]
        changes["suspended_from"] = None
    if target is not None:
        changes["state"] = target
    stage = STAGE_OF_STATE.get(target or "") if action.stage == "resume" else action.stage
    if stage != "keep":
        changes["stage"] = stage
        changes["stage_started_at"] = now if stage else None
        changes["stage_due_at"] = due_for(calendar, now, stage, limits, incident) if stage else None
        if stage == "handle":
            changes["handle_due_at"] = changes["stage_due_at"]
            detail["handle_due_at"] = changes["stage_due_at"]
    special = SPECIAL.get(request.action)
    if special is not None:
        special(conn, incident, request, changes, detail, calendar, now)
    return changes, detail


def due_for(calendar: WorkingCalendar, start: dt.datetime, stage: str, limits: dict[str, int], incident: dict[str, Any]) -> dt.datetime:
    """The deadline of ``stage`` started at ``start`` (handling includes granted extensions)."""
    minutes = limits[stage] + (incident["extension_minutes"] if stage == "handle" else 0)
    return calendar.add_working(start, minutes)


def category_row_any(conn: Connection, code: str) -> dict[str, Any]:
    """The category of an existing incident (it may have been retired since: still valid here)."""
    row = conn.execute(text("SELECT * FROM incidents.category WHERE code = :c"), {"c": code}).mappings().first()
    return dict(row) if row else category_row(conn, code)


# ------------------------------------------------------------------------------ special effects
def _dispatch(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    """派遣: to the routed department, or to the one the command centre names."""
    department = (request.department or incident["department_code"]).strip()
    if not conn.execute(text("SELECT 1 FROM catalog.department WHERE code = :c"), {"c": department}).first():
        raise InvalidInput(f"department {department!r} does not exist")
    changes["department_code"] = department
    changes["handled_by"] = None
    changes["verifier"] = None
    detail["department"] = department


def _rework(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    changes["rework_count"] = incident["rework_count"] + 1
    detail["rework"] = incident["rework_count"] + 1


def _close(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    changes["closed_at"] = now


def _suspend(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    changes["suspended_from"] = incident["state"]


def _request_extension(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    minutes = request.extension_minutes
    if minutes is None or not 0 < minutes <= MAX_EXTENSION_MINUTES:
        raise InvalidInput(f"an extension is 1 to {MAX_EXTENSION_MINUTES} working minutes (give extension_minutes)")
    if incident["extension_request"]:
        raise Conflict(f"incident {incident['id']} already has an extension request waiting")
    changes["extension_request"] = {"minutes": minutes, "reason": request.reason, "at": now.isoformat()}
    detail["minutes"] = minutes


def _approve_extension(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    pending = incident["extension_request"]
    if not pending:
        raise Conflict(f"incident {incident['id']} has no extension request to approve")
    minutes = int(pending["minutes"])
    changes["extension_minutes"] = incident["extension_minutes"] + minutes
    changes["extension_request"] = None
    due = calendar.add_working(incident["handle_due_at"] or now, minutes)
    changes["handle_due_at"] = due
    if incident["stage"] == "handle":
        changes["stage_due_at"] = due
    detail.update(minutes=minutes, handle_due_at=due)


def _deny_extension(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    if not incident["extension_request"]:
        raise Conflict(f"incident {incident['id']} has no extension request to deny")
    changes["extension_request"] = None


def _merge(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    """合并: this incident is a duplicate of ``merge_into`` (an open one of the same category)."""
    target = request.merge_into
    if target is None or target == incident["id"]:
        raise InvalidInput("merge needs merge_into: the id of the incident this one duplicates")
    row = conn.execute(
        text("SELECT state, category_code FROM incidents.incident WHERE id = :id"), {"id": target}
    ).first()
    if row is None:
        raise InvalidInput(f"no incident {target} to merge into")
    if row[0] in TERMINAL:
        raise Conflict(f"incident {target} is {row[0]}: merge into an open incident")
    changes["merged_into"] = target
    detail["merged_into"] = target


def _assign_verifier(
    conn: Connection, incident: Row, request: TransitionRequest, changes: Row, detail: Row,
    calendar: WorkingCalendar, now: dt.datetime,
) -> None:
    """核查 assigned: only this inspector (an active principal of role inspector) may verify or rework."""
    name = (request.verifier or "").strip()
    if not name:
        raise InvalidInput("assign_verifier needs verifier: the principal name of an active inspector")
    if not is_active_inspector(conn, name):
        raise InvalidInput(f"verifier {name[:100]!r} is not an active inspector (a principal of role "
                           "inspector with a valid token)")  # fmt: skip
    if name == incident["handled_by"]:
        raise InvalidInput(f"{name!r} recorded the handling of incident {incident['id']}: "
                           "核查 must be assigned to another inspector")  # fmt: skip
    changes["verifier"] = name
    detail["verifier"] = name


SPECIAL = {
    "assign_verifier": _assign_verifier, "dispatch": _dispatch, "rework": _rework, "close": _close, "suspend": _suspend,
    "request_extension": _request_extension, "approve_extension": _approve_extension,
    "deny_extension": _deny_extension, "merge": _merge,
}  # fmt: skip
