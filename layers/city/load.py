"""Check a city profile's files, then replace the base map with them in one transaction.

``check_city`` reads every source and checks it without touching the database: the report
names every problem by feature and field. ``load_city`` runs the check and, only when it found
no error, in ONE transaction: archives the current base map (``versions``), writes divisions,
roads, buildings, POIs and door plates, fills the codes derived from the divisions, rebuilds
the geocoding index, registers the catalog layers under the city's name, places the location
plates (``layers.plates``), builds the unit grid and loads the category catalogue, and records
the new version. Any failure rolls all of it
back: the previous base map stays exactly as it was. Imagery scenes are checked with the rest
and published after the commit (each through the imagery loader, which refuses a scene
outside the city).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Connection, Engine, text

from layers.addresses import PreparedAddresses, prepare_addresses, store_addresses
from layers.bulk import copy_frame
from layers.catalog import lock_layer, register_layer
from layers.city.catalog import BASEMAP_DEPARTMENT, BASEMAP_LAYERS, basemap_layers
from layers.city.divisions import check_divisions
from layers.city.features import prepare_buildings, prepare_pois, prepare_roads
from layers.city.grid import follow_grid
from layers.city.profile import CityProfile
from layers.city.report import CityReport
from layers.city.sources import read_source
from layers.city.tables import as_table, table_columns
from layers.city.versions import (
    archive_current,
    empty_basemap,
    lock_basemap,
    prune_archives,
    record_version,
    reset_sequences,
)
from layers.plates import prepare_plate_file, write_plates
from spatial.access.policy import require_admin
from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.errors import InvalidInput
from spatial.extent import (
    OUTSIDE,
    SWAPPED,
    CityExtent,
    city_extent_of,
    forget_divisions_box,
    place_geometries,
)
from spatial.geocoding.index import refresh_index
from spatial.incidents.categories import Catalogue, add_department, read_catalogue, store_catalogue

Step = Callable[[str], None]
DIVISION_COLUMNS = ("code", "level", "parent_code", "name_zh", "name_en", "population",
                    "district_code", "street_code", "geom")  # fmt: skip


class CityRefused(InvalidInput):
    """The check found errors: nothing was written. Carries the whole report."""

    def __init__(self, report: CityReport) -> None:
        errors = report.errors
        super().__init__(
            f"city {report.city}: {len(errors)} error(s) in the check; nothing was written",
            details=[f.line() for f in errors[:50]],
        )
        self.report = report


@dataclass
class CheckedCity:
    """Everything a load writes, read and checked."""

    profile: CityProfile
    divisions: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame | None = None
    buildings: gpd.GeoDataFrame | None = None
    pois: gpd.GeoDataFrame | None = None
    addresses: PreparedAddresses | None = None
    scenes: list[tuple[Any, Path]] = field(default_factory=list)
    catalogue: Catalogue | None = None
    plates: gpd.GeoDataFrame | None = None
    """The city's own plates (a plate file); None: generated along the roads."""

    def counts(self) -> dict[str, int]:
        """Rows per base-map table."""
        frames = {"admin_division": self.divisions, "road": self.roads, "building": self.buildings,
                  "poi": self.pois, "address": self.addresses.table if self.addresses else None}  # fmt: skip
        return {table: 0 if frame is None else len(frame) for table, frame in frames.items()}


# ------------------------------------------------------------------------------------ check
def check_city(
    profile: CityProfile, report: CityReport, *, step: Step | None = None
) -> CheckedCity | None:
    """Read and check every source of the profile (no database); None when there is an error."""
    timer = _Timer(report, step)
    with timer("divisions"):
        divisions = read_divisions(profile, report)
    if divisions is None:
        return None
    extent = extent_of(divisions)
    checked = CheckedCity(profile, divisions)
    with timer("roads"):
        checked.roads = read_section(profile, "roads", "line", prepare_roads, extent, report)
    with timer("buildings"):
        checked.buildings = read_section(
            profile, "buildings", "polygon", prepare_buildings, extent, report
        )
    with timer("pois"):
        checked.pois = read_section(profile, "pois", "point", prepare_pois, extent, report)
    with timer("addresses"):
        checked.addresses = read_addresses(profile, extent, report)
    with timer("plates"):
        checked.plates = read_plate_file(profile, extent, report)
    checked.scenes = check_scenes(profile, extent, report)
    checked.catalogue = read_city_catalogue(profile, report)
    report.counts = checked.counts()
    return checked if report.ok else None


def read_divisions(profile: CityProfile, report: CityReport) -> gpd.GeoDataFrame | None:
    """Every level's file read, then the division checks (codes, parents, overlaps…)."""
    frames: dict[str, gpd.GeoDataFrame] = {}
    for level in profile.divisions.levels:
        frame = read_source(
            profile, level.source, f"divisions.{level.level}", report, geometry="polygon"
        )
        if frame is not None:
            frames[level.level] = frame
    if len(frames) != len(profile.divisions.levels):
        return None
    return check_divisions(profile.divisions, frames, report)


def extent_of(divisions: gpd.GeoDataFrame) -> CityExtent:
    """The new city's extent: its divisions' box plus the write gates' margin."""
    return city_extent_of(
        tuple(float(v) for v in divisions.total_bounds), source="the profile's divisions"
    )


def read_section(
    profile: CityProfile, name: str, geometry: Any, prepare: Callable[..., Any],
    extent: CityExtent, report: CityReport,
) -> gpd.GeoDataFrame | None:  # fmt: skip
    """One optional section read, mapped to its table and held to the city's extent."""
    section = getattr(profile, name)
    if section is None:
        return None
    frame = read_source(profile, section.source, name, report, geometry=geometry)
    if frame is None:
        return None
    frame = keep_in_city(frame, extent, name, report)
    if frame is None:
        return None
    if section.format == "onemap":
        return as_table(frame, name, report)
    return prepare(section, frame, report)


def keep_in_city(
    frame: gpd.GeoDataFrame, extent: CityExtent, section: str, report: CityReport
) -> gpd.GeoDataFrame | None:
    """Features outside the city are left out (a warning); swapped axes or none inside: an error."""
    verdicts = place_geometries(frame.geometry.to_numpy(), extent)
    numbers = frame["feature_no"].to_numpy()
    swapped = numbers[verdicts == SWAPPED]
    if len(swapped):
        report.error(section, "latitude and longitude are swapped (they lie in the city read the other way round)",
                     features=[f"feature {n}" for n in swapped])  # fmt: skip
        return None
    outside = verdicts == OUTSIDE
    if outside.all():
        report.error(
            section, f"no feature lies within the city ({extent.describe()}): is the CRS right?"
        )
        return None
    if outside.any():
        report.warning(section, f"{int(outside.sum()):,} features lie outside the city and are left out",
                       features=[f"feature {n}" for n in numbers[outside]])  # fmt: skip
    return frame.loc[~outside].copy()


def read_addresses(
    profile: CityProfile, extent: CityExtent, report: CityReport
) -> PreparedAddresses | None:
    """Door plates through the address loader's reading and checks."""
    section = profile.addresses
    if section is None:
        return None
    if section.format == "onemap":
        return read_address_table(profile, extent, report)
    try:
        prepared = prepare_addresses(
            profile.path_of(section.source.path), mapping=dict(section.mapping), source=section.name,
            from_crs=profile.crs_of(section.source), layer=section.source.layer,
        )  # fmt: skip
    except InvalidInput as err:
        report.error("addresses", str(err))
        return None
    if prepared.bad:
        report.warning("addresses", f"{len(prepared.bad):,} rows left out ({prepared.bad[0][1]}, …)",
                       features=[f"line {n}" for n, _ in prepared.bad])  # fmt: skip
    table = prepared.table
    inside = place_geometries(table.geometry.to_numpy(), extent) != OUTSIDE
    if not inside.all():
        report.warning(
            "addresses",
            f"{int((~inside).sum()):,} door plates lie outside the city and are left out",
        )
        prepared.table = table.loc[inside].copy()
    if prepared.table.empty:
        report.error(
            "addresses", "no door plate lies within the city: is the CRS or the mapping right?"
        )
        return None
    return prepared


def read_address_table(
    profile: CityProfile, extent: CityExtent, report: CityReport
) -> PreparedAddresses | None:
    """Door plates from a file in the address table's own shape (ids and labels kept)."""
    section = profile.addresses
    assert section is not None
    frame = read_source(profile, section.source, "addresses", report, geometry="point")
    frame = None if frame is None else keep_in_city(frame, extent, "addresses", report)
    table = None if frame is None else as_table(frame, "addresses", report)
    return None if table is None else PreparedAddresses(section.name, len(table), table, [])


def read_plate_file(
    profile: CityProfile, extent: CityExtent, report: CityReport
) -> gpd.GeoDataFrame | None:
    """The city's own plates, when the profile names a plate file."""
    section = profile.plates
    if section is None or section.source is None:
        return None
    frame = read_source(profile, section.source, "plates", report, geometry="point")
    frame = None if frame is None else keep_in_city(frame, extent, "plates", report)
    return None if frame is None else prepare_plate_file(frame, section, report)


def check_scenes(
    profile: CityProfile, extent: CityExtent, report: CityReport
) -> list[tuple[Any, Path]]:
    """Imagery scenes: readable rasters whose footprint meets the city."""
    import rasterio
    from rasterio.warp import transform_bounds

    scenes = []
    for scene in profile.imagery:
        path = profile.path_of(scene.path)
        try:
            with rasterio.open(path) as dataset:
                if dataset.crs is None:
                    report.error(f"imagery.{scene.id}", f"{path.name} has no CRS")
                    continue
                bounds = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
        except Exception as err:  # rasterio's errors all mean "not a raster we can read"
            report.error(
                f"imagery.{scene.id}", f"cannot read {path.name}: {str(err).splitlines()[0]}"
            )
            continue
        box = np.array([shapely.box(*bounds)])
        if (place_geometries(box, extent) == OUTSIDE).all() and not shapely.intersects(
            box[0], shapely.box(extent.minx, extent.miny, extent.maxx, extent.maxy)
        ):
            report.error(f"imagery.{scene.id}", f"{path.name} ({', '.join(f'{v:.3f}' for v in bounds)}) "
                         f"does not cover the city ({extent.describe()})")  # fmt: skip
            continue
        scenes.append((scene, path))
    return scenes


def read_city_catalogue(profile: CityProfile, report: CityReport) -> Catalogue | None:
    """The profile's category catalogue, when it names one."""
    if profile.categories is None:
        return None
    try:
        return read_catalogue(profile.path_of(profile.categories))
    except InvalidInput as err:
        report.error("categories", str(err))
        return None


# ------------------------------------------------------------------------------------ load
def load_city(
    engine: Engine, profile: CityProfile, *, principal: Principal, settings: Any,
    step: Step | None = None, extra: Callable[[Connection], None] | None = None,
) -> CityReport:  # fmt: skip
    """Check, then replace the base map in one transaction; CityRefused when the check fails.

    ``extra`` writes more in the same transaction (the demo's department overlays), so it
    commits or rolls back with the base map.
    """
    require_admin(principal, "replace the base map")
    checked, report = checked_or_refused(profile, step=step)
    return write_city(
        engine, checked, report, principal=principal, settings=settings, step=step, extra=extra
    )


def checked_or_refused(
    profile: CityProfile, *, step: Step | None = None
) -> tuple[CheckedCity, CityReport]:
    """The checked city and its report; CityRefused (carrying the report) when there is an error."""
    report = CityReport(profile.code)
    checked = check_city(profile, report, step=step)
    if checked is None:
        raise CityRefused(report)
    return checked, report


def write_city(
    engine: Engine, checked: CheckedCity, report: CityReport, *, principal: Principal, settings: Any,
    step: Step | None = None, extra: Callable[[Connection], None] | None = None, grid: bool = True,
) -> CityReport:  # fmt: skip
    """The write half of ``load_city``, for a city already checked (the demo checks its files
    while it renders its imagery). ``grid=False`` leaves the unit grid to the caller (``onemap
    demo`` builds its own right after)."""
    require_admin(principal, "replace the base map")
    profile = checked.profile
    timer = _Timer(report, step)
    with engine.begin() as conn:
        lock_basemap(conn)
        for layer_id, *_ in BASEMAP_LAYERS:
            lock_layer(conn, layer_id)  # feature edits of the base map wait for the new one
        with timer("write"):
            previous = archive_current(conn)
            write_basemap(conn, checked)
        with timer("derived"):
            write_derived(conn, checked, principal, report, grid=grid)
        if extra is not None:
            with timer("extra"):
                extra(conn)
        version = record_version(
            conn, city=profile, profile=profile.model_dump(mode="json", exclude={"folder"}),
            counts=report.counts, report=report.as_dict(), view=view_of(profile), loaded_by=principal.name,
        )  # fmt: skip
        prune_archives(conn)
        record_audit(conn, "city.load", f"base map version {version}", principal=principal,
                     detail={"city": profile.code, "counts": report.counts, "replaced": previous})  # fmt: skip
    report.version = version
    forget_divisions_box()  # the write gates of this process follow the new city at once
    with timer("imagery"):
        publish_scenes(engine, settings, checked, principal, report)
    return report


def write_basemap(conn: Connection, checked: CheckedCity) -> None:
    """Empty the base map and COPY the checked frames; derived codes filled in SQL."""
    empty_basemap(conn)
    copy_frame(conn, "basemap", "admin_division", as_geom(checked.divisions), DIVISION_COLUMNS)
    for table, frame in (
        ("road", checked.roads),
        ("building", checked.buildings),
        ("poi", checked.pois),
    ):
        if frame is not None and len(frame):
            copy_frame(conn, "basemap", table, as_geom(frame), stored_columns(table, frame))
    fill_codes(conn)
    if checked.addresses is not None:
        store_addresses(conn, checked.addresses, index=False)  # the index is rebuilt once, after
    reset_sequences(conn)
    for table in ("admin_division", "road", "building", "poi", "address"):
        conn.execute(text(f"ANALYZE basemap.{table}"))


def stored_columns(table: str, frame: gpd.GeoDataFrame) -> list[str]:
    """The table's columns the frame carries (ids too, when a file in the table's shape gave them)."""
    columns = [c.name for c in table_columns(table)] + ["geom"]
    return [c for c in columns if c in frame.columns or c == "geom"]


def as_geom(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame with its geometry column named ``geom`` (the tables' name)."""
    return frame if frame.geometry.name == "geom" else frame.rename_geometry("geom")


FILL_CODES_SQL = (
    "UPDATE basemap.road r SET district_code = d.district_code FROM basemap.admin_division d "
    "WHERE r.district_code IS NULL AND d.level = 'district' AND ST_Intersects(d.geom, ST_PointOnSurface(r.geom))",
    "UPDATE basemap.building b SET community_code = d.code FROM basemap.admin_division d "
    "WHERE b.community_code IS NULL AND d.level = 'community' "
    "AND ST_Intersects(d.geom, ST_PointOnSurface(b.geom))",
)


def fill_codes(conn: Connection) -> None:
    """Each road's district and each building's community, from the new divisions (where the
    file did not give them)."""
    for statement in FILL_CODES_SQL:
        conn.execute(text(statement))


def write_derived(
    conn: Connection,
    checked: CheckedCity,
    principal: Principal,
    report: CityReport,
    *,
    grid: bool = True,
) -> None:
    """Geocoding index, catalog layers, plates, unit grid and category catalogue of the new city."""
    profile = checked.profile
    counts = refresh_index(conn)
    report.counts["geocoding index"] = counts.addresses + counts.places
    add_department(conn, *BASEMAP_DEPARTMENT)
    for spec in basemap_layers(profile, source_note=f"city profile {profile.code}"):
        register_layer(conn, spec)
    write_plates(conn, profile, report, from_file=checked.plates)
    if grid:
        follow_grid(conn, profile.grid, principal, report)
    catalogue = checked.catalogue
    if (
        catalogue is None
        and not conn.execute(text("SELECT 1 FROM incidents.category LIMIT 1")).first()
    ):
        catalogue = read_catalogue()  # a new city gets the built-in catalogue; a loaded one is kept
    if catalogue is not None:
        stored = store_catalogue(conn, catalogue, principal=principal)
        report.counts["categories"] = stored.get("categories", 0)


def view_of(profile: CityProfile) -> dict[str, Any]:
    """What the pages need to open on the city: level titles, centre, zoom, base layer."""
    levels = {
        level.level: (level.title.model_dump() if level.title else None)
        for level in profile.divisions.levels
    }
    view = profile.view
    return {"center": list(view.center) if view.center else None, "zoom": view.zoom,
            "base_layer": view.base_layer, "levels": levels}  # fmt: skip


def publish_scenes(
    engine: Engine, settings: Any, checked: CheckedCity, principal: Principal, report: CityReport
) -> None:
    """Each checked scene through the imagery loader (after the base map is committed)."""
    from layers.imagery.ingest import add_imagery

    for scene, path in checked.scenes:
        try:
            add_imagery(engine, settings, path, name=scene.id, department=BASEMAP_DEPARTMENT[0],
                        title_zh=scene.title.zh, title_en=scene.title.en)  # fmt: skip
            report.counts[f"imagery {scene.id}"] = 1
        except InvalidInput as err:
            report.error(f"imagery.{scene.id}", f"not published: {err}")


class _Timer:
    """Seconds per step into the report, and a line to the console as each step starts."""

    def __init__(self, report: CityReport, step: Step | None) -> None:
        self.report, self.step = report, step

    def __call__(self, name: str) -> Any:
        import contextlib

        @contextlib.contextmanager
        def timed() -> Any:
            if self.step is not None:
                self.step(name)
            started = time.perf_counter()
            try:
                yield
            finally:
                self.report.seconds[name] = (
                    self.report.seconds.get(name, 0.0) + time.perf_counter() - started
                )

        return timed()
