"""The catalogue: OGC API – Records of the layer catalog, searched by text, place, time, owner and kind.

One record per layer the caller may read (THE read check, as ``/api/v1/layers`` applies it), built
from its catalog row: titles in Chinese and English, the owning department, keywords, extent in
space and time, licence, times, feature count, fields, and a link to every door that serves the
layer (OGC API items, tiles, coverage, map; WMTS; each download format; the map page; its ISO
19139 metadata). The catalog is small (one row per layer), so the search runs over the rows the
caller may read, after the check: a hidden layer can neither match nor be counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from layers.catalog import find_layer, list_layers
from layers.download import FORMATS, IMAGERY
from layers.field_aliases import layer_fields
from spatial.access.policy import LayerRef, can_read, require_read
from spatial.access.principal import Principal
from spatial.errors import InvalidInput
from spatial.models import LAYER_KINDS
from spatial.params import (
    Interval,
    LonLatBox,
    parse_interval,
    parse_limit,
    parse_lonlat_bbox,
    parse_offset,
)

COLLECTION = "catalog"
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_TERMS, MAX_QUERY_CHARS = 20, 200
RECORD_CONFORMANCE = "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"
REFERENCE_SYSTEMS = ("EPSG:4326", "EPSG:4490", "EPSG:3857")  # what the doors offer (storage is 4326)
GEOJSON = "application/geo+json"


@dataclass(frozen=True)
class RecordQuery:
    """A catalogue search, checked: text terms (any may match), box, interval, department, kind, page."""

    terms: tuple[str, ...] = ()
    bbox: LonLatBox | None = None
    interval: Interval | None = None
    department: str | None = None
    kind: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0


def parse_record_query(
    *, q: str | None = None, bbox: str | None = None, datetime_: str | None = None, department: str | None = None,
    kind: str | None = None, limit: Any = None, offset: Any = None,
) -> RecordQuery:
    """A search from its query parameters (the shared parsers of ``spatial.params``)."""
    return RecordQuery(
        terms=parse_terms(q),
        bbox=None if bbox in (None, "") else parse_lonlat_bbox(bbox),
        interval=None if datetime_ in (None, "") else parse_interval(datetime_),
        department=department or None,
        kind=parse_kind(kind),
        limit=parse_limit(limit, default=DEFAULT_LIMIT, maximum=MAX_LIMIT),
        offset=parse_offset(offset),
    )


def parse_terms(q: str | None) -> tuple[str, ...]:
    """``q``: search terms separated by commas or spaces, matched case-insensitively, any of them."""
    if not q:
        return ()
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q must be at most {MAX_QUERY_CHARS} characters, not {len(q)}")
    terms = tuple(term.casefold() for term in q.replace(",", " ").split() if term)
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"q must hold at most {MAX_TERMS} terms, not {len(terms)}")
    return terms


def parse_kind(kind: str | None) -> str | None:
    """``kind``: one of the catalog's layer kinds."""
    if not kind:
        return None
    if kind not in LAYER_KINDS:
        raise InvalidInput(f"kind {kind[:40]!r} unknown; one of {', '.join(LAYER_KINDS)}")
    return kind


# ------------------------------------------------------------------------------ search
def readable_rows(engine: Engine, principal: Principal | None) -> list[dict[str, Any]]:
    """The catalog rows ``principal`` may read."""
    return [row for row in list_layers(engine) if can_read(principal, LayerRef.from_row(row))]


def readable_row(engine: Engine, principal: Principal | None, layer_id: str) -> dict[str, Any]:
    """One catalog row ``principal`` may read; NotFound (as for a missing one) otherwise."""
    row = find_layer(engine, layer_id)
    require_read(principal, LayerRef.from_row(row) if row else None, layer_id)
    assert row is not None
    return row


def search(rows: list[dict[str, Any]], query: RecordQuery) -> tuple[list[dict[str, Any]], int]:
    """The page of rows matching ``query`` and how many match in all."""
    matched = [row for row in rows if matches(row, query)]
    return matched[query.offset : query.offset + query.limit], len(matched)


def matches(row: dict[str, Any], query: RecordQuery) -> bool:
    """Whether a catalog row answers every given criterion."""
    if query.department and row["department_code"] != query.department:
        return False
    if query.kind and row["kind"] != query.kind:
        return False
    if query.terms and not any(term in searchable_text(row) for term in query.terms):
        return False
    if query.bbox is not None and not _boxes_meet(row.get("bbox"), query.bbox):
        return False
    return query.interval is None or _times_meet(row, query.interval)


def searchable_text(row: dict[str, Any]) -> str:
    """The words ``q`` looks in: titles, description, keywords, department (zh and en), id."""
    parts = [row["id"], row["title_zh"], row["title_en"], row.get("description") or "",
             row.get("department_name_zh") or "", row.get("department_name_en") or "", row["department_code"],
             *(row.get("keywords") or [])]  # fmt: skip
    return " ".join(parts).casefold()


def _boxes_meet(bbox: list[float] | None, box: LonLatBox) -> bool:
    if not bbox or any(v is None for v in bbox):
        return False
    west, south, east, north = bbox
    return west <= box.maxx and box.minx <= east and south <= box.maxy and box.miny <= north


def _times_meet(row: dict[str, Any], interval: Interval) -> bool:
    """Whether the layer's time extent overlaps ``interval`` (a layer without one does not)."""
    begins = row.get("time_start") or row.get("time_end")
    ends = row.get("time_end") or row.get("time_start")
    if begins is None or ends is None:
        return False
    return (interval.end is None or begins <= interval.end) and (interval.start is None or ends >= interval.start)


# ------------------------------------------------------------------------------ records
def record(row: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A layer's record: a GeoJSON feature per OGC API – Records (record-core)."""
    return {
        "type": "Feature",
        "id": row["id"],
        "conformsTo": [RECORD_CONFORMANCE],
        "geometry": _polygon(row.get("bbox")),
        "time": _time(row),
        "properties": _properties(row),
        "links": record_links(row, base_url),
    }


def _properties(row: dict[str, Any]) -> dict[str, Any]:
    department = {"code": row["department_code"], "name_zh": row.get("department_name_zh"),
                  "name_en": row.get("department_name_en")}  # fmt: skip
    return {
        "type": "dataset",
        "title": row["title_zh"],
        "title_en": row["title_en"],
        "description": row.get("description") or "",
        "keywords": list(row.get("keywords") or []),
        "themes": [{"concepts": [{"id": row["kind"]}], "scheme": "https://onemap/layer-kinds"}],
        "language": {"code": "zh"},
        "languages": [{"code": "zh"}, {"code": "en"}],
        "contacts": [{"organization": row.get("department_name_zh") or row["department_code"],
                      "name": row.get("department_name_en"), "roles": ["publisher", "pointOfContact"]}],  # fmt: skip
        "department": department,
        "kind": row["kind"],
        "visibility": row["visibility"],
        "license": row.get("licence") or "",
        "created": _iso(row.get("created_at")),
        "updated": _iso(row.get("updated_at")),
        "featureCount": row.get("feature_count"),
        "geometryType": row.get("geometry_type"),
        "fields": layer_fields(row.get("attributes"), row.get("style")),
        "bbox": _bbox(row.get("bbox")),
        "referenceSystems": list(REFERENCE_SYSTEMS),
    }


def record_links(row: dict[str, Any], base_url: str) -> list[dict[str, Any]]:
    """Every door serving the layer, its record's own forms, and the map page."""
    layer_id = row["id"]
    collection = f"{base_url}/ogc/collections/{layer_id}"
    record_url = f"{base_url}/records/collections/{COLLECTION}/items/{layer_id}"
    links = [
        _link(record_url, "self", GEOJSON, "this record"),
        _link(f"{record_url}?f=html", "alternate", "text/html", "this record as HTML"),
        _link(f"{record_url}?f=xml", "describedby", "application/xml", "ISO 19139 metadata"),
        _link(f"{base_url}/records/collections/{COLLECTION}", "collection", "application/json", "the catalogue"),
        _link(collection, "describedby", "application/json", "OGC API collection"),
        _link(f"{base_url}/api/v1/layers/{layer_id}", "describedby", "application/json", "catalog entry"),
        _link(f"{base_url}/", "related", "text/html", "the one map page"),
    ]
    download = f"{base_url}/api/v1/layers/{layer_id}/download"
    if row.get("storage_table"):
        links += [
            _link(f"{collection}/items", "items", GEOJSON, "OGC API – Features items", "OGC API - Features"),
            _link(f"{collection}/tiles", "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "application/json",
                  "OGC API – Tiles (vector)", "OGC API - Tiles"),  # fmt: skip
            _link(f"{base_url}/wmts/1.0.0/WMTSCapabilities.xml", "service", "application/xml",
                  f"WMTS 1.0.0 capabilities (layer {layer_id}, rendered PNG)", "OGC:WMTS"),  # fmt: skip
            *(_link(f"{download}?f={name}", "enclosure", fmt.media_type, f"download as {fmt.driver}", "download")
              for name, fmt in FORMATS.items()),  # fmt: skip
        ]
    elif row.get("storage_path"):
        links += [
            _link(f"{collection}/coverage", "http://www.opengis.net/def/rel/ogc/1.0/coverage", IMAGERY.media_type,
                  "OGC API – Coverages", "OGC API - Coverages"),  # fmt: skip
            _link(f"{collection}/map", "http://www.opengis.net/def/rel/ogc/1.0/map", "image/png",
                  "OGC API – Maps", "OGC API - Maps"),  # fmt: skip
            _link(f"{base_url}/wmts/1.0.0/WMTSCapabilities.xml", "service", "application/xml",
                  f"WMTS 1.0.0 capabilities (layer {layer_id})", "OGC:WMTS"),  # fmt: skip
            _link(f"{download}?f=tif", "enclosure", IMAGERY.media_type, "download as GeoTIFF", "download"),
        ]
    return links


def _link(href: str, rel: str, media_type: str, title: str, protocol: str | None = None) -> dict[str, Any]:
    link = {"href": href, "rel": rel, "type": media_type, "title": title}
    if protocol:
        link["protocol"] = protocol
    return link


def _bbox(bbox: list[float] | None) -> list[float] | None:
    return [float(v) for v in bbox] if bbox and all(v is not None for v in bbox) else None


def _polygon(bbox: list[float] | None) -> dict[str, Any] | None:
    box = _bbox(bbox)
    if box is None:
        return None
    west, south, east, north = box
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def _time(row: dict[str, Any]) -> dict[str, Any] | None:
    start, end = _iso(row.get("time_start")), _iso(row.get("time_end"))
    return {"interval": [start or "..", end or ".."]} if (start or end) else None


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
