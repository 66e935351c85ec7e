"""The plates layer (路灯贴牌): generated along the city's roads, or read from the city's own file.

Plates are derived from the base map like the unit grid: ``write_plates`` runs in the city
load's transaction (``layers.city.load.write_derived``, so ``onemap demo`` and ``onemap city
load`` both get them), replacing ``basemap.plate`` and cataloguing it as the base-map layer
``plates`` (served by OGC API Features like the roads, each feature under its code).
``regenerate`` does the same for the current base map (``onemap plates generate``).
A plate file's codes are held to the scheme (``spatial.plates.scheme``): a code of another
shape, a wrong check character or a code used twice leaves that plate out, with a warning.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import geopandas as gpd
from sqlalchemy import Connection, Engine, text

from layers.bulk import copy_frame
from layers.catalog import LayerSpec, lock_layer, register_layer
from layers.city.catalog import BASEMAP_DEPARTMENT
from layers.city.profile import CityProfile, Names, Plates
from layers.city.report import CityReport
from spatial.access.policy import require_admin
from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.errors import InvalidInput, NotFound
from spatial.plates.placement import PLATE_COLUMNS, Spacing, empty_plates, place_plates
from spatial.plates.scheme import parse_plate_code

PLATE_LAYER = "plates"
ROADS_SQL = "SELECT id, name_zh, name_en, district_code, geom FROM basemap.road ORDER BY id"
NEAREST_ROAD_SQL = """
UPDATE basemap.plate p SET road_id = r.id, road_name_zh = r.name_zh, road_name_en = r.name_en,
       district_code = r.district_code
FROM basemap.plate q CROSS JOIN LATERAL (
    SELECT id, name_zh, name_en, district_code FROM basemap.road ORDER BY geom <-> q.geom LIMIT 1
) r
WHERE p.id = q.id
"""


@dataclass(frozen=True)
class PlateSummary:
    """What a plate build wrote."""

    plates: int
    roads: int
    source: str
    seconds: float

    def describe(self) -> str:
        """'2,345 plates along 120 roads (generated, 0.8 s)'."""
        return f"{self.plates:,} plates along {self.roads:,} roads ({self.source}, {self.seconds:.1f} s)"


def plate_layer(city: Names, *, source_note: str) -> LayerSpec:
    """The catalog entry of the plates, titled after the city ('Manhattan location plates')."""
    return LayerSpec(
        id=PLATE_LAYER,
        title_zh=f"{city.zh}路灯贴牌",
        title_en=f"{city.en} location plates",
        department_code=BASEMAP_DEPARTMENT[0],
        storage_schema="basemap",
        storage_table="plate",
        id_field="code",
        description=(
            "路灯贴牌：沿道路每隔一定距离的位置编码牌 (coded plates on lamp posts: road code, pole "
            f"number, side, check character, e.g. XFDL-012-L-7); {source_note}."
        ),
        keywords=["一张图", "one map", city.zh, city.en, "路灯贴牌", "location codes", "plates"],
        style={"color": "#e6550d", "radius": 2, "label": "code"},
    )


# ------------------------------------------------------------------------------ the file
def prepare_plate_file(
    frame: gpd.GeoDataFrame, section: Plates, report: CityReport
) -> gpd.GeoDataFrame | None:
    """A city's own plates (points with a code field) as plate rows; None after an error."""
    field = section.code_field
    if field is None or field not in frame.columns:
        report.error("plates", f"the plate file has no field {field!r}", field=field)
        return None
    rows, bad = [], []
    seen: set[str] = set()
    for number, written, geom in zip(
        frame["feature_no"], frame[field], frame.geometry, strict=True
    ):
        try:
            code = parse_plate_code(str(written or ""))
        except InvalidInput:
            bad.append((number, f"{written!r} is not a plate code"))
            continue
        if not code.valid:
            bad.append((number, f"{code.text}: check character does not match"))
        elif code.text in seen:
            bad.append((number, f"{code.text} is used twice"))
        else:
            seen.add(code.text)
            rows.append({"code": code.text, "road_code": code.road, "pole": code.pole, "side": code.side,
                         "road_name_zh": "", "road_name_en": "", "road_id": None, "district_code": None,
                         "offset_m": None, "source": "file", "geom": geom})  # fmt: skip
    if bad:
        report.warning("plates", f"{len(bad):,} plates left out ({bad[0][1]}, …)",
                       features=[f"feature {n}" for n, _ in bad])  # fmt: skip
    if not rows:
        report.error("plates", "no plate of the file has a valid code")
        return None
    return gpd.GeoDataFrame(rows, geometry="geom", crs=4326)


# ------------------------------------------------------------------------------ writing
def write_plates(
    conn: Connection,
    profile: CityProfile,
    report: CityReport,
    *,
    from_file: gpd.GeoDataFrame | None,
) -> PlateSummary:
    """Replace the plates of the base map just written and catalogue them (in its transaction)."""
    settings = profile.plates or Plates()
    note = f"city profile {profile.code}"
    if from_file is not None:
        summary = store_plates(conn, from_file, "file")
        note += ", the city's plate file"
    else:
        summary = generate_plates(conn, Spacing(settings.spacing_m, settings.offset_m))
        note += f", generated every {settings.spacing_m:g} m along the named roads"
    register_layer(conn, plate_layer(profile.name, source_note=note))
    report.counts["plates"] = summary.plates
    report.seconds["plate placement"] = summary.seconds
    return summary


def generate_plates(conn: Connection, spacing: Spacing) -> PlateSummary:
    """Plates along the current roads, replacing the stored ones."""
    started = time.perf_counter()
    roads = gpd.read_postgis(text(ROADS_SQL), conn, geom_col="geom", crs=4326)
    plates = place_plates(roads, spacing) if len(roads) else empty_plates()
    summary = store_plates(conn, plates, "generated")
    return PlateSummary(summary.plates, summary.roads, "generated", time.perf_counter() - started)


def store_plates(conn: Connection, plates: gpd.GeoDataFrame, source: str) -> PlateSummary:
    """``basemap.plate`` emptied and filled with ``plates`` (file plates get their nearest road)."""
    started = time.perf_counter()
    lock_layer(conn, PLATE_LAYER)
    conn.execute(text("TRUNCATE basemap.plate RESTART IDENTITY"))
    if len(plates):
        copy_frame(conn, "basemap", "plate", plates, [*PLATE_COLUMNS, "geom"])
    if source == "file":
        conn.execute(text(NEAREST_ROAD_SQL))
    conn.execute(text("ANALYZE basemap.plate"))
    roads = conn.execute(text("SELECT count(DISTINCT road_code) FROM basemap.plate")).scalar_one()
    return PlateSummary(len(plates), int(roads), source, time.perf_counter() - started)


def regenerate(engine: Engine, spacing: Spacing, *, principal: Principal) -> PlateSummary:
    """New plates along the current base map's roads (``onemap plates generate``)."""
    from layers.city.versions import lock_basemap

    require_admin(principal, "regenerate the location plates")
    with engine.begin() as conn:
        lock_basemap(conn)
        city = conn.execute(
            text("SELECT city_code AS code, name_zh, name_en FROM basemap.version WHERE is_current")
        ).first()
        if city is None:
            raise NotFound("no base map is loaded: run onemap demo or onemap city load first")
        summary = generate_plates(conn, spacing)
        note = f"city {city.code}, generated every {spacing.spacing_m:g} m along the named roads"
        register_layer(conn, plate_layer(Names(zh=city.name_zh, en=city.name_en), source_note=note))
        record_audit(conn, "plates.generate", f"{summary.plates} plates", principal=principal,
                     detail={"spacing_m": spacing.spacing_m, "offset_m": spacing.offset_m})  # fmt: skip
    return summary
