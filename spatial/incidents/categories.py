"""The category catalogue (部件/事件, 大类 + 小类 codes): read from a versioned YAML file,
validated, and loaded into ``incidents.category`` and ``incidents.routing_rule``.

Loading a new catalogue version upserts every category (old incidents keep their codes: a
category missing from the new file is marked inactive, never deleted), replaces the routing
rules, and adds the departments the file names (existing departments keep their names). Rules
targeting ``street_office`` get one department per street of the divisions (street_<code>).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Connection, Engine, text

from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.errors import InvalidInput, NotFound

DEFAULT_FILE = Path(__file__).parent / "data" / "categories-v1.yaml"
STAGES = ("register", "dispatch", "handle", "verify", "close")
STREET_OFFICE = "street_office"
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")


@dataclass(frozen=True)
class CategoryDef:
    """One subclass as the file defines it."""

    code: str
    kind: str
    major_code: str
    major_name: tuple[str, str]
    name: tuple[str, str]
    department: str
    limits: dict[str, int]  # stage -> working minutes


@dataclass(frozen=True)
class RuleDef:
    name: str
    pattern: str
    districts: tuple[str, ...]
    streets: tuple[str, ...]
    target: str
    priority: int


@dataclass
class Catalogue:
    """A parsed catalogue file: version, departments, categories and rules."""

    version: str
    departments: dict[str, tuple[str, str]]
    categories: list[CategoryDef]
    rules: list[RuleDef] = field(default_factory=list)


def minutes_of(value: Any, minutes_per_day: int = 480) -> int:
    """'30m' → 30, '2h' → 120, '3d' → 3 working days of ``minutes_per_day``."""
    match = DURATION.match(str(value))
    if not match:
        raise InvalidInput(f"time limit {value!r} is not like '30m', '4h' or '3d'")
    number, unit = float(match.group(1)), match.group(2)
    return int(round(number * {"m": 1, "h": 60, "d": minutes_per_day}[unit]))


def read_catalogue(path: Path = DEFAULT_FILE, minutes_per_day: int = 480) -> Catalogue:
    """Parse and check a catalogue file; InvalidInput naming the first problem."""
    try:
        with Path(path).open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except FileNotFoundError:
        raise NotFound(f"no catalogue file at {path}") from None
    except yaml.YAMLError as err:
        raise InvalidInput(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict) or "version" not in data:
        raise InvalidInput(f"{path} is not a category catalogue (no 'version')")
    departments = {str(k): _names(v, f"department {k}") for k, v in (data.get("departments") or {}).items()}
    defaults = {s: minutes_of(v, minutes_per_day) for s, v in (data.get("defaults") or {}).items()}
    missing = [s for s in STAGES if s not in defaults]
    if missing:
        raise InvalidInput(f"'defaults' must give a time limit for every stage; missing {missing}")
    categories = [
        category
        for kind, section in (("component", "components"), ("event", "events"))
        for category in _section(data.get(section) or {}, kind, defaults, minutes_per_day)
    ]
    _check_categories(categories, departments)
    rules = [_rule(i, r, departments) for i, r in enumerate(data.get("rules") or [])]
    return Catalogue(str(data["version"]), departments, categories, rules)


def _names(value: Any, what: str) -> tuple[str, str]:
    if not isinstance(value, list | tuple) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what}: give the name as [中文, English]")
    return str(value[0]), str(value[1])


def _section(section: dict, kind: str, defaults: dict[str, int], per_day: int) -> list[CategoryDef]:
    out = []
    for major, body in section.items():
        major = str(major)
        if not re.fullmatch(r"\d{2}", major):
            raise InvalidInput(f"major class {major!r} must be 2 digits")
        major_name = _names(body.get("name"), f"major class {major}")
        for minor, item in (body.get("items") or {}).items():
            code = f"{major}{minor}"
            if not re.fullmatch(r"\d{4}", code):
                raise InvalidInput(f"subclass {minor!r} of {major} must be 2 digits")
            limits = dict(defaults)
            limits.update({s: minutes_of(item[s], per_day) for s in STAGES if s in item})
            out.append(CategoryDef(code, kind, major, major_name, _names(item.get("name"), f"category {code}"),
                                   str(item.get("department", "")), limits))  # fmt: skip
    return out


def _check_categories(categories: list[CategoryDef], departments: dict[str, tuple[str, str]]) -> None:
    seen: set[str] = set()
    for category in categories:
        if category.code in seen:
            raise InvalidInput(f"category code {category.code} appears twice")
        seen.add(category.code)
        if category.department not in departments:
            raise InvalidInput(f"category {category.code} names department {category.department!r}, "
                               "which the file's 'departments' does not list")  # fmt: skip
    if not categories:
        raise InvalidInput("the catalogue has no categories")


def _rule(index: int, rule: dict, departments: dict[str, tuple[str, str]]) -> RuleDef:
    pattern = str(rule.get("category", "*"))
    if not re.fullmatch(r"\*|\d{2}|\d{4}", pattern):
        raise InvalidInput(f"rule {index + 1}: category must be a 4-digit code, a 2-digit class or '*'")
    target = str(rule.get("target", ""))
    if target != STREET_OFFICE and target not in departments:
        raise InvalidInput(f"rule {index + 1}: target {target!r} is neither a listed department nor street_office")
    districts = tuple(str(d) for d in rule.get("districts") or [])
    streets = tuple(str(s) for s in rule.get("streets") or [])
    # specificity: street > district > anywhere; subclass > major class > every category
    priority = (200 if streets else 100 if districts else 0) + {1: 0, 2: 10, 4: 20}[len(pattern)]
    return RuleDef(str(rule.get("name") or f"rule {index + 1}"), pattern, districts, streets, target, priority)


def load_catalogue(engine: Engine, catalogue: Catalogue, *, principal: Principal) -> dict[str, int]:
    """Store a catalogue: departments added, categories upserted, rules replaced; counts (audited)."""
    with engine.begin() as conn:
        return store_catalogue(conn, catalogue, principal=principal)


def store_catalogue(conn: Connection, catalogue: Catalogue, *, principal: Principal) -> dict[str, int]:
    """load_catalogue inside the caller's transaction (a city load stores its catalogue with it)."""
    for code, (zh, en) in catalogue.departments.items():
        add_department(conn, code, zh, en)
    offices = street_offices(conn) if any(r.target == STREET_OFFICE for r in catalogue.rules) else 0
    for c in catalogue.categories:
        conn.execute(UPSERT_CATEGORY, {
            "code": c.code, "kind": c.kind, "major": c.major_code, "mzh": c.major_name[0],
            "men": c.major_name[1], "zh": c.name[0], "en": c.name[1], "dept": c.department,
            "limits": json.dumps(c.limits), "version": catalogue.version,
        })  # fmt: skip
    conn.execute(
        text("UPDATE incidents.category SET active = false WHERE NOT (code = ANY(:codes))"),
        {"codes": [c.code for c in catalogue.categories]},
    )
    conn.execute(text("DELETE FROM incidents.routing_rule"))
    rows = 0
    for r in catalogue.rules:
        for district in r.districts or (None,):
            for street in r.streets or (None,):
                conn.execute(INSERT_RULE, {"name": r.name, "pattern": r.pattern, "d": district,
                                           "s": street, "target": r.target, "p": r.priority,
                                           "v": catalogue.version})  # fmt: skip
                rows += 1
    record_audit(conn, "categories.load", f"catalogue {catalogue.version}", principal=principal,
                 detail={"categories": len(catalogue.categories), "rules": rows})  # fmt: skip
    return {"departments": len(catalogue.departments), "categories": len(catalogue.categories),
            "rules": rows, "street_offices": offices}  # fmt: skip


UPSERT_CATEGORY = text(
    """
    INSERT INTO incidents.category (code, kind, major_code, major_name_zh, major_name_en, name_zh,
        name_en, department_code, time_limits, catalogue_version, active)
    VALUES (:code, :kind, :major, :mzh, :men, :zh, :en, :dept, CAST(:limits AS jsonb), :version, true)
    ON CONFLICT (code) DO UPDATE SET kind = EXCLUDED.kind, major_code = EXCLUDED.major_code,
        major_name_zh = EXCLUDED.major_name_zh, major_name_en = EXCLUDED.major_name_en,
        name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en,
        department_code = EXCLUDED.department_code, time_limits = EXCLUDED.time_limits,
        catalogue_version = EXCLUDED.catalogue_version, active = true
    """
)
INSERT_RULE = text(
    "INSERT INTO incidents.routing_rule (name, category_pattern, district_code, street_code, target, "
    "priority, catalogue_version) VALUES (:name, :pattern, :d, :s, :target, :p, :v)"
)


def add_department(conn: Connection, code: str, name_zh: str, name_en: str) -> None:
    """Add a department unless it exists (an existing one keeps its names)."""
    conn.execute(
        text(
            "INSERT INTO catalog.department (code, name_zh, name_en) VALUES (:c, :zh, :en) "
            "ON CONFLICT (code) DO NOTHING"
        ),
        {"c": code, "zh": name_zh, "en": name_en},
    )


def street_offices(conn: Connection) -> int:
    """A department street_<code> (街道办事处) for every street of the divisions; how many."""
    result = conn.execute(
        text(
            "INSERT INTO catalog.department (code, name_zh, name_en) "
            "SELECT 'street_' || code, name_zh || '办事处', name_en || ' Office' "
            "FROM basemap.admin_division WHERE level = 'street' ON CONFLICT (code) DO NOTHING"
        )
    )
    return int(result.rowcount or 0)


def list_categories(conn: Connection, *, active_only: bool = True) -> list[dict[str, Any]]:
    """Every category, by code."""
    where = "WHERE active" if active_only else ""
    rows = conn.execute(text(f"SELECT * FROM incidents.category {where} ORDER BY code")).mappings()
    return [dict(row) for row in rows]
