"""OGC API Processes ``geocode`` and ``reverse-geocode``: pygeoapi processors over spatial.geocoding.

Executed at ``/ogc/processes/{id}/execution`` (synchronously). The database connection comes
from the processor definition: resources that say ``database: true`` in pygeoapi-config.yml
get the platform's connection filled in by ``layers.ogc`` when the configuration is built.
Bad input is a domain error, raised to pygeoapi through ``api.ogc.errors`` with its status and code.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.process.base import BaseProcessor
from sqlalchemy import Engine

from spatial.db import engine_of
from spatial.errors import InvalidInput
from spatial.geocoding import geocode
from spatial.geocoding.match import MAX_LIMIT
from spatial.geocoding.parse import STRUCTURED_FIELDS
from spatial.geocoding.reverse import DEFAULT_RADIUS_M, reverse
from spatial.params import parse_limit, parse_number

LINKS = [{"type": "text/html", "rel": "about", "title": "onemap geocoding",
          "href": "https://github.com/onemap/onemap", "hreflang": "en"}]  # fmt: skip
TEXT = {"type": "string"}
MATCHES_OUTPUT = {
    "matches": {
        "title": "Matches",
        "description": "GeoJSON FeatureCollection of matches, most confident first",
        "schema": {"type": "object", "contentMediaType": "application/geo+json"},
    }
}
CRS_INPUT = {
    "title": "Output CRS",
    "description": "CRS84 (default), EPSG:4490 (CGCS2000), gcj02 or bd09",
    "schema": TEXT, "minOccurs": 0, "maxOccurs": 1,
}  # fmt: skip

GEOCODE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "geocode",
    "title": {"en": "Geocode an address", "zh": "地址匹配"},
    "description": {
        "en": "Chinese or Western address (free text or fields) → points with level and confidence",
        "zh": "中文或西文地址（自由文本或分项）→ 坐标、匹配级别与置信度",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["geocoding", "address", "地址"],
    "links": LINKS,
    "inputs": {
        "q": {"title": "Address", "description": "free text, e.g. 兴福路88号3栋",
              "schema": TEXT, "minOccurs": 0, "maxOccurs": 1},
        **{name: {"title": name, "description": f"structured field {name}", "schema": TEXT,
                  "minOccurs": 0, "maxOccurs": 1} for name in STRUCTURED_FIELDS},
        "limit": {"title": "Limit", "description": "most matches (1..50, default 5)",
                  "schema": {"type": "integer"}, "minOccurs": 0, "maxOccurs": 1},
        "crs": CRS_INPUT,
    },  # fmt: skip
    "outputs": MATCHES_OUTPUT,
    "example": {"inputs": {"q": "陕西省西安市兴福路88号"}},
}

REVERSE_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "reverse-geocode",
    "title": {"en": "Reverse geocode a point", "zh": "逆地址匹配"},
    "description": {
        "en": "Nearest door plates and POIs of a point, with its division codes and grid cell",
        "zh": "点位最近的门牌与兴趣点，附行政区划代码与单元网格编码",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["reverse geocoding", "逆地理编码"],
    "links": LINKS,
    "inputs": {
        "lon": {"title": "Longitude", "description": "x", "schema": {"type": "number"},
                "minOccurs": 1, "maxOccurs": 1},
        "lat": {"title": "Latitude", "description": "y", "schema": {"type": "number"},
                "minOccurs": 1, "maxOccurs": 1},
        "limit": {"title": "Limit", "description": "most matches (default 1)",
                  "schema": {"type": "integer"}, "minOccurs": 0, "maxOccurs": 1},
        "radius": {"title": "Radius", "description": "search radius in metres (default 250)",
                   "schema": {"type": "number"}, "minOccurs": 0, "maxOccurs": 1},
        "crs": CRS_INPUT,
    },  # fmt: skip
    "outputs": MATCHES_OUTPUT,
    "example": {"inputs": {"lon": 108.94, "lat": 34.26}},
}





class DatabaseProcessor(BaseProcessor):
    """A processor that works on the platform database named in its definition."""

    def engine(self) -> Engine:
        data = self.processor_def.get("data")
        if not isinstance(data, dict):
            raise RuntimeError("the process has no database configured")  # a deployment fault
        return engine_of(data)  # the process's one engine of that database

    def __init__(self, processor_def: dict, metadata: dict) -> None:
        super().__init__(processor_def, metadata)
        self.processor_def = processor_def


class GeocodeProcessor(DatabaseProcessor):
    """Address → matches."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, GEOCODE_METADATA)

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        fields: dict[str, str | None] = {k: _text(data.get(k)) for k in STRUCTURED_FIELDS if data.get(k) is not None}
        matches = geocode(
            self.engine(),
            _text(data["q"]) if "q" in data else None,
            fields=None if "q" in data else fields,
            limit=_int(data.get("limit"), 5),
            crs=_text(data.get("crs")) if data.get("crs") else None,
        )
        return "application/json", _collection(matches)


class ReverseGeocodeProcessor(DatabaseProcessor):
    """Point → nearest door plates / POIs with division codes and grid cell."""

    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, REVERSE_METADATA)

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        if "lon" not in data or "lat" not in data:
            raise InvalidInput("inputs lon and lat are required")
        location, matches = reverse(
            self.engine(), parse_number(data["lon"], name="lon"), parse_number(data["lat"], name="lat"),
            limit=_int(data.get("limit"), 1),
            radius_m=parse_number(data.get("radius") or DEFAULT_RADIUS_M, name="radius", minimum=0),
            crs=_text(data.get("crs")) if data.get("crs") else None,
        )  # fmt: skip
        return "application/json", _collection(matches) | {"location": location.__dict__}


def _collection(matches: list[Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [m.as_feature() for m in matches]}


def _text(value: Any) -> str:
    if not isinstance(value, str | int | float):
        raise InvalidInput("address inputs must be text")
    return str(value)


def _int(value: Any, default: int) -> int:
    return parse_limit(value, default=default, maximum=MAX_LIMIT)
