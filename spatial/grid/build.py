"""Building a grid version: cut every area, write the cells with COPY, check the result in
PostGIS, make the version current, all in one transaction.

Old versions and their cells stay (incidents keep the cell they were routed to); only
``grid.current_cell`` is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import shapely
from sqlalchemy import Connection, Engine, text

from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.errors import InvalidInput
from spatial.grid.cells import DEFAULT_MIN_FRACTION, cut_area
from spatial.grid.check import SeamCheck, check_version
from spatial.grid.codes import cell_code
from spatial.grid.lattice import Lattice
from spatial.grid.source import DIVISIONS_LAYER, Area, division_areas, layer_areas

DEFAULT_CELL_SIZE_M = 100.0


@dataclass
class GridReport:
    """What a build made: version, cell count, lattice, the seamlessness check, timings."""

    version_id: int
    source_layer: str
    cell_size_m: float
    area_count: int
    cell_count: int
    crs_epsg: int
    check: SeamCheck
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """A few lines for the command line."""
        return "\n".join(
            [
                f"grid version {self.version_id}: {self.cell_count:,} cells of ~{self.cell_size_m:g} m "
                f"over {self.area_count} areas of {self.source_layer} (EPSG:{self.crs_epsg})",
                self.check.describe(),
                "  steps: " + " · ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
            ]
        )


@dataclass(frozen=True)
class GridSource:
    """Which polygons to divide: the divisions at a level, or a layer and its code field."""

    layer: str = DIVISIONS_LAYER
    level: str = "community"
    code_field: str | None = None

    def areas(self, conn: Connection) -> list[Area]:
        if self.code_field is None:
            if self.layer != DIVISIONS_LAYER:
                raise InvalidInput(f"say which field of layer {self.layer!r} holds the codes (--code-field)")
            return division_areas(conn, self.level)
        return layer_areas(conn, self.layer, self.code_field)

    @property
    def label(self) -> str:
        return f"{self.layer}:{self.code_field or self.level}"


def build_grid(
    engine: Engine,
    source: GridSource = GridSource(),
    *,
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    progress: Callable[[str], None] | None = None,
    principal: Principal,
) -> GridReport:
    """Cut the source's areas into cells and store them as the new current grid version (audited)."""
    with engine.begin() as conn:
        return build_grid_on(
            conn, source, cell_size_m=cell_size_m, min_fraction=min_fraction, principal=principal
        )


def build_grid_on(
    conn: Connection,
    source: GridSource,
    *,
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
    min_fraction: float = DEFAULT_MIN_FRACTION,
    principal: Principal,
) -> GridReport:
    """build_grid inside the caller's transaction (a city load builds its grid with its divisions)."""
    import time

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('onemap-grid-build'))"))
    areas = source.areas(conn)
    if not areas:
        raise InvalidInput(f"{source.label} has no polygons to divide into cells")
    lattice = Lattice.covering(tuple(shapely.total_bounds([a.geom for a in areas])), cell_size_m)
    rows = cut_cells(areas, lattice, min_fraction)
    seconds["cut"] = time.perf_counter() - started
    version_id = new_version(conn, source, lattice)
    write_cells(conn, version_id, rows)
    stage_areas(conn, areas)
    seconds["write"] = time.perf_counter() - started - seconds["cut"]
    check = check_version(conn, version_id)
    seconds["check"] = time.perf_counter() - started - seconds["cut"] - seconds["write"]
    make_current(conn, version_id, len(rows), check, tuple(shapely.total_bounds([a.geom for a in areas])))
    record_audit(conn, "grid.build", f"grid version {version_id}", principal=principal,
                 detail={"source": source.label, "cell_size_m": cell_size_m, "cells": len(rows),
                         "check_ok": check.ok})  # fmt: skip
    return GridReport(
        version_id, source.label, cell_size_m, len(areas), len(rows), lattice.epsg, check, seconds
    )


def cut_cells(areas: list[Area], lattice: Lattice, min_fraction: float) -> list[tuple]:
    """COPY rows (code, district, street, community, row, col, EWKB hex) of every area's cells."""
    rows = []
    for area in areas:
        cells = cut_area(lattice, area.geom, min_fraction=min_fraction)
        geoms = shapely.to_wkb(
            shapely.set_srid([c.geom for c in cells], 4326), hex=True, include_srid=True
        )
        for sequence, (cell, wkb) in enumerate(zip(cells, geoms, strict=True), start=1):
            rows.append((cell_code(area.code, sequence), area.district_code, area.street_code,
                         area.community_code, cell.row, cell.col, wkb))  # fmt: skip
    return rows


def new_version(conn: Connection, source: GridSource, lattice: Lattice) -> int:
    """A grid_version row for this build (not yet current)."""
    return int(
        conn.execute(
            text(
                "INSERT INTO grid.grid_version (source_layer, cell_size_m, is_current, cell_count, "
                "crs_epsg, origin_x, origin_y, code_field) VALUES (:layer, :size, false, 0, :epsg, "
                ":ox, :oy, :field) RETURNING id"
            ),
            {"layer": source.label, "size": lattice.size, "epsg": lattice.epsg,
             "ox": lattice.origin_x, "oy": lattice.origin_y, "field": source.code_field or source.level},
        ).scalar_one()
    )  # fmt: skip


def write_cells(conn: Connection, version_id: int, rows: list[tuple]) -> None:
    """COPY the cells into a staging table, then insert them with geodesic areas (m²)."""
    conn.execute(
        text(
            "CREATE TEMP TABLE grid_stage (code text, district_code text, street_code text, "
            "community_code text, lattice_row int, lattice_col int, geom geometry) ON COMMIT DROP"
        )
    )
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(
        "COPY grid_stage (code, district_code, street_code, community_code, lattice_row, "
        "lattice_col, geom) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute(
        text(
            "INSERT INTO grid.unit_cell (version_id, code, district_code, street_code, "
            "community_code, area_m2, geom, lattice_row, lattice_col) "
            "SELECT :v, code, district_code, street_code, community_code, "
            "ST_Area(geom::geography), geom, lattice_row, lattice_col FROM grid_stage ORDER BY code"
        ),
        {"v": version_id},
    )


def stage_areas(conn: Connection, areas: list[Area]) -> None:
    """The source areas in a temporary table, for the check."""
    conn.execute(text("CREATE TEMP TABLE grid_area (code text, geom geometry) ON COMMIT DROP"))
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy("COPY grid_area (code, geom) FROM STDIN") as copy:
        for area in areas:
            copy.write_row((area.code, shapely.to_wkb(shapely.set_srid(area.geom, 4326), hex=True, include_srid=True)))


def make_current(
    conn: Connection, version_id: int, cell_count: int, check: SeamCheck, bounds: tuple[float, ...]
) -> None:
    """Mark the version current (its report: the check and lon/lat bounds), refresh current_cell."""
    import json

    conn.execute(text("UPDATE grid.grid_version SET is_current = false WHERE is_current"))
    conn.execute(
        text(
            "UPDATE grid.grid_version SET is_current = true, cell_count = :n, "
            "report = CAST(:report AS jsonb) WHERE id = :v"
        ),
        {"v": version_id, "n": cell_count, "report": json.dumps(asdict(check) | {"bounds": [float(b) for b in bounds]})},
    )
    conn.execute(text("DELETE FROM grid.current_cell"))
    conn.execute(
        text(
            "INSERT INTO grid.current_cell (id, version_id, code, district_code, street_code, "
            "community_code, area_m2, geom) SELECT id, version_id, code, district_code, "
            "street_code, community_code, area_m2, geom FROM grid.unit_cell WHERE version_id = :v"
        ),
        {"v": version_id},
    )
    conn.execute(text("ANALYZE grid.current_cell"))
