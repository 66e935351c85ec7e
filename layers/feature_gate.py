"""The quality gate for one GeoJSON feature written to an overlay (OGC API POST/PUT/PATCH).

CRS declared (``Content-Crs``) or derivable (GeoJSON is CRS84: longitude first); a geometry of
the layer's type that is valid and lies inside the city; attributes the table has, of the
right types, required ones present. Every problem found is listed, not just the first, and
nothing is written when there is any.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from shapely.geometry import shape

from layers.overlay_table import Column, OverlayTable, fit_geometries
from spatial.crs import parse_crs
from spatial.errors import InvalidInput
from spatial.extent import OFF_THE_GLOBE, PLACED, SWAPPED, CityExtent, place_geometries
from spatial.params import parse_instant

FAMILIES = {
    "Point": "POINT", "MultiPoint": "POINT",
    "LineString": "LINESTRING", "MultiLineString": "LINESTRING",
    "Polygon": "POLYGON", "MultiPolygon": "POLYGON",
}
INTEGER_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
NUMBER_TYPES = ("double precision", "real", "numeric")
TEXT_TYPES = ("text", "character varying", "character")


class FeatureProblems:
    """Problems found in one feature, raised together as one InvalidInput."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.problems: list[str] = []

    def add(self, problem: str) -> None:
        self.problems.append(problem)

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidInput(
                f"{self.label} was refused, nothing was stored: " + "; ".join(self.problems),
                details=list(self.problems),
            )


# ------------------------------------------------------------------------------- the feature
def feature_parts(body: Any, label: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The geometry and properties members of a GeoJSON Feature, or InvalidInput."""
    if not isinstance(body, dict) or body.get("type") != "Feature":
        raise InvalidInput(f"{label}: the body must be a GeoJSON Feature ({{\"type\": \"Feature\", …}})")
    geometry, properties = body.get("geometry"), body.get("properties")
    if geometry is not None and not isinstance(geometry, dict):
        raise InvalidInput(f"{label}: geometry must be a GeoJSON geometry object")
    if properties is not None and not isinstance(properties, dict):
        raise InvalidInput(f"{label}: properties must be a JSON object")
    return geometry, properties


def declared_crs(body: dict[str, Any], header: str | None) -> str | None:
    """The CRS the coordinates are in: the Content-Crs header, else a GeoJSON 2008 ``crs`` member."""
    if header:
        return header.strip().strip("<>")
    member = body.get("crs")
    if isinstance(member, dict):
        name = (member.get("properties") or {}).get("name")
        return str(name) if name else None
    return None


# ------------------------------------------------------------------------------- geometry
def checked_geometry(
    geometry: dict[str, Any] | None,
    table: OverlayTable,
    *,
    crs: str | None,
    extent: CityExtent | None,
    problems: FeatureProblems,
) -> Any:
    """A shapely geometry in storage lon/lat fit for ``table``, or None with problems noted."""
    if geometry is None:
        problems.add("it has no geometry")
        return None
    try:
        geom = shape(geometry)
    except Exception as err:  # shapely raises several classes for broken GeoJSON
        problems.add(f"unreadable geometry: {err}")
        return None
    if geom.is_empty:
        problems.add("its geometry is empty")
        return None
    geom = to_lonlat(geom, crs, problems)
    if geom is None:
        return None
    geom = fitted_type(geom, table, problems)
    if geom is None:
        return None
    if not shapely.is_valid(geom):
        problems.add(f"invalid geometry: {shapely.is_valid_reason(geom)}")
        return None
    check_position(geom, extent, problems)
    return geom


def to_lonlat(geom: Any, crs: str | None, problems: FeatureProblems) -> Any:
    """Coordinates moved to storage lon/lat, honouring the declared CRS's axis order."""
    if crs is None:
        return geom
    try:
        source = parse_crs(crs)
    except InvalidInput as err:
        problems.add(err.message)
        return None
    if source == CRS.from_user_input("OGC:CRS84"):
        return geom
    # not always_xy: EPSG:4326 and EPSG:4490 declared explicitly are latitude first
    transformer = Transformer.from_crs(source, CRS.from_user_input("OGC:CRS84"))
    return shapely.transform(geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def fitted_type(geom: Any, table: OverlayTable, problems: FeatureProblems) -> Any:
    """The geometry as the column stores it (THE rule: ``layers.overlay_table.fit_geometries``,
    shared with file loads), or None with the refusal noted."""
    wanted = table.geometry_type.removesuffix("Z").removesuffix("M")
    if geom.geom_type not in FAMILIES:  # collections and rings: no overlay stores them
        problems.add(f"a {geom.geom_type} cannot be stored in a layer of {wanted.title()} features")
        return None
    one = np.empty(1, dtype=object)
    one[0] = geom
    fit = fit_geometries(one, table)
    if fit.wrong[0]:
        problems.add(
            f"wrong geometry type: {geom.geom_type} given, layer {table.layer.id!r} holds "
            f"{wanted.title()} features"
        )
        return None
    if fit.several[0]:
        problems.add(f"a {geom.geom_type} of {len(geom.geoms)} parts cannot be stored as one {wanted.title()}")
        return None
    return fit.geometries[0]


def check_position(geom: Any, extent: CityExtent | None, problems: FeatureProblems) -> None:
    """Inside lon ±180 / lat ±90, and inside the city; names swapped axes when that is the cause."""
    verdict = place_geometries(np.array([geom]), extent)[0]
    if verdict == PLACED:
        return
    if verdict == SWAPPED:
        problems.add(
            f"coordinates in latitude/longitude order (first position {_first(geom)}): GeoJSON "
            "and CRS84 put longitude first; swap them or declare Content-Crs"
        )
    elif verdict == OFF_THE_GLOBE:
        problems.add(
            f"coordinates outside longitude ±180 / latitude ±90 (first position {_first(geom)}): "
            "projected coordinates? declare their CRS with the Content-Crs header"
        )
    else:
        assert extent is not None
        problems.add(
            f"outside the city's extent {extent.describe()} (first position {_first(geom)})"
        )


def _first(geom: Any) -> str:
    x, y = shapely.get_coordinates(geom)[0]
    return f"{x:.6f} {y:.6f}"


# ------------------------------------------------------------------------------ properties
def checked_properties(
    properties: dict[str, Any], table: OverlayTable, *, complete: bool, problems: FeatureProblems
) -> dict[str, Any]:
    """Properties the table has, of the right types; ``complete``: required ones present too."""
    unknown = sorted(set(properties) - set(table.columns) - {table.id_field})
    if unknown:
        problems.add(
            f"unknown attribute(s) {', '.join(unknown)}; layer {table.layer.id!r} has "
            f"{', '.join(table.columns) or 'none'}"
        )
    kept = {k: v for k, v in properties.items() if k in table.columns}
    for name, value in kept.items():
        reason = value_problem(table.columns[name], value)
        if reason:
            problems.add(f"attribute {name!r}: {reason}")
    if complete:
        missing = [n for n in table.required if kept.get(n) is None]
        if missing:
            problems.add(f"required attribute(s) missing: {', '.join(missing)}")
    return kept


def value_problem(column: Column, value: Any) -> str | None:
    """Why ``value`` does not fit ``column``, or None when it does."""
    if value is None:
        return "may not be null" if not column.nullable else None
    kind = column.data_type
    if kind in INTEGER_RANGES:
        low, high = INTEGER_RANGES[kind]
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{kind} expected, got {_json_type(value)} {value!r}"
        return None if low <= value <= high else f"{value} is outside the range of {kind}"
    if kind in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return f"a number expected, got {_json_type(value)} {value!r}"
        return None
    if kind == "boolean":
        return None if isinstance(value, bool) else f"true or false expected, got {value!r}"
    if kind in TEXT_TYPES:
        if not isinstance(value, str):
            return f"text expected, got {_json_type(value)} {value!r}"
        if column.max_length and len(value) > column.max_length:
            return f"at most {column.max_length} characters, got {len(value)}"
        return None
    if kind.startswith("timestamp") or kind == "date":
        return _time_problem(value, kind)
    if kind == "ARRAY":
        return None if isinstance(value, list) else f"a JSON array expected, got {value!r}"
    return None  # json, jsonb and other types: PostgreSQL converts or refuses


def _time_problem(value: Any, kind: str) -> str | None:
    if not isinstance(value, str):
        return f"an RFC 3339 {kind} string expected, got {value!r}"
    try:
        if kind == "date":
            dt.date.fromisoformat(value)  # a calendar date, not an instant
        else:
            parse_instant(value)
    except (ValueError, InvalidInput):
        return f"{value[:40]!r} is not an RFC 3339 {'date' if kind == 'date' else 'date-time'}"
    return None


def _json_type(value: Any) -> str:
    return {str: "text", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )
