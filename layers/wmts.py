"""WMTS 1.0.0 of imagery and rendered vector layers: the tile matrix sets, the capabilities, tiles in either set.

Two tile matrix sets. WebMercatorQuad (EPSG:3857, the GoogleMapsCompatible scale set): its
tiles are the XYZ tiles (``layers.imagery.tiles``). CGCS2000Quad, the geographic quad of
EPSG:4490 (2×1 tiles at level 0 like WorldCRS84Quad; 天地图's "c" set starts one level lower):
a tile is a 256-px map of its lon/lat box drawn by ``layers.imagery.maps`` through the same
planner and budget. CGCS2000 and WGS 84 differ by centimetres, far below a pixel of any level
served. Which layers a caller sees is THE read check's answer; titles come from the catalog and
are escaped by ElementTree.

Vector layers (every catalogued table, as the OGC API offers them) are drawn to PNG by
``layers.vector_render`` in their catalog style: the features are cut by PostGIS when the tile
is planned, painted in a render worker. They come in image/png only, at every level of both
sets; a tile of the matrix where the layer has nothing is a transparent PNG (imagery: 404
outside the layer's extent, 204 inside it without pixels). ``plan_tile`` is the one dispatch
on the layer's kind, from what ``tile_access`` (THE read check, the layer's one look-up) found; a
layer hidden from the caller is missing, with the same message.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import morecantile
import rasterio
from morecantile import Tile, TileMatrixSet
from pyproj import CRS
from sqlalchemy import Engine

from layers.catalog import find_layer, list_layers
from layers.imagery.budget import RenderBudget
from layers.imagery.maps import draw_map, map_paths
from layers.imagery.readers import GDAL_ENV, open_reader
from layers.imagery.store import ImagerySource
from layers.imagery.tiles import (
    MAX_ZOOM,
    TILE_SIZE,
    TileStyle,
    check_inside,
    parse_style,
    render_tile,
    tile_paths,
)
from layers.vector_render import VectorStyle, VectorTable, draw_tile, tile_geometries
from spatial.access.policy import LayerRef, can_read
from spatial.access.principal import Principal
from spatial.errors import InvalidInput, MissingParameter, NotFound
from spatial.params import parse_tile

WMTS_NS = "http://www.opengis.net/wmts/1.0"
OWS_NS = "http://www.opengis.net/ows/1.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
STYLE = "default"
FORMATS = {"image/png": "png", "image/jpeg": "jpg"}  # media type → the tiles' format name
VECTOR_FORMATS = ("image/png",)  # drawn vector layers: transparent, so PNG only
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")  # characters XML 1.0 cannot carry


@dataclass(frozen=True)
class MatrixSet:
    """A tile matrix set as WMTS names it: morecantile's definition, CRS URN, well-known scale set."""

    id: str
    tms: TileMatrixSet
    crs_urn: str
    max_zoom: int
    columns_at_zero: int = 1
    well_known: str | None = None


MATRIX_SETS = {
    "WebMercatorQuad": MatrixSet(
        "WebMercatorQuad", morecantile.tms.get("WebMercatorQuad"), "urn:ogc:def:crs:EPSG::3857", MAX_ZOOM,
        well_known="urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible",
    ),
    "CGCS2000Quad": MatrixSet(
        "CGCS2000Quad",
        TileMatrixSet.custom([-180, -90, 180, 90], CRS.from_epsg(4490), matrix_scale=[2, 1], id="CGCS2000Quad",
                             minzoom=0, maxzoom=MAX_ZOOM - 1, title="CGCS2000 geographic quad"),  # fmt: skip
        "urn:ogc:def:crs:EPSG::4490", MAX_ZOOM - 1, columns_at_zero=2,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class TileRequest:
    """A GetTile request, checked: layer, tile matrix set, tile, style of the picture."""

    layer: str
    matrix_set: str
    tile: Tile
    style: TileStyle


@dataclass(frozen=True)
class WmtsLayer:
    """What the capabilities say of a layer: names, lon/lat extent, deepest useful zoom (WebMercatorQuad)."""

    id: str
    title: str
    abstract: str
    bbox: tuple[float, float, float, float]
    max_zoom: int
    formats: tuple[str, ...] = tuple(FORMATS)


@dataclass(frozen=True)
class ImageryPlan:
    """An imagery tile ready to draw: the scene files to read, latest first (none: 204)."""

    request: TileRequest
    paths: list[Path]

    @property
    def drawing(self) -> bool:
        """Whether there are pixels to draw (a render worker's job)."""
        return bool(self.paths)


@dataclass(frozen=True)
class VectorPlan:
    """A vector tile ready to draw: its features cut to the tile's pixel grid (WKB), the layer's style."""

    request: TileRequest
    geometries: list[bytes]
    style: VectorStyle

    @property
    def drawing(self) -> bool:
        """Whether there is anything to draw (else the transparent tile)."""
        return bool(self.geometries)


TilePlan = ImageryPlan | VectorPlan


# ------------------------------------------------------------------------------ requests
def matrix_set(identifier: str) -> MatrixSet:
    """The tile matrix set named ``identifier``; InvalidInput for any other name."""
    found = MATRIX_SETS.get(identifier)
    if found is None:
        raise InvalidInput(f"TileMatrixSet {identifier[:60]!r} unknown; one of {', '.join(MATRIX_SETS)}")
    return found


def parse_tile_request(params: Mapping[str, str]) -> TileRequest:
    """A GetTile request from its parameters (KVP names upper-cased, or the RESTful path's pieces)."""
    values = {name: _required(params, name) for name in ("LAYER", "STYLE", "TILEMATRIXSET", "TILEMATRIX",
                                                         "TILEROW", "TILECOL", "FORMAT")}  # fmt: skip
    if values["STYLE"] != STYLE:
        raise InvalidInput(f"STYLE {values['STYLE'][:60]!r} unknown: the only style is {STYLE!r}")
    if values["FORMAT"] not in FORMATS:
        raise InvalidInput(f"FORMAT {values['FORMAT'][:60]!r} unsupported; one of {', '.join(FORMATS)}")
    tms = matrix_set(values["TILEMATRIXSET"])
    address = parse_tile(values["TILEMATRIX"], values["TILECOL"], values["TILEROW"], max_zoom=tms.max_zoom,
                         columns_at_zero=tms.columns_at_zero)  # fmt: skip
    tile = Tile(x=address.x, y=address.y, z=address.z)
    return TileRequest(values["LAYER"], tms.id, tile, parse_style(FORMATS[values["FORMAT"]]))


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or not value.strip():
        raise MissingParameter(name)
    return value.strip()


# ------------------------------------------------------------------------------ tiles
def missing_layer(layer: str) -> NotFound:
    """The answer for a layer the WMTS does not offer the caller: missing and hidden alike."""
    return NotFound(f"no layer named {layer!r} in this WMTS")


@dataclass(frozen=True)
class TileAccess:
    """What THE read check of a GetTile found: the catalogued table's row, or the imagery source."""

    public: bool
    row: Mapping[str, Any] | None = None
    source: ImagerySource | None = None


def tile_access(
    engine: Engine, principal: Principal | None, request: TileRequest, imagery: Callable[[str], ImagerySource]
) -> TileAccess:
    """THE read check of a GetTile, before any tile cache (NotFound: hidden or missing). The layer is
    looked up once: ``plan_tile`` draws from what this found."""
    row = find_layer(engine, request.layer)
    if row is not None and row["storage_table"]:
        if not can_read(principal, LayerRef.from_row(row)):
            raise missing_layer(request.layer)
        return TileAccess(public=row["visibility"] == "public", row=row)
    try:
        source = imagery(request.layer)
    except NotFound:
        raise missing_layer(request.layer) from None
    return TileAccess(public=source.visibility == "public", source=source)


def plan_tile(engine: Engine, request: TileRequest, access: TileAccess) -> TilePlan:
    """What a tile needs before its pixels, by the layer's kind: the scene files (imagery) or the
    features (a catalogued table), from what ``tile_access`` found."""
    row = access.row
    if row is not None:
        if request.style.media_type not in VECTOR_FORMATS:
            raise InvalidInput(f"FORMAT {request.style.media_type!r} unsupported for a vector layer: "
                               f"one of {', '.join(VECTOR_FORMATS)}")  # fmt: skip
        table = VectorTable(row["storage_schema"], row["storage_table"], row["geom_field"] or "geom")
        tile = request.tile
        geometries = tile_geometries(engine, table, request.matrix_set, tile.z, tile.x, tile.y)
        return VectorPlan(request, geometries, VectorStyle.from_catalog(row["style"]))
    if access.source is None:  # tile_access finds one or the other
        raise missing_layer(request.layer)
    return ImageryPlan(request, wmts_tile_paths(access.source, request))


def render_wmts_tile(plan: TilePlan, budget: RenderBudget) -> bytes | None:
    """The encoded tile of a plan (run in a render worker); None where imagery has no pixels."""
    if isinstance(plan, VectorPlan):
        return draw_tile(plan.geometries, plan.style)
    if not plan.paths:
        return None
    return render_imagery_tile(plan.paths, plan.request, budget)


def wmts_tile_paths(source: ImagerySource, request: TileRequest) -> list[Path]:
    """The files a tile is read from, latest first; NotFound outside the layer, as for XYZ tiles."""
    tms = MATRIX_SETS[request.matrix_set]
    if tms.id == "WebMercatorQuad":
        return tile_paths(source, request.tile, request.style)
    check_inside(source, request.tile, tms.tms)
    bounds = tuple(tms.tms.bounds(request.tile))
    return map_paths(source, bounds, TILE_SIZE, TILE_SIZE, request.style)


def render_imagery_tile(paths: list[Path], request: TileRequest, budget: RenderBudget) -> bytes | None:
    """The encoded tile (None where the scenes have no pixels): an XYZ tile, or a map of the tile's box."""
    tms = MATRIX_SETS[request.matrix_set]
    if tms.id == "WebMercatorQuad":
        return render_tile(paths, request.tile, request.style, budget)
    bounds = tuple(tms.tms.bounds(request.tile))
    return draw_map(paths, bounds, TILE_SIZE, TILE_SIZE, request.style, budget)


# ------------------------------------------------------------------------------ capabilities
def wmts_layers(
    engine: Engine, principal: Principal | None, source_of: Callable[[str], ImagerySource]
) -> list[WmtsLayer]:
    """The layers ``principal`` may read, with an extent, as the capabilities list them: imagery,
    and vector layers (every catalogued table) drawn at every level."""
    found = []
    for row in list_layers(engine):
        if not row["bbox"] or not can_read(principal, LayerRef.from_row(row)):
            continue
        title = row["title_en"] or row["title_zh"] or row["id"]
        if row["storage_table"]:
            found.append(WmtsLayer(row["id"], title, row["title_zh"] or "", tuple(row["bbox"]), MAX_ZOOM,
                                   VECTOR_FORMATS))  # fmt: skip
            continue
        if row["kind"] != "imagery" or not row["storage_path"]:
            continue
        source = source_of(str(row["id"]))
        if not source.scenes:
            continue
        found.append(WmtsLayer(row["id"], title, row["title_zh"] or "", tuple(row["bbox"]), _max_zoom(source)))
    return found


def _max_zoom(source: ImagerySource) -> int:
    """The WebMercatorQuad zoom of the layer's finest scene."""
    with rasterio.Env(**GDAL_ENV):
        return min(max(open_reader(scene.path).maxzoom for scene in source.scenes), MAX_ZOOM)


def tile_limits(tms: MatrixSet, bbox: tuple[float, float, float, float], zoom: int) -> tuple[int, int, int, int]:
    """(min row, max row, min column, max column) of the tiles meeting a lon/lat box at ``zoom``."""
    west, south, east, north = bbox
    left, bottom, right, top = tms.tms.bbox
    inset = 1e-9  # a box edge on a tile edge does not reach into the next tile
    west, east = max(west, left) + inset, min(east, right) - inset
    south, north = max(south, bottom) + inset, min(north, top) - inset
    first = tms.tms.tile(west, north, zoom)
    last = tms.tms.tile(max(east, west), min(south, north), zoom)
    return first.y, last.y, first.x, last.x


def _zooms(tms: MatrixSet, layer: WmtsLayer) -> range:
    """The levels a layer is offered at: its finest WebMercatorQuad zoom (one less in a geographic set)."""
    finest = layer.max_zoom if tms.columns_at_zero == 1 else layer.max_zoom - 1
    return range(0, max(0, min(finest, tms.max_zoom)) + 1)


def capabilities(layers: Iterable[WmtsLayer], base_url: str, title: str = "onemap WMTS") -> bytes:
    """The WMTS 1.0.0 capabilities document (UTF-8 XML) for ``layers``, served from ``base_url``."""
    ET.register_namespace("", WMTS_NS)
    ET.register_namespace("ows", OWS_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.Element(_w("Capabilities"), {"version": "1.0.0"})
    identification = _sub(root, _o("ServiceIdentification"))
    _sub(identification, _o("Title"), title)
    _sub(identification, _o("ServiceType"), "OGC WMTS")
    _sub(identification, _o("ServiceTypeVersion"), "1.0.0")
    _operations(root, f"{base_url}/wmts?")
    contents = _sub(root, _w("Contents"))
    for layer in layers:
        _layer(contents, layer, base_url)
    for tms in MATRIX_SETS.values():
        _matrix_set(contents, tms)
    _sub(root, _w("ServiceMetadataURL"), attrib={_x("href"): f"{base_url}/wmts/1.0.0/WMTSCapabilities.xml"})
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _operations(root: ET.Element, kvp_url: str) -> None:
    metadata = _sub(root, _o("OperationsMetadata"))
    for name in ("GetCapabilities", "GetTile"):
        get = _sub(_sub(_sub(_sub(metadata, _o("Operation"), attrib={"name": name}), _o("DCP")), _o("HTTP")),
                   _o("Get"), attrib={_x("href"): kvp_url})  # fmt: skip
        allowed = _sub(_sub(get, _o("Constraint"), attrib={"name": "GetEncoding"}), _o("AllowedValues"))
        _sub(allowed, _o("Value"), "KVP")


def _layer(contents: ET.Element, layer: WmtsLayer, base_url: str) -> None:
    element = _sub(contents, _w("Layer"))
    _sub(element, _o("Title"), layer.title)
    if layer.abstract:
        _sub(element, _o("Abstract"), layer.abstract)
    box = _sub(element, _o("WGS84BoundingBox"))
    west, south, east, north = layer.bbox
    _sub(box, _o("LowerCorner"), f"{west!r} {south!r}")
    _sub(box, _o("UpperCorner"), f"{east!r} {north!r}")
    _sub(element, _o("Identifier"), layer.id)
    style = _sub(element, _w("Style"), attrib={"isDefault": "true"})
    _sub(style, _o("Identifier"), STYLE)
    for media_type in layer.formats:
        _sub(element, _w("Format"), media_type)
    for tms in MATRIX_SETS.values():
        _limits(_sub(element, _w("TileMatrixSetLink")), tms, layer)
    template = f"{base_url}/wmts/1.0.0/{layer.id}/{{Style}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}"
    for media_type in layer.formats:
        extension = FORMATS[media_type]
        _sub(element, _w("ResourceURL"), attrib={"format": media_type, "resourceType": "tile",
                                                 "template": f"{template}.{extension}"})  # fmt: skip


def _limits(link: ET.Element, tms: MatrixSet, layer: WmtsLayer) -> None:
    _sub(link, _w("TileMatrixSet"), tms.id)
    limits = _sub(link, _w("TileMatrixSetLimits"))
    for zoom in _zooms(tms, layer):
        min_row, max_row, min_col, max_col = tile_limits(tms, layer.bbox, zoom)
        matrix = _sub(limits, _w("TileMatrixLimits"))
        for name, value in (("TileMatrix", zoom), ("MinTileRow", min_row), ("MaxTileRow", max_row),
                            ("MinTileCol", min_col), ("MaxTileCol", max_col)):  # fmt: skip
            _sub(matrix, _w(name), str(value))


def _matrix_set(contents: ET.Element, tms: MatrixSet) -> None:
    element = _sub(contents, _w("TileMatrixSet"))
    _sub(element, _o("Identifier"), tms.id)
    _sub(element, _o("SupportedCRS"), tms.crs_urn)
    if tms.well_known:
        _sub(element, _w("WellKnownScaleSet"), tms.well_known)
    for zoom in range(tms.max_zoom + 1):
        level = tms.tms.matrix(zoom)
        matrix = _sub(element, _w("TileMatrix"))
        _sub(matrix, _o("Identifier"), str(zoom))
        _sub(matrix, _w("ScaleDenominator"), repr(level.scaleDenominator))
        _sub(matrix, _w("TopLeftCorner"), " ".join(repr(float(v)) for v in level.pointOfOrigin))  # CRS axis order
        for name, value in (("TileWidth", level.tileWidth), ("TileHeight", level.tileHeight),
                            ("MatrixWidth", level.matrixWidth), ("MatrixHeight", level.matrixHeight)):  # fmt: skip
            _sub(matrix, _w(name), str(value))


def _sub(parent: ET.Element, tag: str, text: str | None = None, attrib: dict[str, str] | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib or {})
    if text is not None:
        element.text = NOT_XML.sub("", text)
    return element


def _w(tag: str) -> str:
    return f"{{{WMTS_NS}}}{tag}"


def _o(tag: str) -> str:
    return f"{{{OWS_NS}}}{tag}"


def _x(tag: str) -> str:
    return f"{{{XLINK_NS}}}{tag}"
