"""Where a grid's areas come from: the communities of the administrative divisions, or any
catalogued polygon layer with a field holding each polygon's numeric code."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import Connection, text

from spatial.errors import InvalidInput, NotFound
from spatial.identifiers import stored_column

DIVISIONS_LAYER = "admin_divisions"
DIVISION_LEVELS = ("district", "street", "community")


@dataclass(frozen=True)
class Area:
    """One polygon to cut into cells, with its code and the codes of the levels above it."""

    code: str
    district_code: str
    street_code: str
    community_code: str
    geom: shapely.Geometry


def division_areas(conn: Connection, level: str = "community") -> list[Area]:
    """Every division of ``level``, with its ancestors' codes (itself standing for levels below)."""
    if level not in DIVISION_LEVELS:
        raise InvalidInput(f"level {level!r} unknown; one of {', '.join(DIVISION_LEVELS)}")
    rows = conn.execute(
        text(
            "SELECT code, coalesce(district_code, code), coalesce(street_code, code), "
            "ST_AsBinary(geom) FROM basemap.admin_division "
            "WHERE level = :level AND NOT ST_IsEmpty(geom) ORDER BY code"
        ),
        {"level": level},
    ).all()
    return [
        Area(code, district, street, code, polygon_of(geom))
        for code, district, street, geom in rows
    ]


def layer_areas(conn: Connection, layer_id: str, code_field: str) -> list[Area]:
    """Every polygon of a catalogued layer, coded by ``code_field`` (digits only)."""
    row = conn.execute(
        text(
            "SELECT storage_schema, storage_table, geom_field FROM catalog.layer "
            "WHERE id = :id AND storage_table IS NOT NULL"
        ),
        {"id": layer_id},
    ).first()
    if row is None:
        raise NotFound(f"no vector layer named {layer_id!r} in the catalog")
    schema, table, geom_field = row
    columns = set(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = :s AND table_name = :t"
            ),
            {"s": schema, "t": table},
        ).scalars()
    )
    stored = stored_column(code_field, columns)  # 'BoroCD' as the file spells it is column borocd
    if stored is None:
        raise InvalidInput(
            f"layer {layer_id!r} has no field {code_field!r}; its fields: {', '.join(sorted(columns))}"
        )
    code_field = stored
    rows = conn.execute(
        text(
            f'SELECT "{code_field}"::text, ST_AsBinary(ST_Force2D("{geom_field}")) FROM "{schema}"."{table}" '
            f'WHERE ST_Dimension("{geom_field}") = 2 ORDER BY 1'
        )
    ).all()
    return coded_areas([(code, geom) for code, geom in rows], layer_id, code_field)


def coded_areas(rows: list[tuple[str | None, bytes]], layer_id: str, code_field: str) -> list[Area]:
    """Areas from (code, WKB) rows: codes must be digits; equal codes are one area."""
    codes = [normalise_code(code) for code, _ in rows]
    bad = sorted({str(rows[i][0]) for i, code in enumerate(codes) if code is None})
    if bad:
        raise InvalidInput(
            f"field {code_field!r} of layer {layer_id!r} must hold digit codes; found {bad[:5]}"
        )
    width = max((len(code or "") for code in codes), default=0)
    if width > 12:
        raise InvalidInput(
            f"codes of field {code_field!r} are longer than 12 digits: no room for cells"
        )
    merged: dict[str, list[bytes]] = {}
    for code, (_, geom) in zip(codes, rows, strict=True):
        merged.setdefault((code or "").zfill(width), []).append(geom)
    return [area_of(code, *geoms) for code, geoms in sorted(merged.items())]


def normalise_code(value: str | None) -> str | None:
    """'101', '101.0' → '101'; None for anything that is not a whole number."""
    if value is None:
        return None
    text_value = str(value).strip()
    if text_value.endswith(".0"):
        text_value = text_value[:-2]
    return text_value if text_value.isdigit() else None


def area_of(code: str, *wkbs: bytes) -> Area:
    """An Area of a layer's polygons coded ``code``: a GB/T 2260 12- or 9-digit code is read as
    6 district + 3 street (+ 3 community) digits; any other code stands for every level at once
    (e.g. New York's 3-digit community districts)."""
    if len(code) in (9, 12):
        return Area(code, code[:6], code[:9], code, polygon_of(*wkbs))
    return Area(code, code, code, code, polygon_of(*wkbs))


def polygon_of(*wkbs: bytes) -> shapely.Geometry:
    """One valid (multi)polygon from WKB parts."""
    parts = shapely.from_wkb(np.array([bytes(w) for w in wkbs], dtype=object))
    geom = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    return shapely.make_valid(geom) if not shapely.is_valid(geom) else geom
