"""Routing: a point → unit cell (GiST) → community, street, district (属地); a category → its
department; an explicit rule may override (e.g. the street office in some districts).

Every result says why: which cell and which rule (or the category's default) decided, and a
point in no cell goes to the nearest district (属地兜底) and is flagged for the supervisors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from spatial.incidents.categories import STREET_OFFICE

NEAREST_DISTRICT_SQL = text(
    """
    WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g)
    SELECT code, ST_Distance(geom::geography, p.g::geography) FROM (
        SELECT d.code, d.geom FROM basemap.admin_division d, p WHERE d.level = 'district'
        ORDER BY d.geom <-> p.g LIMIT 1) near, p
    UNION ALL
    SELECT district_code, ST_Distance(geom::geography, p.g::geography) FROM (
        SELECT c.district_code, c.geom FROM grid.current_cell c, p ORDER BY c.geom <-> p.g LIMIT 1) cell, p
    LIMIT 1
    """
)
RULE_SQL = text(
    """
    SELECT r.id, r.name, r.target, r.category_pattern, r.district_code, r.street_code
    FROM incidents.routing_rule r
    WHERE r.category_pattern IN (:code, :major, '*')
      AND (r.district_code IS NULL OR r.district_code = :district)
      AND (r.street_code IS NULL OR r.street_code = :street)
    ORDER BY r.priority DESC, r.id LIMIT 1
    """
)
DEPARTMENT_EXISTS_SQL = text("SELECT 1 FROM catalog.department WHERE code = :code")
CELL_COLUMNS = ("id", "code", "community_code", "street_code", "district_code", "version_id")
RULE_COLUMNS = ("id", "name", "target", "category_pattern", "district_code", "street_code")
CATEGORY_CELL_RULE_SQL = text(
    """
    WITH cell AS (
        SELECT u.id, u.code, u.community_code, u.street_code, u.district_code, u.version_id
        FROM grid.current_cell u
        WHERE ST_Intersects(u.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
        ORDER BY u.code LIMIT 1
    )
    SELECT c.*,
           cell.id AS cell_id, cell.code AS cell_code, cell.community_code AS cell_community_code,
           cell.street_code AS cell_street_code, cell.district_code AS cell_district_code,
           cell.version_id AS cell_version_id,
           r.id AS rule_id, r.name AS rule_name, r.target AS rule_target,
           r.category_pattern AS rule_category_pattern, r.district_code AS rule_district_code,
           r.street_code AS rule_street_code,
           EXISTS (SELECT 1 FROM catalog.department d WHERE d.code = 'street_' || cell.street_code)
               AS street_office_exists
    FROM incidents.category c
    LEFT JOIN cell ON true
    LEFT JOIN LATERAL (
        SELECT r.id, r.name, r.target, r.category_pattern, r.district_code, r.street_code
        FROM incidents.routing_rule r
        WHERE r.category_pattern IN (c.code, c.major_code, '*')
          AND (r.district_code IS NULL OR r.district_code = cell.district_code)
          AND (r.street_code IS NULL OR r.street_code = cell.street_code)
        ORDER BY r.priority DESC, r.id LIMIT 1
    ) r ON cell.id IS NOT NULL
    WHERE c.code = :code AND c.active
    """
)
"""The category, the unit cell under the point and the rule that fires there, in one round trip
(filing's common case; a point in no cell is routed by ``route`` instead)."""


@dataclass(frozen=True)
class Routing:
    """Where an incident belongs and who handles it, with the explanation stored beside it."""

    department_code: str
    cell_id: int | None
    cell_code: str | None
    grid_version_id: int | None
    community_code: str | None
    street_code: str | None
    district_code: str | None
    flagged: bool
    explanation: dict[str, Any] = field(default_factory=dict)


def route(conn: Connection, lon: float, lat: float, category: dict[str, Any]) -> Routing:
    """Route a point of ``category`` (an active row of incidents.category)."""
    placed = category_and_routing(conn, category["code"], lon, lat)
    routing = placed[1] if placed else None
    return routing or route_outside_cells(conn, lon, lat, category)


def route_outside_cells(conn: Connection, lon: float, lat: float, category: dict[str, Any]) -> Routing:
    """属地兜底: a point in no unit cell goes to the nearest district, flagged for the supervisors."""
    near = conn.execute(NEAREST_DISTRICT_SQL, {"lon": lon, "lat": lat}).first()
    district = near[0] if near else None
    place = (
        f"属地兜底: no unit cell holds the point; nearest district {district} ({near[1]:.0f} m away)"
        if near else "属地兜底: no unit cell holds the point and there are no districts"
    )  # fmt: skip
    department, rule_text = decide_department(conn, category, district, None)
    explanation = {"place": place, "department": rule_text}
    return Routing(department, None, None, None, None, None, district, True, explanation)


def decide_department(
    conn: Connection, category: dict[str, Any], district: str | None, street: str | None
) -> tuple[str, dict[str, Any]]:
    """The category's department, unless the most specific matching rule names another."""
    rule = conn.execute(
        RULE_SQL, {"code": category["code"], "major": category["major_code"], "district": district, "street": street}
    ).first()
    office = f"street_{street}" if street else None
    office_exists = bool(
        rule is not None and rule[2] == STREET_OFFICE and office
        and conn.execute(DEPARTMENT_EXISTS_SQL, {"code": office}).first()
    )  # fmt: skip
    return apply_rule(category, tuple(rule) if rule else None, street, office_exists)


def apply_rule(
    category: dict[str, Any], rule: tuple | None, street: str | None, office_exists: bool
) -> tuple[str, dict[str, Any]]:
    """The department a fired ``rule`` (RULE_COLUMNS, or None) gives, and why."""
    default = category["department_code"]
    if rule is None:
        return default, {"rule": None, "why": f"category {category['code']} default: {default}"}
    rule_id, name, target, pattern, rule_district, rule_street = rule
    scope = f"street {rule_street}" if rule_street else f"district {rule_district}" if rule_district else "everywhere"
    fired = {"rule": rule_id, "name": name, "why": f"rule {rule_id} ({name}) for {pattern} in {scope}"}
    if target != STREET_OFFICE:
        return target, fired
    if office_exists:
        office = f"street_{street}"
        return office, fired | {"why": fired["why"] + f": street office {office}"}
    return default, fired | {"why": fired["why"] + f"; no street office here, so the default {default}"}


def category_and_routing(
    conn: Connection, code: str, lon: float, lat: float
) -> tuple[dict[str, Any], Routing | None] | None:
    """The active category ``code`` and the routing of the point, from one statement.

    None when the category is unknown; the routing is None when no unit cell holds the point
    (``route_outside_cells`` then takes the nearest-district path, once the point is known to
    be in the city).
    """
    row = conn.execute(CATEGORY_CELL_RULE_SQL, {"code": code, "lon": lon, "lat": lat}).mappings().first()
    if row is None:
        return None
    category = {k: v for k, v in row.items() if not k.startswith(("cell_", "rule_")) and k != "street_office_exists"}
    if row["cell_id"] is None:
        return category, None
    cell_id, cell_code, community, street, district, version = (row[f"cell_{c}"] for c in CELL_COLUMNS)
    rule = tuple(row[f"rule_{c}"] for c in RULE_COLUMNS) if row["rule_id"] is not None else None
    department, rule_text = apply_rule(category, rule, street, bool(row["street_office_exists"]))
    explanation = {"place": f"unit cell {cell_code} (grid version {version})", "department": rule_text}
    return category, Routing(department, cell_id, cell_code, version, community, street, district, False, explanation)
