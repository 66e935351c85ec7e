"""What a planner asks of a layer (bbox, CQL2 filter, time slice, properties, CRS), for both doors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyproj import CRS

from spatial.crs import CRS84_URI, EPSG_URI, parse_crs
from spatial.errors import InvalidInput


@dataclass(frozen=True)
class OutputCrs:
    """The CRS features come back in: its EPSG code, its URI, and whether the door writes lat first.

    The OGC API writes EPSG:4326 and EPSG:4490 latitude first, as those CRSs define; the
    GeoDataFrame is always x = longitude (geopandas' convention), so such answers are swapped.
    """

    epsg: int = 4326
    uri: str = CRS84_URI
    lat_first: bool = False

    @classmethod
    def parse(cls, crs: str | int | None) -> OutputCrs:
        """From None (CRS84), 'CRS84', 'EPSG:3857', 4490 or a CRS URI."""
        if crs is None:
            return cls()
        text = str(crs).strip()
        if text.upper() in ("CRS84", "OGC:CRS84", CRS84_URI.upper()):
            return cls()
        parsed: CRS = parse_crs(text if not text.isdigit() else f"EPSG:{text}")
        epsg = parsed.to_epsg()
        if epsg is None:
            raise InvalidInput(f"crs {crs!r} has no EPSG code: give e.g. 'EPSG:4490' or 'EPSG:3857'")
        north_first = parsed.is_geographic and parsed.axis_info[0].direction.lower() in ("north", "south")
        return cls(epsg=epsg, uri=EPSG_URI.format(code=epsg), lat_first=north_first)


@dataclass(frozen=True)
class LayerQuery:
    """A bbox (lon/lat), a CQL2 text filter, a datetime (instant or 'start/end'), properties, CRS, limit."""

    bbox: tuple[float, float, float, float] | None = None
    filter: str | None = None
    datetime: str | None = None
    properties: tuple[str, ...] = ()
    crs: OutputCrs = field(default_factory=OutputCrs)
    limit: int | None = None

    @classmethod
    def build(
        cls, *, bbox: Sequence[float] | None = None, filter: str | None = None,
        datetime: str | None = None, properties: Sequence[str] = (), crs: str | int | None = None,
        limit: int | None = None,
    ) -> LayerQuery:
        """Checked arguments of ``Onemap.read``."""
        box = None
        if bbox is not None:
            if len(bbox) != 4:
                raise InvalidInput("bbox is four numbers: minlon, minlat, maxlon, maxlat")
            box = (float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3]))
        if limit is not None and limit < 0:
            raise InvalidInput(f"limit must be 0 or more, not {limit}")
        return cls(box, filter, datetime, tuple(properties), OutputCrs.parse(crs), limit)

    def remaining(self, fetched: int) -> int | None:
        """How many more features may be fetched (None: no limit)."""
        return None if self.limit is None else max(self.limit - fetched, 0)


def cql_filter(text: str, geom_field: str) -> Any:
    """A filter parsed as the OGC API door parses it: ECQL first, then OGC CQL2 text
    (``geometry`` names the layer's geometry column)."""
    from pygeoapi.util import modify_pygeofilter
    from pygeofilter.parsers.cql2_text import parse as parse_cql2_text
    from pygeofilter.parsers.ecql import parse as parse_ecql_text

    try:
        ast = parse_ecql_text(text)
    except Exception:  # pygeofilter raises lark's many exception classes
        try:
            ast = parse_cql2_text(text)
        except Exception:
            raise InvalidInput(f"Bad CQL text: {text[:200]!r}") from None
    return modify_pygeofilter(ast, filter_crs_uri=CRS84_URI, storage_crs_uri=CRS84_URI,
                              geometry_column_name=geom_field)  # fmt: skip
