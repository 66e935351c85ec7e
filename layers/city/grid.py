"""The unit grid follows the city: built as the profile says, else rebuilt like the current one.

A grid cut from the previous city's divisions must not stay current over a new city: incidents
would be routed to cells of another place. When the profile has no ``grid:`` section and the
current grid was cut from the divisions, it is rebuilt at the same level and cell size over the
new divisions; when the new city has no such level, the old grid is retired (no grid is
current) and the report says how to build one.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from layers.city.profile import GridSettings
from layers.city.report import CityReport
from spatial.access.principal import Principal
from spatial.grid.build import GridSource, build_grid_on
from spatial.grid.source import DIVISIONS_LAYER


def follow_grid(
    conn: Connection, settings: GridSettings | None, principal: Principal, report: CityReport
) -> None:
    """Build, rebuild or retire the unit grid for the divisions just written."""
    if settings is None:
        settings = current_division_grid(conn)
        if settings is None:
            return  # no grid, or one cut from another layer: the department's own business
        if not has_level(conn, settings.level):
            retire_grid(conn)
            report.warning("grid", f"the previous unit grid was cut from {settings.level} divisions, which "
                           "this city does not have: no grid is current (onemap grid build --level …)")  # fmt: skip
            return
        report.note("grid", f"the unit grid was rebuilt over the new divisions ({settings.level}, "
                    f"{settings.cell_size_m:g} m cells, as before)")  # fmt: skip
    grid = build_grid_on(
        conn,
        GridSource(level=settings.level),
        cell_size_m=settings.cell_size_m,
        principal=principal,
    )
    report.counts["grid cells"] = grid.cell_count
    if not grid.check.ok:
        report.warning(
            "grid", f"the unit grid's seamlessness check failed: {grid.check.describe()}"
        )


def current_division_grid(conn: Connection) -> GridSettings | None:
    """The level and cell size of the current grid when it was cut from the divisions."""
    row = conn.execute(
        text("SELECT source_layer, cell_size_m FROM grid.grid_version WHERE is_current")
    ).first()
    if row is None or not str(row.source_layer).startswith(f"{DIVISIONS_LAYER}:"):
        return None
    level = str(row.source_layer).split(":", 1)[1]
    if level not in ("district", "street", "community"):
        return None
    return GridSettings(level=level, cell_size_m=float(row.cell_size_m))  # type: ignore[arg-type]


def has_level(conn: Connection, level: str) -> bool:
    """Whether the divisions include ``level``."""
    found = conn.execute(
        text("SELECT 1 FROM basemap.admin_division WHERE level = :l LIMIT 1"), {"l": level}
    )
    return found.first() is not None


def retire_grid(conn: Connection) -> None:
    """No grid is current any more (its versions and the incidents' cells stay)."""
    conn.execute(text("UPDATE grid.grid_version SET is_current = false WHERE is_current"))
    conn.execute(text("DELETE FROM grid.current_cell"))
