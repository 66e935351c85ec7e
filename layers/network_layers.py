"""Network analysis for the doors (REST, OGC API Processes, the notebooks' client): inputs → GeoJSON.

Every door hands the same inputs (query parameters or a JSON object) to ``run_network``: they
are parsed here with the shared parsers, facilities named by a catalog ``layer`` are read
through THE read check (a hidden layer is a 404, as everywhere), the prepared graph is made
current in a transaction of its own (``spatial.network.prepared.refresh_graph``) and the
analysis runs in ``spatial.network.services``. Answers are GeoJSON FeatureCollections (the OD
matrix: a JSON object). ``save_network_result`` keeps a route or service area as an overlay
layer owned by the caller's department, through ``layers.vector.load_vector_file`` (the one
write gate every upload takes).

Inputs (names the same at every door):

- points: ``"lon,lat"`` text or ``[lon, lat]``; lists of points: ``"lon,lat;lon,lat"`` or a JSON list.
- ``route``: ``a``, ``b``.
- ``closest``: ``target``; facilities as ``layer`` (a point layer of the catalog, optional
  ``where``: ``{"status": "available"}`` or ``"status:available,kind:fire"``, fields compared as text)
  or ``facilities`` (``[{"id", "lon", "lat"}]``); ``k`` (1..50, default 5); ``max_minutes``;
  ``direction``: ``to_target`` (default: units drive to the call) or ``from_target``.
- ``service-area``: ``origin``, ``minutes`` (default ``4,8,15``; each 0 < T ≤ 60),
  ``direction``: ``from_origin`` (default) or ``to_origin``.
- ``coverage``: facilities as for ``closest``, ``minutes``, ``level`` (district/street/community),
  ``source`` (``buildings``: floors × footprint × ``density``; ``divisions``: their population).
- ``od-matrix``: ``origins``, ``destinations`` (at most ``network_max_od_cells`` pairs).
- every one: ``hour`` (0–23) applies that hour's speed factors (``network.speed_factor``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Unpack

import geopandas as gpd
from sqlalchemy import Engine, String, cast, func, select, text

from layers import saved_results
from layers.features import describe_table
from layers.imagery.access import readable_layer
from layers.saved_results import About, SaveAs, save_frame
from layers.vector import LoadReport
from spatial.access.principal import Principal
from spatial.db import shared_engine
from spatial.errors import InvalidInput
from spatial.network import services
from spatial.network.prepared import refresh_graph
from spatial.network.services import Candidate
from spatial.params import parse_int, parse_number

Caller = Principal | None
OPERATIONS = ("route", "closest", "service-area", "coverage", "od-matrix")
SAVABLE = ("route", "service-area")
MAX_POINTS_TEXT = 20_000
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


# ------------------------------------------------------------------------------ parsing
def parse_point(value: Any, name: str) -> tuple[float, float]:
    """A point from 'lon,lat', [lon, lat] or {"lon", "lat"}."""
    if value is None or value == "":
        raise InvalidInput(f"{name} is required: a point 'lon,lat'")
    if isinstance(value, str):
        if len(value) > 100:
            raise InvalidInput(f"{name} must be a point 'lon,lat'")
        parts: Sequence[Any] = value.split(",")
    elif isinstance(value, Mapping):
        parts = [value.get("lon"), value.get("lat")]
    elif isinstance(value, list | tuple):
        parts = value
    else:
        raise InvalidInput(f"{name} must be a point 'lon,lat' or [lon, lat]")
    if len(parts) != 2:
        raise InvalidInput(f"{name} must be a point of two numbers 'lon,lat', not {len(parts)} values")
    lon = parse_number(parts[0], name=f"{name} longitude", minimum=-180, maximum=180)
    lat = parse_number(parts[1], name=f"{name} latitude", minimum=-90, maximum=90)
    return lon, lat


def parse_points(value: Any, name: str, maximum: int) -> list[tuple[float, float]]:
    """Points from 'lon,lat;lon,lat' or a JSON list of points."""
    if value is None or value == "" or value == []:
        raise InvalidInput(f"{name} is required: a list of points 'lon,lat;lon,lat'")
    if isinstance(value, str):
        if len(value) > MAX_POINTS_TEXT:
            raise InvalidInput(f"{name} is too long")
        items: Sequence[Any] = [v for v in value.split(";") if v.strip()]
    elif isinstance(value, list):
        items = value
    else:
        raise InvalidInput(f"{name} must be a list of points")
    if len(items) > maximum:
        raise InvalidInput(f"{name}: at most {maximum} points, not {len(items)}")
    return [parse_point(item, f"{name}[{i}]") for i, item in enumerate(items)]


def parse_minutes_list(value: Any) -> list[float]:
    """Service-area times: '4,8,15' or [4, 8, 15] (default), each 0 < T ≤ 60."""
    if value is None or value == "":
        return [4.0, 8.0, 15.0]
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise InvalidInput("minutes must be a list of times, e.g. 4,8,15")
    if len(items) > services.MAX_BANDS:
        raise InvalidInput(f"at most {services.MAX_BANDS} service-area bands, not {len(items)}")
    return [_minutes(v) for v in items]


def _minutes(value: Any, name: str = "minutes") -> float:
    number = parse_number(value, name=name)
    if not 0 < number <= services.MAX_MINUTES:
        raise InvalidInput(f"{name} must be more than 0 and at most {services.MAX_MINUTES:g}, not {number:g}")
    return number


def _hour(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return parse_int(value, name="hour", minimum=0, maximum=23)


def _choice(value: Any, allowed: Sequence[str], name: str, default: str) -> str:
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in allowed:
        raise InvalidInput(f"{name} must be one of {', '.join(allowed)}")
    return value


def parse_where(value: Any) -> dict[str, str]:
    """Facility filter: {"field": "value"} or 'field:value,field:value' (compared as text)."""
    if value is None or value == "" or value == {}:
        return {}
    if isinstance(value, str):
        pairs: dict[str, Any] = {}
        for part in value.split(","):
            field_, sep, wanted = part.partition(":")
            if not sep:
                raise InvalidInput("where must be 'field:value[,field:value]' or a JSON object")
            pairs[field_.strip()] = wanted.strip()
        value = pairs
    if not isinstance(value, Mapping) or len(value) > 10:
        raise InvalidInput("where must be an object of at most 10 field: value pairs")
    where: dict[str, str] = {}
    for key, wanted in value.items():
        if not isinstance(key, str) or not FIELD_NAME.match(key):
            raise InvalidInput(f"where: {str(key)[:40]!r} is not a field name")
        if isinstance(wanted, bool):
            wanted = "true" if wanted else "false"
        if not isinstance(wanted, str | int | float) or len(str(wanted)) > 200:
            raise InvalidInput(f"where.{key} must be a text or a number")
        where[key] = str(wanted)
    return where


# ------------------------------------------------------------------------------ facilities
def facility_candidates(
    engine: Engine, layer: str, caller: Caller, *, where: Mapping[str, str] | None = None,
    maximum: int = services.MAX_CANDIDATES,
) -> tuple[list[Candidate], dict[Hashable, dict[str, Any]]]:  # fmt: skip
    """The features of a catalog layer the caller may read (a point on each), filtered by ``where``.

    Returns the candidates and their properties by id. NotFound for a missing or hidden layer.
    """
    if not isinstance(layer, str) or not layer or len(layer) > 63:
        raise InvalidInput("layer must be the id of a layer of points")
    row = readable_layer(engine, layer, caller)
    if not row.get("storage_table"):
        raise InvalidInput(f"layer {layer!r} has no features: facilities need a layer of points")
    table = describe_table(engine, row["storage_schema"], row["storage_table"], id_field=row["id_field"],
                           geom_field=row["geom_field"], time_field=None)  # fmt: skip
    conditions = []
    for name, wanted in (where or {}).items():
        if name not in table.columns:
            raise InvalidInput(f"layer {layer!r} has no field {name!r}; it has {', '.join(table.columns)}")
        conditions.append(cast(table.sa_table.c[name], String) == wanted)
    geom = table.sa_table.c[table.geom_field]
    point = func.ST_PointOnSurface(geom)
    properties = [c for c in table.columns if c != table.id_field][:30]
    query = (
        select(table.sa_table.c[table.id_field], func.ST_X(point), func.ST_Y(point),
               *(table.sa_table.c[p] for p in properties))  # fmt: skip
        .where(geom.isnot(None), *conditions)
        .order_by(table.sa_table.c[table.id_field])
        .limit(maximum + 1)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if len(rows) > maximum:
        raise InvalidInput(f"layer {layer!r} has more than {maximum} facilities here: narrow it with where")
    if not rows:
        raise InvalidInput(f"no feature of layer {layer!r} matches {dict(where or {})}: no facility to choose")
    candidates = [Candidate(r[0], float(r[1]), float(r[2])) for r in rows]
    props = {r[0]: {p: _plain(r[3 + i]) for i, p in enumerate(properties)} for r in rows}
    return candidates, props


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def given_facilities(value: Any, maximum: int) -> list[Candidate]:
    """``facilities``: [{"id", "lon", "lat"}] (ids text or numbers, unique)."""
    if not isinstance(value, list) or not value:
        raise InvalidInput('facilities must be a list of {"id", "lon", "lat"}')
    if len(value) > maximum:
        raise InvalidInput(f"at most {maximum} facilities, not {len(value)}")
    found: list[Candidate] = []
    seen: set[Any] = set()
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise InvalidInput(f'facilities[{i}] must be an object {{"id", "lon", "lat"}}')
        ident = item.get("id", i + 1)
        if isinstance(ident, bool) or not isinstance(ident, str | int) or len(str(ident)) > 100:
            raise InvalidInput(f"facilities[{i}].id must be a text or a whole number")
        if ident in seen:
            raise InvalidInput(f"facilities[{i}].id {ident!r} is given twice")
        seen.add(ident)
        lon, lat = parse_point([item.get("lon"), item.get("lat")], f"facilities[{i}]")
        found.append(Candidate(ident, lon, lat))
    return found


def _facilities(
    engine: Engine, inputs: Mapping[str, Any], caller: Caller, maximum: int
) -> tuple[list[Candidate], dict[Hashable, dict[str, Any]], str | None]:
    layer = inputs.get("layer")
    if layer not in (None, ""):
        if inputs.get("facilities") not in (None, "", []):
            raise InvalidInput("give either layer or facilities, not both")
        candidates, props = facility_candidates(engine, layer, caller, where=parse_where(inputs.get("where")),
                                                maximum=maximum)  # fmt: skip
        return candidates, props, str(layer)
    if inputs.get("facilities") in (None, "", []):
        raise InvalidInput("name the facilities: layer (a point layer, optional where) or facilities [{id, lon, lat}]")
    return given_facilities(inputs.get("facilities"), maximum), {}, None


# ------------------------------------------------------------------------------ running
def run_network(
    engine: Engine, operation: str, inputs: Mapping[str, Any], *, caller: Caller,
    tolerance_m: float = services.DEFAULT_TOLERANCE_M, max_od_cells: int = services.MAX_OD_CELLS,
) -> dict[str, Any]:  # fmt: skip
    """Parse ``inputs`` for ``operation`` (one of OPERATIONS), run it, answer GeoJSON."""
    if operation not in OPERATIONS:
        raise InvalidInput(f"unknown network operation {operation!r}; one of {', '.join(OPERATIONS)}")
    if not isinstance(inputs, Mapping):
        raise InvalidInput("the inputs must be an object")
    hour = _hour(inputs.get("hour"))
    runner = RUNNERS[operation]
    prepared = runner(engine, inputs, caller, hour, tolerance_m, max_od_cells)
    refresh_graph(engine)
    with engine.begin() as conn:
        return prepared(conn)


HEAVY = ("coverage", "od-matrix")  # seconds of work: the doors run these in a render worker (api.workers)


def run_network_at(url: str, operation: str, inputs: Mapping[str, Any], *, caller: Caller,
                   tolerance_m: float = services.DEFAULT_TOLERANCE_M,
                   max_od_cells: int = services.MAX_OD_CELLS) -> dict[str, Any]:  # fmt: skip
    """``run_network`` against the database at ``url`` (for a render worker process, ``api.workers``)."""
    return run_network(shared_engine(url, pool_size=2), operation, inputs, caller=caller, tolerance_m=tolerance_m,
                       max_od_cells=max_od_cells)  # fmt: skip


def _route(engine: Engine, inputs: Mapping[str, Any], caller: Caller, hour: int | None, tolerance: float,
           cells: int) -> Callable[[Any], dict[str, Any]]:  # fmt: skip
    a, b = parse_point(inputs.get("a"), "a"), parse_point(inputs.get("b"), "b")

    def run(conn: Any) -> dict[str, Any]:
        found = services.route(conn, a, b, tolerance_m=tolerance, hour=hour)
        feature = {"type": "Feature", "geometry": found.geometry, "properties": {
            "seconds": round(found.seconds, 1), "minutes": round(found.seconds / 60, 2),
            "meters": round(found.meters, 1), "snap_a_m": round(found.snap_a_m, 1),
            "snap_b_m": round(found.snap_b_m, 1)}}  # fmt: skip
        return {"type": "FeatureCollection", "operation": "route", "a": list(a), "b": list(b), "hour": hour,
                "features": [feature]}  # fmt: skip

    return run


def _closest(engine: Engine, inputs: Mapping[str, Any], caller: Caller, hour: int | None, tolerance: float,
             cells: int) -> Callable[[Any], dict[str, Any]]:  # fmt: skip
    target = parse_point(inputs.get("target"), "target")
    k = parse_int(inputs.get("k", 5) if inputs.get("k") not in (None, "") else 5, name="k", minimum=1,
                  maximum=services.MAX_K)  # fmt: skip
    max_minutes = inputs.get("max_minutes")
    limit = None if max_minutes in (None, "") else _minutes(max_minutes, "max_minutes") * 60
    direction = _choice(inputs.get("direction"), ("to_target", "from_target"), "direction", "to_target")
    candidates, props, layer = _facilities(engine, inputs, caller, services.MAX_CANDIDATES)
    places = {c.id: c for c in candidates}

    def run(conn: Any) -> dict[str, Any]:
        found = services.closest(conn, target, candidates, k, limit, direction == "to_target",
                                 tolerance_m=tolerance, hour=hour)  # fmt: skip
        features = [
            {"type": "Feature", "id": r.id,
             "geometry": {"type": "Point", "coordinates": [places[r.id].lon, places[r.id].lat]},
             "properties": {**props.get(r.id, {}), "id": r.id, "rank": rank, "seconds": round(r.seconds, 1),
                            "minutes": round(r.seconds / 60, 2), "meters": round(r.meters, 1),
                            "snap_m": round(r.snap_m, 1)}}
            for rank, r in enumerate(found.items, start=1)
        ]  # fmt: skip
        return {"type": "FeatureCollection", "operation": "closest", "target": list(target),
                "target_snap_m": round(found.snap_m, 1), "k": k, "direction": direction, "layer": layer,
                "hour": hour, "candidates": len(candidates), "unreachable": found.unreachable,
                "over_limit": found.over_limit, "features": features}  # fmt: skip

    return run


def _service_area(engine: Engine, inputs: Mapping[str, Any], caller: Caller, hour: int | None, tolerance: float,
                  cells: int) -> Callable[[Any], dict[str, Any]]:  # fmt: skip
    origin = parse_point(inputs.get("origin"), "origin")
    minutes = parse_minutes_list(inputs.get("minutes"))
    direction = _choice(inputs.get("direction"), ("from_origin", "to_origin"), "direction", "from_origin")

    def run(conn: Any) -> dict[str, Any]:
        found = services.service_area(conn, origin, minutes, tolerance_m=tolerance, hour=hour,
                                      towards_origin=direction == "to_origin")  # fmt: skip
        features = [{"type": "Feature", "geometry": band.polygon,
                     "properties": {"minutes": band.minutes, "nodes": len(band.node_ids), "node_ids": band.node_ids}}
                    for band in found.bands]  # fmt: skip
        return {"type": "FeatureCollection", "operation": "service-area", "origin": list(origin),
                "snap_m": round(found.snap_m, 1), "direction": direction, "hour": hour, "features": features}  # fmt: skip

    return run


def _coverage(engine: Engine, inputs: Mapping[str, Any], caller: Caller, hour: int | None, tolerance: float,
              cells: int) -> Callable[[Any], dict[str, Any]]:  # fmt: skip
    minutes = _minutes(inputs.get("minutes", 8) if inputs.get("minutes") not in (None, "") else 8)
    level = _choice(inputs.get("level"), services.COVERAGE_LEVELS, "level", "street")
    source = _choice(inputs.get("source"), services.COVERAGE_SOURCES, "source", "buildings")
    density = services.RESIDENTS_PER_FLOOR_M2
    if inputs.get("density") not in (None, ""):
        density = parse_number(inputs.get("density"), name="density", minimum=1e-6, maximum=1)
    candidates, _, layer = _facilities(engine, inputs, caller, services.MAX_FACILITIES)

    def run(conn: Any) -> dict[str, Any]:
        found = services.coverage(conn, candidates, minutes, level=level, source=source, density=density,
                                  tolerance_m=tolerance, hour=hour)  # fmt: skip
        shapes = dict(conn.execute(
            text("SELECT code, ST_AsGeoJSON(geom, 6) FROM basemap.admin_division WHERE level = :level"),
            {"level": level},
        ).all())  # fmt: skip
        features = [
            {"type": "Feature", "id": r.code, "geometry": json.loads(shapes[r.code]) if r.code in shapes else None,
             "properties": {"code": r.code, "name": r.name, "residents": round(r.residents),
                            "covered": round(r.covered), "share": None if r.share is None else round(r.share, 4)}}
            for r in found.rows
        ]  # fmt: skip
        return {"type": "FeatureCollection", "operation": "coverage", "minutes": minutes, "level": level,
                "source": source, "density": density if source == "buildings" else None, "layer": layer,
                "hour": hour, "residents": round(found.residents), "covered": round(found.covered),
                "share": None if found.share is None else round(found.share, 4),
                "facilities": len(candidates), "facilities_unreachable": found.facilities_unreachable,
                "features": features}  # fmt: skip

    return run


def _od_matrix(engine: Engine, inputs: Mapping[str, Any], caller: Caller, hour: int | None, tolerance: float,
               cells: int) -> Callable[[Any], dict[str, Any]]:  # fmt: skip
    origins = parse_points(inputs.get("origins"), "origins", cells)
    destinations = parse_points(inputs.get("destinations"), "destinations", cells)

    def run(conn: Any) -> dict[str, Any]:
        found = services.od_matrix_detail(conn, origins, destinations, tolerance_m=tolerance, hour=hour,
                                          max_cells=cells)  # fmt: skip
        seconds = [[None if math.isnan(v) else round(float(v), 1) for v in row] for row in found.seconds]
        unreachable = sum(1 for row in seconds for v in row if v is None)
        return {"operation": "od-matrix", "origins": [list(p) for p in origins],
                "destinations": [list(p) for p in destinations], "hour": hour, "seconds": seconds,
                "unreachable": unreachable, "snap_origins_m": [round(v, 1) for v in found.meters_snap_origins],
                "snap_destinations_m": [round(v, 1) for v in found.meters_snap_destinations]}  # fmt: skip

    return run


RUNNERS: dict[str, Callable[..., Callable[[Any], dict[str, Any]]]] = {
    "route": _route, "closest": _closest, "service-area": _service_area, "coverage": _coverage,
    "od-matrix": _od_matrix,
}  # fmt: skip


# ------------------------------------------------------------------------------ saving
TITLES_ZH = {"route": "路径", "service-area": "服务区"}


def check_save(operation: str, save: SaveAs | None, caller: Caller) -> None:
    """Refuse a save before any work: only routes and service areas, only with credentials."""
    saved_results.check_save(save, caller, operation, SAVABLE)


def result_frame(answer: Mapping[str, Any]) -> gpd.GeoDataFrame:
    """A network answer's features as a GeoDataFrame (lists such as node ids left out)."""
    return saved_results.result_frame(answer, lists="drop")


def save_network_result(engine: Engine, answer: Mapping[str, Any], *, principal: Caller, door: str = "cli",
                        **save: Unpack[SaveAs]) -> LoadReport:  # fmt: skip
    """Publish a route or service-area answer as a new overlay layer of the caller's department."""
    operation = str(answer.get("operation"))
    check_save(operation, save, principal)
    name = save["name"]
    about = About(title_zh=f"{TITLES_ZH[operation]} {name}", title_en=f"{operation} {name}",
                  description=f"Network {operation} result (onemap network analysis).",
                  keywords=["network analysis", "路网分析", operation])  # fmt: skip
    return save_frame(engine, result_frame(answer), about, save, principal=principal, door=door)
