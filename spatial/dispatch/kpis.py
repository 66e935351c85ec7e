"""Response-time KPIs of dispatch against the standards of ``standards.yaml``.

    >>> rules = read_standards()                                          # doctest: +SKIP
    >>> response_kpis(conn, rules, by="service", since=a, until=b)        # doctest: +SKIP

Per call (received in [since, until)): the first unit of the standard's types to reach the scene,
its response (dispatch → on scene), travel (the network ETA when sent) and distance, and whether
the standard was met (True / False; None: still open and nobody there yet, or cancelled). Per
group (service, the first unit's department, or the call's street): calls, evaluated, met and
the share met, median and mean response.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, text

from spatial.dispatch.models import SERVICES, UNIT_TYPES
from spatial.errors import InvalidInput

STANDARDS_FILE = Path(__file__).with_name("standards.yaml")
CRITERIA = ("response_seconds", "travel_seconds", "distance_m")
GROUPINGS = ("service", "department", "street")
CALLS_SQL = text(
    """
    SELECT c.id, c.service, c.call_type, c.street_code, c.received_at, c.status, c.outcome,
           a.unit_id, u.call_sign, u.unit_type, u.department_code, a.dispatched_at, a.on_scene_at,
           a.eta_seconds, a.distance_m
    FROM emergency.call c
    LEFT JOIN emergency.assignment a ON a.call_id = c.id
    LEFT JOIN emergency.unit u ON u.id = a.unit_id
    WHERE (CAST(:since AS timestamptz) IS NULL OR c.received_at >= :since)
      AND (CAST(:until AS timestamptz) IS NULL OR c.received_at < :until)
    ORDER BY c.id, a.on_scene_at NULLS LAST, a.id
    """
)


@dataclass(frozen=True)
class Standard:
    """One service's standard: the unit types measured, the limits, how they combine."""

    service: str
    unit_types: tuple[str, ...]
    criteria: dict[str, float]
    combine: str = "all"
    name_zh: str = ""
    name_en: str = ""

    def judge(self, measured: dict[str, float | None]) -> bool:
        """Whether the measured values meet the limits (a value not known fails its limit)."""
        passed = [measured.get(name) is not None and measured[name] <= limit  # type: ignore[operator]
                  for name, limit in self.criteria.items()]  # fmt: skip
        return all(passed) if self.combine == "all" else any(passed)


def read_standards(path: Path | str | None = None) -> dict[str, Standard]:
    """The standards per service from a YAML file (default: the packaged ``standards.yaml``)."""
    source = Path(path) if path is not None else STANDARDS_FILE
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise InvalidInput(f"response standards {source}: {err}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"response standards {source}: a mapping of service → standard")
    return {str(service): _standard(str(service), entry, source) for service, entry in document.items()}


def _standard(service: str, entry: Any, source: Path) -> Standard:
    where = f"response standards {source}, service {service}"
    if service not in SERVICES or not isinstance(entry, dict):
        raise InvalidInput(f"{where}: services are {', '.join(SERVICES)}, each a mapping")
    types = tuple(entry.get("unit_types") or ())
    criteria = entry.get("criteria") or {}
    if not types or any(t not in UNIT_TYPES for t in types):
        raise InvalidInput(f"{where}: unit_types from {', '.join(UNIT_TYPES)}")
    if not isinstance(criteria, dict) or not criteria or any(c not in CRITERIA for c in criteria):
        raise InvalidInput(f"{where}: criteria from {', '.join(CRITERIA)}")
    if any(not isinstance(v, int | float) or isinstance(v, bool) or v <= 0 for v in criteria.values()):
        raise InvalidInput(f"{where}: limits are positive numbers")
    combine = entry.get("combine", "all")
    if combine not in ("all", "any"):
        raise InvalidInput(f"{where}: combine is all or any")
    return Standard(service, types, {k: float(v) for k, v in criteria.items()}, combine,
                    str(entry.get("name_zh", "")), str(entry.get("name_en", "")))  # fmt: skip


def call_results(conn: Connection, standards: dict[str, Standard], *, since: dt.datetime | None = None,
                 until: dt.datetime | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Each call of the period measured against its service's standard."""
    calls: dict[int, list[Any]] = {}
    for row in conn.execute(CALLS_SQL, {"since": since, "until": until}):
        calls.setdefault(row.id, []).append(row)
    return [_judge_call(rows, standards.get(rows[0].service)) for rows in calls.values()]


def _judge_call(rows: list[Any], standard: Standard | None) -> dict[str, Any]:
    first = rows[0]
    out: dict[str, Any] = {"call_id": first.id, "service": first.service, "call_type": first.call_type,
                           "street_code": first.street_code, "received_at": first.received_at,
                           "status": first.status, "outcome": first.outcome, "unit_id": None, "call_sign": None,
                           "department_code": None, "response_seconds": None, "travel_seconds": None,
                           "distance_m": None, "met": None, "why": None}  # fmt: skip
    if standard is None:
        out["why"] = "no standard for this service"
        return out
    counted = [r for r in rows if r.unit_type in standard.unit_types and r.on_scene_at is not None]
    if not counted:
        out["why"] = _unmeasured(first)
        out["met"] = False if out["why"] == "closed without a unit of the standard on scene" else None
        return out
    arrival = min(counted, key=lambda r: (r.on_scene_at - r.dispatched_at, r.unit_id))
    measured = {"response_seconds": (arrival.on_scene_at - arrival.dispatched_at).total_seconds(),
                "travel_seconds": arrival.eta_seconds, "distance_m": arrival.distance_m}  # fmt: skip
    out |= measured | {"unit_id": arrival.unit_id, "call_sign": arrival.call_sign,
                       "department_code": arrival.department_code, "met": standard.judge(measured)}  # fmt: skip
    return out


def _unmeasured(call: Any) -> str:
    if call.outcome == "cancelled":
        return "cancelled"
    if call.status == "open":
        return "open: no unit of the standard on scene yet"
    return "closed without a unit of the standard on scene"


def response_kpis(conn: Connection, standards: dict[str, Standard], *, by: str = "service",
                  since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Share of calls meeting their standard per group, with the per-call results."""
    if by not in GROUPINGS:
        raise InvalidInput(f"by {by!r} unknown: one of {', '.join(GROUPINGS)}")
    results = call_results(conn, standards, since=since, until=until)
    key = {"service": "service", "department": "department_code", "street": "street_code"}[by]
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for result in results:
        groups.setdefault(result[key], []).append(result)
    rows = [_group(name, members) for name, members in sorted(groups.items(), key=lambda kv: str(kv[0] or ""))]
    return {"by": by, "groups": rows, "calls": results, "totals": _group(None, results)}


def _group(name: str | None, members: list[dict[str, Any]]) -> dict[str, Any]:
    judged = [m for m in members if m["met"] is not None]
    met = sum(1 for m in judged if m["met"])
    responses = [m["response_seconds"] for m in members if m["response_seconds"] is not None]
    return {"key": name, "calls": len(members), "evaluated": len(judged), "met": met,
            "share_met": round(met / len(judged), 4) if judged else None,
            "median_response_seconds": statistics.median(responses) if responses else None,
            "mean_response_seconds": round(statistics.fmean(responses), 1) if responses else None}  # fmt: skip
