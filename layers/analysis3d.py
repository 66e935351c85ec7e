"""The planners' 3D analyses for the doors (REST, OGC API Processes, the notebooks' client): inputs → GeoJSON.

Every door hands the same inputs (query parameters or a JSON object) to ``run_analysis``; they
are parsed here with the shared parsers, the buildings layer (and a zone layer) are read through
THE read check (a hidden layer is a 404, as everywhere) and the geometry runs in
``spatial.analysis3d``. Buildings are LoD1 prisms: footprint × ``height_m`` (or floors × 3 m)
on flat ground (no DEM is sampled yet). ``save_result`` keeps an answer as an overlay layer of
the caller's department through ``layers.vector.load_vector_file`` (the one write gate).

Inputs (names the same at every door):

- every one: ``layer`` (buildings layer, default ``buildings``), ``height_field`` (default
  ``height_m``; ``floors`` × 3 m where it is empty), ``proposed``: a proposed building (or a
  list, or a FeatureCollection): GeoJSON Feature/Polygon with ``height_m``.
- ``height-check`` (控高): ``zones`` (a polygon layer id, or an in-memory GeoJSON
  FeatureCollection), ``limit_field`` (default ``max_height_m``); checks ``proposed`` when
  given, else every building of ``layer``. The strictest zone a building overlaps counts.
- ``sunlight`` (日照): ``points`` ([lon, lat], [lon, lat, z], {"lon", "lat", "z", "facing", "id"}
  or 'lon,lat;lon,lat'; façade points give ``facing``, the azimuth their wall faces), ``day``
  (``dahan`` 大寒, default, or ``dongzhi`` 冬至), ``year``, ``date`` (overrides the day),
  ``step`` (minutes, default 1, must divide the window), ``radius`` (m, default 500),
  ``rule`` (``total`` default, or ``continuous``), ``min_hours`` (default 2 大寒 / 1 冬至),
  ``min_spell_minutes`` (default 0). Budget: points × steps ≤ ``MAX_SUN_SAMPLES``.
- ``line-of-sight``: ``a``, ``b`` as [lon, lat, z] (z above ground, default 1.6 m).
- ``viewshed``: ``observer`` [lon, lat], ``observer_height`` (1.6), ``target_height`` (0),
  ``radius`` (m, default 300, ≤ 1,000), ``resolution`` (cell size m, default 10, 1–100);
  budget ``MAX_VIEWSHED_CELLS`` cells. Answer: the visible and the hidden cells as two
  MultiPolygons (cell counts and areas in their properties).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np
import shapely
from sqlalchemy import Engine

from layers import saved_results
from layers.features import describe_table
from layers.imagery.access import readable_layer
from layers.saved_results import About, SaveAs, result_frame, save_frame
from layers.vector import LoadReport
from spatial.access.principal import Principal
from spatial.analysis3d import scene, store, sunlight
from spatial.db import shared_engine
from spatial.errors import BudgetExceeded, InvalidInput
from spatial.extent import city_extent
from spatial.params import parse_int, parse_number, parse_words

Caller = Principal | None
OPERATIONS = ("height-check", "sunlight", "line-of-sight", "viewshed")
MAX_POINTS = 500
MAX_SUN_SAMPLES = 250_000
"""Points × steps of one sunlight request (100 points × 480 one-minute steps fit twice)."""
MAX_VIEWSHED_CELLS = 40_000
MAX_RADIUS_SUN, MAX_RADIUS_VIEW = 2_000.0, 1_000.0
MAX_BUILDINGS = 200_000
MAX_PROPOSED = 50
MAX_ZONES = 5_000
MAX_VERTICES = 10_000
EYE_M = 1.6
NUMERIC = ("integer", "bigint", "smallint", "double precision", "real", "numeric")


# ------------------------------------------------------------------------------ parsing
def _given(inputs: Mapping[str, Any], name: str) -> Any:
    value = inputs.get(name)
    return None if value in (None, "") else value


def _number(inputs: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = _given(inputs, name)
    return default if value is None else parse_number(value, name=name, minimum=low, maximum=high)


def parse_point3(value: Any, name: str, default_z: float | None = 0.0) -> dict[str, Any]:
    """A point: 'lon,lat[,z]', [lon, lat(, z)] or {"lon", "lat", "z", "facing", "id"}."""
    if value is None or value == "":
        raise InvalidInput(f"{name} is required: a point [lon, lat] or [lon, lat, z]")
    if isinstance(value, str):
        if len(value) > 100:
            raise InvalidInput(f"{name} must be a point 'lon,lat[,z]'")
        value = value.split(",")
    if isinstance(value, Mapping):
        unknown = set(value) - {"lon", "lat", "z", "facing", "id"}
        if unknown:
            raise InvalidInput(f"{name}: unknown field {sorted(unknown)[0][:40]!r}; known: lon, lat, z, facing, id")
        given = dict(value)
    elif isinstance(value, list | tuple) and len(value) in (2, 3):
        given = dict(zip(("lon", "lat", "z"), value, strict=False))
    else:
        raise InvalidInput(f"{name} must be a point [lon, lat] or [lon, lat, z]")
    point: dict[str, Any] = {
        "lon": parse_number(given.get("lon"), name=f"{name} longitude", minimum=-180, maximum=180),
        "lat": parse_number(given.get("lat"), name=f"{name} latitude", minimum=-90, maximum=90),
    }
    facing = given.get("facing")
    point["facing"] = None if facing in (None, "") else parse_number(facing, name=f"{name}.facing", minimum=0, maximum=360)
    fallback = (0.9 if point["facing"] is not None else 0.0) if default_z is None else default_z
    point["z"] = fallback if given.get("z") in (None, "") else parse_number(given["z"], name=f"{name} z", minimum=0, maximum=1000)
    ident = given.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, str | int) or len(str(ident)) > 100):
        raise InvalidInput(f"{name}.id must be a short text or a whole number")
    if isinstance(ident, str):
        parse_words(ident, name=f"{name}.id")
    point["id"] = ident
    return point


def parse_points(value: Any) -> list[dict[str, Any]]:
    """``points``: 'lon,lat;lon,lat', a JSON list of points, or a GeoJSON FeatureCollection of points."""
    if isinstance(value, Mapping) and value.get("type") == "FeatureCollection":
        value = [_point_feature(f, i) for i, f in enumerate(value.get("features") or [])]
    if value is None or value == "" or value == []:
        raise InvalidInput("points is required: a list of points [lon, lat] or {lon, lat, z, facing}")
    if isinstance(value, str):
        if len(value) > 20_000:
            raise InvalidInput("points is too long")
        value = [v for v in value.split(";") if v.strip()]
    if not isinstance(value, list):
        raise InvalidInput("points must be a list of points")
    if len(value) > MAX_POINTS:
        raise BudgetExceeded(f"points: at most {MAX_POINTS} points, not {len(value)}")
    points = [parse_point3(item, f"points[{i}]", default_z=None) for i, item in enumerate(value)]
    for i, point in enumerate(points):
        point["id"] = i + 1 if point["id"] is None else point["id"]
    return points


def _point_feature(feature: Any, index: int) -> dict[str, Any]:
    if not isinstance(feature, Mapping) or not isinstance(feature.get("geometry"), Mapping):
        raise InvalidInput(f"points.features[{index}] must be a GeoJSON Feature with a Point")
    coordinates = feature["geometry"].get("coordinates")
    if feature["geometry"].get("type") != "Point" or not isinstance(coordinates, list):
        raise InvalidInput(f"points.features[{index}] must be a Point")
    props = feature.get("properties") or {}
    return {"lon": coordinates[0] if coordinates else None, "lat": coordinates[1] if len(coordinates) > 1 else None,
            **{k: props[k] for k in ("z", "facing", "id") if isinstance(props, Mapping) and k in props}}  # fmt: skip


def parse_polygon(value: Any, name: str) -> shapely.Geometry:
    """A GeoJSON Polygon or MultiPolygon (lon/lat), valid, of at most MAX_VERTICES vertices."""
    if not isinstance(value, Mapping) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"{name} must be a GeoJSON Polygon or MultiPolygon")
    try:
        shape = shapely.geometry.shape(value)
    except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.ShapelyError):
        raise InvalidInput(f"{name} is not a readable GeoJSON polygon") from None
    coordinates = shapely.get_coordinates(shape)
    if shape.is_empty or len(coordinates) > MAX_VERTICES or not np.isfinite(coordinates).all():
        raise InvalidInput(f"{name} must be a non-empty polygon of finite coordinates (at most {MAX_VERTICES:,} vertices)")
    if not ((coordinates[:, 0] >= -180) & (coordinates[:, 0] <= 180) & (np.abs(coordinates[:, 1]) <= 90)).all():
        raise InvalidInput(f"{name} must be in lon/lat (CRS84)")
    return shapely.make_valid(shape) if not shape.is_valid else shape


def _features(value: Any, name: str, maximum: int) -> list[Mapping[str, Any]]:
    """Features from a FeatureCollection, a list, a Feature or a bare geometry."""
    if isinstance(value, Mapping) and value.get("type") == "FeatureCollection":
        value = value.get("features")
    elif isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidInput(f"{name} must be a GeoJSON Feature, a list of them or a FeatureCollection")
    if len(value) > maximum:
        raise BudgetExceeded(f"{name}: at most {maximum} features, not {len(value)}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidInput(f"{name}[{i}] must be a GeoJSON Feature")
        if item.get("type") != "Feature":
            props = {k: v for k, v in item.items() if k not in ("type", "coordinates", "geometry")}
            item = {"type": "Feature", "geometry": item.get("geometry", item), "properties": props}
        out.append(item)
    return out


def parse_shapes(value: Any, name: str, field: str, maximum: int) -> list[dict[str, Any]]:
    """Given polygons with a number ``field`` (height_m, a limit): [{"id", "value", "geometry", "shape"}]."""
    shapes = []
    for i, feature in enumerate(_features(value, name, maximum)):
        props = feature.get("properties") or {}
        if not isinstance(props, Mapping):
            raise InvalidInput(f"{name}[{i}].properties must be an object")
        shape = parse_polygon(feature.get("geometry"), f"{name}[{i}].geometry")
        number = parse_number(props.get(field), name=f"{name}[{i}].{field}", minimum=0, maximum=1000)
        ident = feature.get("id", props.get("id", f"{name}-{i + 1}"))
        if isinstance(ident, bool) or not isinstance(ident, str | int) or len(str(ident)) > 100:
            raise InvalidInput(f"{name}[{i}].id must be a short text or a whole number")
        if isinstance(ident, str):
            parse_words(ident, name=f"{name}[{i}].id")
        shapes.append({"id": ident, "value": number, "geometry": shapely.geometry.mapping(shape), "shape": shape})
    return shapes


def _choice(inputs: Mapping[str, Any], name: str, allowed: Mapping[str, str] | Sequence[str], default: str) -> str:
    value = _given(inputs, name)
    if value is None:
        return default
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}")
    return allowed[value] if isinstance(allowed, Mapping) else value


# ------------------------------------------------------------------------------ sources
def _readable_table(engine: Engine, layer: Any, caller: Caller, what: str) -> tuple[dict[str, Any], dict[str, str]]:
    if not isinstance(layer, str) or not store.IDENTIFIER.match(layer):
        raise InvalidInput(f"{what} must be the id of a layer of polygons")
    row = readable_layer(engine, layer, caller)
    if not row.get("storage_table") or row.get("kind") != "vector":
        raise InvalidInput(f"layer {layer!r} has no features: {what} must be a vector layer of polygons")
    table = describe_table(engine, row["storage_schema"], row["storage_table"], id_field=row["id_field"],
                           geom_field=row["geom_field"], time_field=None)  # fmt: skip
    return row, table.columns


def building_source(engine: Engine, inputs: Mapping[str, Any], caller: Caller) -> store.TableSource:
    """The buildings layer (THE read check) with its height (or floors) column."""
    layer = _given(inputs, "layer") or "buildings"
    row, columns = _readable_table(engine, layer, caller, "layer")
    height = _given(inputs, "height_field") or "height_m"
    if not isinstance(height, str) or height not in columns:
        raise InvalidInput(f"layer {layer!r} has no height field {str(height)[:40]!r}; give height_field")
    if columns[height] not in NUMERIC:
        raise InvalidInput(f"height_field {height!r} of layer {layer!r} is not a number")
    floors = "floors" if columns.get("floors") in NUMERIC and height != "floors" else None
    return store.TableSource(row["storage_schema"], row["storage_table"], row["id_field"], row["geom_field"],
                             height, floors)  # fmt: skip


def zone_source(engine: Engine, inputs: Mapping[str, Any], caller: Caller) -> store.Source:
    """``zones``: a layer (THE read check; ``limit_field`` numeric) or in-memory GeoJSON zones."""
    zones = _given(inputs, "zones")
    field = _given(inputs, "limit_field") or "max_height_m"
    if not isinstance(field, str) or not store.IDENTIFIER.match(field):
        raise InvalidInput("limit_field must be a field name")
    if zones is None:
        raise InvalidInput("zones is required: a polygon layer with a height limit, or a GeoJSON FeatureCollection")
    if isinstance(zones, str):
        row, columns = _readable_table(engine, zones, caller, "zones")
        if columns.get(field) not in NUMERIC:
            raise InvalidInput(f"zones layer {zones!r} has no number field {field!r}; name it with limit_field")
        return store.TableSource(row["storage_schema"], row["storage_table"], row["id_field"], row["geom_field"], field)
    return store.GivenShapes(parse_shapes(zones, "zones", field, MAX_ZONES))


def proposed_shapes(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``proposed`` buildings (footprint + height_m), [] when none."""
    value = _given(inputs, "proposed")
    return [] if value is None else parse_shapes(value, "proposed", "height_m", MAX_PROPOSED)


def _check_in_city(engine: Engine, lonlats: Sequence[tuple[float, float]]) -> None:
    with engine.connect() as conn:
        box = city_extent(conn)
    if box is None:
        return
    for lon, lat in lonlats:
        if not (box.minx <= lon <= box.maxx and box.miny <= lat <= box.maxy):
            raise InvalidInput(f"the point {lon:.6f}, {lat:.6f} lies outside the city ({box.describe()})")


@dataclass
class City3D:
    """Buildings near the analysis as prisms in a local frame (proposed ones appended)."""

    frame: scene.LocalFrame
    prisms: scene.Prisms


def city_around(
    engine: Engine, source: store.TableSource, lonlats: Sequence[tuple[float, float]], reach_m: float,
    proposed: Sequence[Mapping[str, Any]] = (),
) -> City3D:  # fmt: skip
    """The prisms within ``reach_m`` of the points' box, in a frame centred on them."""
    lons, lats = np.array([p[0] for p in lonlats]), np.array([p[1] for p in lonlats])
    frame = scene.LocalFrame(float(lons.mean()), float(lats.mean()))
    dlat = reach_m / 110_540.0
    dlon = reach_m / (111_320.0 * max(math.cos(math.radians(float(np.abs(lats).max()))), 0.01))
    box = (lons.min() - dlon, lats.min() - dlat, lons.max() + dlon, lats.max() + dlat)
    with engine.connect() as conn:
        rows = store.buildings_in_box(conn, source, box, maximum=MAX_BUILDINGS)
    ids = [r[0] for r in rows] + [p["id"] for p in proposed]
    heights = [r[1] for r in rows] + [p["value"] for p in proposed]
    shapes = np.array([shapely.from_wkb(r[2]) for r in rows] + [p["shape"] for p in proposed], dtype=object)
    local = frame.to_local(shapes) if len(shapes) else shapes
    return City3D(frame, scene.Prisms.build(ids, heights, list(local)))


# ------------------------------------------------------------------------------ running
def run_analysis(engine: Engine, operation: str, inputs: Mapping[str, Any], *, caller: Caller) -> dict[str, Any]:
    """Parse ``inputs`` for ``operation`` (one of OPERATIONS), run it, answer GeoJSON."""
    if operation not in OPERATIONS:
        raise InvalidInput(f"unknown 3D analysis {operation!r}; one of {', '.join(OPERATIONS)}")
    if not isinstance(inputs, Mapping):
        raise InvalidInput("the inputs must be an object")
    return RUNNERS[operation](engine, {k: v for k, v in inputs.items() if k != "save_as"}, caller)


def run_analysis_at(url: str, operation: str, inputs: Mapping[str, Any], *, caller: Caller) -> dict[str, Any]:
    """``run_analysis`` against the database at ``url`` (for a render worker process, ``api.workers``)."""
    return run_analysis(shared_engine(url, pool_size=2), operation, inputs, caller=caller)


def _height_check(engine: Engine, inputs: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
    proposed = proposed_shapes(inputs)
    zones = zone_source(engine, inputs, caller)
    buildings: store.Source = store.GivenShapes(proposed) if proposed else building_source(engine, inputs, caller)
    with engine.connect() as conn:
        found = store.height_check(conn, buildings, zones)
    features = [
        {"type": "Feature", "id": v.building_id, "geometry": v.geometry,
         "properties": {"building_id": v.building_id, "height_m": round(v.height_m, 2), "limit_m": round(v.limit_m, 2),
                        "excess_m": round(v.excess_m, 2), "zone_id": v.zone_id, "zones": v.zones}}
        for v in found.violations
    ]  # fmt: skip
    return {"type": "FeatureCollection", "operation": "height-check", "checked": found.checked,
            "violations": len(features), "subject": "proposed" if proposed else str(inputs.get("layer") or "buildings"),
            "features": features}  # fmt: skip


def _sun_day(inputs: Mapping[str, Any]) -> sunlight.SunDay:
    kind = _choice(inputs, "day", sunlight.DAY_NAMES, "dahan")
    date_text = _given(inputs, "date")
    if date_text is not None:
        if not isinstance(date_text, str) or not sunlight_date_ok(date_text):
            raise InvalidInput(f"date must be a day YYYY-MM-DD between 1900 and 2100, not {str(date_text)[:40]!r}")
        day = dt.date.fromisoformat(date_text)
        return sunlight.sun_day(kind, day.year, day)
    year = parse_int(_given(inputs, "year") or dt.datetime.now(dt.UTC).year, name="year", minimum=1900, maximum=2100)
    return sunlight.sun_day(kind, year)


def sunlight_date_ok(text: str) -> bool:
    try:
        day = dt.date.fromisoformat(text.strip()) if len(text) == 10 and text.isascii() else None
    except ValueError:
        return False
    return day is not None and 1900 <= day.year <= 2100


def _sunlight(engine: Engine, inputs: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
    points = parse_points(_given(inputs, "points"))
    day = _sun_day(inputs)
    step = _number(inputs, "step", 1.0, 0.5, 60.0)
    steps = int(round((day.end - day.start) / step))
    if len(points) * steps > MAX_SUN_SAMPLES:
        raise BudgetExceeded(f"{len(points)} points × {steps} steps is more than {MAX_SUN_SAMPLES:,} samples: "
                             "fewer points or a longer step")  # fmt: skip
    reach = _number(inputs, "radius", 500.0, 10.0, MAX_RADIUS_SUN)
    rule = _choice(inputs, "rule", sunlight.RULES, "total")
    required = _number(inputs, "min_hours", sunlight.DAYS[day.kind][3], 0.0, 24.0)
    min_spell = _number(inputs, "min_spell_minutes", 0.0, 0.0, 120.0)
    proposed = proposed_shapes(inputs)
    lonlats = [(p["lon"], p["lat"]) for p in points]
    _check_in_city(engine, lonlats)
    city = city_around(engine, building_source(engine, inputs, caller), lonlats, reach, proposed)
    xs, ys = city.frame.forward([p[0] for p in lonlats], [p[1] for p in lonlats])
    features = []
    for point, x, y in zip(points, np.atleast_1d(xs), np.atleast_1d(ys), strict=True):
        minutes, azimuth, elevation = sunlight.sun_track(day, step, point["lon"], point["lat"])
        spot = sunlight.Spot(float(x), float(y), point["z"], point["facing"])
        found = sunlight.sunlight_at(city.prisms, spot, minutes, azimuth, elevation, step=step, reach=reach,
                                     required_hours=required, rule=rule, min_spell_minutes=min_spell)  # fmt: skip
        features.append({"type": "Feature", "id": point["id"],
                         "geometry": {"type": "Point", "coordinates": [point["lon"], point["lat"]]},
                         "properties": {"id": point["id"], "z": point["z"], "facing": point["facing"],
                                        "hours": round(found.minutes / 60, 3),
                                        "longest_hours": round(found.longest_minutes / 60, 3),
                                        "spells": [f"{sunlight.clock(a)}-{sunlight.clock(b)}" for a, b in found.spells],
                                        "passed": found.passed}})  # fmt: skip
    return {"type": "FeatureCollection", "operation": "sunlight", "day": day.kind, "date": day.date.isoformat(),
            "window": f"{sunlight.clock(day.start)}-{sunlight.clock(day.end)} true solar time",
            "step_minutes": step, "radius_m": reach, "rule": rule, "min_hours": required,
            "min_spell_minutes": min_spell, "buildings": len(city.prisms), "proposed": len(proposed),
            "passed": sum(1 for f in features if f["properties"]["passed"]), "features": features}  # fmt: skip


def _line_of_sight(engine: Engine, inputs: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
    a = parse_point3(_given(inputs, "a"), "a", default_z=EYE_M)
    b = parse_point3(_given(inputs, "b"), "b", default_z=EYE_M)
    _check_in_city(engine, [(a["lon"], a["lat"]), (b["lon"], b["lat"])])
    proposed = proposed_shapes(inputs)
    city = city_around(engine, building_source(engine, inputs, caller), [(a["lon"], a["lat"]), (b["lon"], b["lat"])],
                       10.0, proposed)  # fmt: skip
    (ax, bx), (ay, by) = city.frame.forward([a["lon"], b["lon"]], [a["lat"], b["lat"]])
    length = float(math.hypot(bx - ax, by - ay))
    if length > 10 * MAX_RADIUS_VIEW:
        raise InvalidInput(f"a and b are {length:,.0f} m apart: at most {10 * MAX_RADIUS_VIEW:,.0f} m")
    hits = scene.segment_obstructions(city.prisms, (float(ax), float(ay), a["z"]), (float(bx), float(by), b["z"]))
    blockers = list(dict.fromkeys(city.prisms.ids[h.building] for h in hits))
    line = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[a["lon"], a["lat"]], [b["lon"], b["lat"]]]},
            "properties": {"kind": "sight line", "visible": not hits, "length_m": round(length, 1),
                           "a_z": a["z"], "b_z": b["z"], "blocking": blockers}}  # fmt: skip
    lons, lats = city.frame.back([h.x for h in hits], [h.y for h in hits])
    crossings = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [float(lon), float(lat)]},
         "properties": {"kind": "obstruction", "building_id": city.prisms.ids[h.building],
                        "distance_m": round(h.fraction * length, 1), "line_z": round(h.line_z, 2),
                        "roof_z": round(h.roof_z, 2)}}
        for h, lon, lat in zip(hits, np.atleast_1d(lons).tolist(), np.atleast_1d(lats).tolist(), strict=True)
    ]  # fmt: skip
    return {"type": "FeatureCollection", "operation": "line-of-sight", "visible": not hits, "blocking": blockers,
            "features": [line, *crossings]}  # fmt: skip


def _viewshed(engine: Engine, inputs: Mapping[str, Any], caller: Caller) -> dict[str, Any]:
    observer = parse_point3(_given(inputs, "observer"), "observer", default_z=None)
    eye = _number(inputs, "observer_height", observer["z"] or EYE_M, 0.0, 1000.0)
    target = _number(inputs, "target_height", 0.0, 0.0, 1000.0)
    radius = _number(inputs, "radius", 300.0, 1.0, MAX_RADIUS_VIEW)
    cell = _number(inputs, "resolution", 10.0, 1.0, 100.0)
    half = int(math.ceil(radius / cell))
    estimated = math.pi * (radius / cell) ** 2
    if estimated > MAX_VIEWSHED_CELLS:
        raise BudgetExceeded(f"about {estimated:,.0f} cells at {cell:g} m over {radius:g} m: at most "
                             f"{MAX_VIEWSHED_CELLS:,} (a coarser resolution or a smaller radius)")  # fmt: skip
    _check_in_city(engine, [(observer["lon"], observer["lat"])])
    proposed = proposed_shapes(inputs)
    city = city_around(engine, building_source(engine, inputs, caller), [(observer["lon"], observer["lat"])],
                       radius + cell, proposed)  # fmt: skip
    ox, oy = (float(np.ravel(v)[0]) for v in city.frame.forward(observer["lon"], observer["lat"]))
    offsets = (np.arange(-half, half + 1) * cell)
    gx, gy = np.meshgrid(offsets, offsets)
    inside = np.hypot(gx, gy) <= radius
    centres = np.column_stack([gx[inside] + ox, gy[inside] + oy])
    roofs = _roof_heights(city.prisms, centres)
    hidden = scene.hidden_targets(city.prisms, (ox, oy, eye), centres, roofs + target)
    squares = shapely.box(centres[:, 0] - cell / 2, centres[:, 1] - cell / 2, centres[:, 0] + cell / 2,
                          centres[:, 1] + cell / 2)  # fmt: skip
    features = []
    for name, chosen in (("visible", ~hidden), ("hidden", hidden)):
        union = shapely.coverage_union_all(squares[chosen]) if chosen.any() else shapely.Polygon()
        shape = city.frame.to_lonlat(np.array([union]))[0]
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(shape) if not shape.is_empty else None,
                         "properties": {"visibility": name, "cells": int(chosen.sum()),
                                        "area_m2": round(float(chosen.sum()) * cell * cell, 1)}})  # fmt: skip
    return {"type": "FeatureCollection", "operation": "viewshed", "observer": [observer["lon"], observer["lat"]],
            "observer_height": eye, "target_height": target, "radius_m": radius, "resolution_m": cell,
            "cells": len(centres), "visible_share": round(float((~hidden).mean()), 4), "features": features}  # fmt: skip


def _roof_heights(prisms: scene.Prisms, centres: np.ndarray) -> np.ndarray:
    """The roof height over each point (0 on open ground)."""
    heights = np.zeros(len(centres))
    if not len(prisms):
        return heights
    points = shapely.points(centres)
    inside, building = prisms.tree.query(points, predicate="within")
    np.maximum.at(heights, inside, prisms.heights[building])
    return heights


RUNNERS: dict[str, Callable[[Engine, Mapping[str, Any], Caller], dict[str, Any]]] = {
    "height-check": _height_check, "sunlight": _sunlight, "line-of-sight": _line_of_sight, "viewshed": _viewshed,
}  # fmt: skip


# ------------------------------------------------------------------------------ saving
TITLES_ZH = {"height-check": "控高超限", "sunlight": "日照分析", "line-of-sight": "通视分析", "viewshed": "可视域"}


def check_save(save: SaveAs | None, caller: Caller) -> None:
    """Refuse a save before any work: only with credentials."""
    saved_results.check_save(save, caller, "3D analysis")


def save_result(engine: Engine, answer: Mapping[str, Any], *, principal: Caller, door: str = "cli",
                **save: Unpack[SaveAs]) -> LoadReport:  # fmt: skip
    """Publish an answer as a new overlay layer of the caller's department (the one write gate)."""
    operation = str(answer.get("operation"))
    if operation not in OPERATIONS:
        raise InvalidInput(f"save_as keeps a 3D analysis result, not a {operation} result")
    frame = result_frame(answer)
    if operation == "line-of-sight":  # one geometry type per layer: the sight line, blockers in its fields
        frame = frame[frame["kind"] == "sight line"]
    name = save["name"]
    about = About(title_zh=f"{TITLES_ZH[operation]} {name}", title_en=f"{operation} {name}",
                  description=f"3D {operation} result (onemap 3D analysis).",
                  keywords=["3D analysis", "三维分析", operation])  # fmt: skip
    return save_frame(engine, frame, about, save, principal=principal, door=door)


__all__ = ["OPERATIONS", "check_save", "run_analysis", "run_analysis_at", "save_result"]
