"""The city now on the platform: its names, level titles, extent, the pages' initial view and base layer.

Read from the current base-map version (``basemap.version``, written by ``onemap city load``)
and from what is loaded: the divisions' extent and the imagery catalogue. Without a version row
(a database filled before versions, or by hand) the names fall back to ``ONEMAP_CITY_NAME`` and
the view to the divisions' extent. The default base layer is always imagery over the city: an
imagery layer elsewhere is never chosen, whatever its age or name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text

from spatial.access.policy import LayerRef, can_read
from spatial.access.principal import Principal
from spatial.config import Settings
from spatial.extent import divisions_box, parse_bbox

Box = tuple[float, float, float, float]
LEVEL_TITLES = {
    "district": {"zh": "区", "en": "District"},
    "street": {"zh": "街道", "en": "Subdistrict"},
    "community": {"zh": "社区", "en": "Community"},
}
"""The platform's own words for the division levels, when the city names none."""

CURRENT_VERSION_SQL = (
    "SELECT id, city_code, name_zh, name_en, profile, view, loaded_at "
    "FROM basemap.version WHERE is_current"
)
LEVELS_SQL = "SELECT DISTINCT level FROM basemap.admin_division"
BASE_LAYERS_SQL = """
SELECT id, department_code, visibility, storage_schema FROM (
    SELECT l.id, l.department_code, l.visibility, l.storage_schema,
           ST_Area(ST_Intersection(l.extent, city.box)::geography) AS overlap
    FROM catalog.layer l, (SELECT ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4326) AS box) AS city
    WHERE l.kind = 'imagery' AND l.extent IS NOT NULL AND ST_Intersects(l.extent, city.box)
) AS over_the_city
ORDER BY id = :named DESC, overlap DESC, id
"""


@dataclass(frozen=True)
class CityView:
    """What the pages and ``GET /api/v1/city`` tell about the city."""

    code: str | None
    name_zh: str
    name_en: str
    version_id: int | None
    loaded_at: dt.datetime | None
    levels: dict[str, dict[str, str]]
    extent: Box | None
    center: tuple[float, float] | None
    zoom: int | None
    base_layers: tuple[LayerRef, ...] = field(default=())
    """Imagery over the city, best first: the profile's choice, then by area over the city."""

    def default_base_layer(self, principal: Principal | None) -> str | None:
        """The first base layer ``principal`` may see (None: the blank base)."""
        return next((ref.id for ref in self.base_layers if can_read(principal, ref)), None)

    def as_json(self, principal: Principal | None) -> dict[str, Any]:
        """The JSON document, naming only a base layer ``principal`` may see."""
        loaded = self.loaded_at.isoformat() if self.loaded_at else None
        return {
            "code": self.code, "name_zh": self.name_zh, "name_en": self.name_en,
            "version": None if self.version_id is None else {"id": self.version_id, "loaded_at": loaded},
            "levels": self.levels, "extent": list(self.extent) if self.extent else None,
            "center": list(self.center) if self.center else None, "zoom": self.zoom,
            "default_base_layer": self.default_base_layer(principal),
        }  # fmt: skip


def current_city(
    conn: Connection, *, fallback_name: str, configured_extent: str | None = None
) -> CityView:
    """The city as loaded now; ``fallback_name`` names it when no base-map version says.

    ``configured_extent`` (ONEMAP_CITY_EXTENT) frames the city only when no divisions are loaded.
    """
    version = conn.execute(text(CURRENT_VERSION_SQL)).mappings().first()
    view: Mapping[str, Any] = (version["view"] if version else None) or {}
    extent = city_box(conn, configured_extent)
    center = _center(view.get("center")) or (_middle(extent) if extent else None)
    named = view.get("base_layer")
    return CityView(
        code=version["city_code"] if version else None,
        name_zh=version["name_zh"] if version else fallback_name,
        name_en=version["name_en"] if version else fallback_name,
        version_id=version["id"] if version else None,
        loaded_at=version["loaded_at"] if version else None,
        levels=level_titles(conn, view, version["profile"] if version else None),
        extent=extent, center=center, zoom=_zoom(view.get("zoom")),
        base_layers=base_layers_over(conn, extent, named if isinstance(named, str) else None),
    )  # fmt: skip


def city_box(conn: Connection, configured_extent: str | None) -> Box | None:
    """The divisions' lon/lat box, else the configured one, else None."""
    found = divisions_box(conn)
    if found is not None:
        minx, miny, maxx, maxy = found
        return (minx, miny, maxx, maxy)
    return parse_bbox(configured_extent) if configured_extent else None


def base_layers_over(
    conn: Connection, extent: Box | None, named: str | None
) -> tuple[LayerRef, ...]:
    """Imagery layers over ``extent``: ``named`` first when it is one of them, then the largest overlap."""
    if extent is None:
        return ()
    minx, miny, maxx, maxy = extent
    rows = conn.execute(text(BASE_LAYERS_SQL),
                        {"minx": minx, "miny": miny, "maxx": maxx, "maxy": maxy, "named": named or ""})  # fmt: skip
    return tuple(LayerRef.from_row(dict(row)) for row in rows.mappings())


def level_titles(
    conn: Connection, view: Mapping[str, Any], profile: Mapping[str, Any] | None
) -> dict[str, dict[str, str]]:
    """What the city calls each loaded level: the view's words, the profile's, else the platform's."""
    titles = {
        level: dict(LEVEL_TITLES[level])
        for level in conn.execute(text(LEVELS_SQL)).scalars()
        if level in LEVEL_TITLES
    }
    for level in ((profile or {}).get("divisions") or {}).get("levels") or []:
        if (
            isinstance(level, Mapping)
            and level.get("level") in LEVEL_TITLES
            and isinstance(level.get("title"), Mapping)
        ):
            titles[level["level"]] = _names(level["title"])
    for level, title in (view.get("levels") or {}).items():
        if level in LEVEL_TITLES and isinstance(title, Mapping):
            titles[level] = _names(title)
    return {level: titles[level] for level in LEVEL_TITLES if level in titles}


def _names(title: Mapping[str, Any]) -> dict[str, str]:
    """{'zh', 'en'} from a title that may give only one of them."""
    zh, en = title.get("zh"), title.get("en")
    return {"zh": str(zh or en or ""), "en": str(en or zh or "")}


def _center(value: Any) -> tuple[float, float] | None:
    """A [lon, lat] pair from the profile's view, or None when it gives none (or nonsense)."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    lon, lat = float(value[0]), float(value[1])
    return (lon, lat) if -180 <= lon <= 180 and -90 <= lat <= 90 else None


def _zoom(value: Any) -> int | None:
    """The profile's zoom when it is a web-map zoom level (0–22)."""
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 22
        else None
    )


def _middle(extent: Box) -> tuple[float, float]:
    """The centre of a lon/lat box."""
    return ((extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2)


def read_current_city(engine: Engine, settings: Settings) -> CityView:
    """``current_city`` on a connection of its own, named and framed by ``settings`` when needed."""
    with engine.connect() as conn:
        return current_city(
            conn, fallback_name=settings.city_name, configured_extent=settings.city_extent
        )
