"""What the geocoder answers: a Match with its level, confidence, codes and point.

Points are computed in storage lon/lat and written in the caller's output CRS: CRS84 (the
default), CGCS2000 (EPSG:4490, lon/lat in GeoJSON as RFC 7946 orders them) or, for web maps
of Chinese providers, GCJ-02 / BD-09.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any

from pyproj import CRS, Transformer

from spatial.crs import CRS84_URI, EPSG_URI, STORAGE_SRID, parse_crs
from spatial.errors import InvalidInput
from spatial.webdatum import from_wgs84, web_datum

# the levels a match can reach, most precise first (GB/T 23705 order, then place names)
LEVELS = ("unit", "building", "door_plate", "interpolated", "road", "poi", "community",
          "subdistrict", "district")  # fmt: skip
OUTPUT_CRS = {"CRS84": CRS84_URI, "EPSG:4326": EPSG_URI.format(code=4326),
              "EPSG:4490": EPSG_URI.format(code=4490)}  # fmt: skip


@dataclass(frozen=True)
class Match:
    """One answer: where, how sure (0..1), at which level, and the address or name it found."""

    level: str
    confidence: float
    lon: float
    lat: float
    label: str
    label_en: str | None = None
    address_id: int | None = None
    poi_id: int | None = None
    district_code: str | None = None
    subdistrict_code: str | None = None
    community_code: str | None = None
    road: str | None = None
    house_number: str | None = None
    building: str | None = None
    unit: str | None = None
    postcode: str | None = None
    source: str | None = None
    interpolated: bool = False
    distance_m: float | None = None
    cell_code: str | None = None
    location_code: str | None = None
    """The plate code or plus code the match was found by (location codes, ``codes``)."""
    crs: str = CRS84_URI

    def as_dict(self) -> dict[str, Any]:
        """Every field, for JSON."""
        return asdict(self)

    def as_feature(self) -> dict[str, Any]:
        """A GeoJSON Feature (x = longitude in every output CRS)."""
        properties = {k: v for k, v in self.as_dict().items() if k not in ("lon", "lat")}
        return {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "properties": properties,
        }


def output_crs(value: str | None) -> str:
    """Canonical name of an accepted output CRS: CRS84, EPSG:4326, EPSG:4490, gcj02 or bd09."""
    if value is None or not str(value).strip():
        return "CRS84"
    text = str(value).strip()
    datum = web_datum(text)
    if datum is not None:
        return datum
    crs = parse_crs(text)
    if crs.to_epsg() == 4490:
        return "EPSG:4490"
    if crs.to_epsg() == 4326:
        return "EPSG:4326" if "CRS84" not in text.upper() else "CRS84"
    if crs.equals(CRS.from_user_input("OGC:CRS84")):
        return "CRS84"
    raise InvalidInput(f"results are given in CRS84, EPSG:4490 (CGCS2000), gcj02 or bd09, not {text!r}")


@lru_cache(maxsize=8)
def _to_epsg(code: int) -> Transformer:
    return Transformer.from_crs(STORAGE_SRID, code, always_xy=True)


def in_crs(match: Match, crs: str) -> Match:
    """The match with its point in output CRS ``crs`` (a name from ``output_crs``)."""
    if crs == "CRS84":
        return match
    if crs in ("gcj02", "bd09"):
        lon, lat = from_wgs84(match.lon, match.lat, crs)
        return replace(match, lon=float(lon), lat=float(lat), crs=crs)
    code = int(crs.split(":")[1])
    lon, lat = _to_epsg(code).transform(match.lon, match.lat)
    return replace(match, lon=float(lon), lat=float(lat), crs=OUTPUT_CRS[crs])
