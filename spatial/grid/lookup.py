"""Point → unit cell of the current grid: one point through PostGIS (GiST), or many in one query.

(The in-memory lattice router that bulk-routes millions of points is a benchmark of its own,
``benchmarks/lattice_router.py``: nothing in the platform calls it.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

CELL_AT_SQL = text(
    """
    SELECT u.id, u.code, u.community_code, u.street_code, u.district_code, u.version_id
    FROM grid.unit_cell u JOIN grid.grid_version v ON v.id = u.version_id AND v.is_current
    WHERE ST_Intersects(u.geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY u.code LIMIT 1
    """
)
CELLS_AT_SQL = text(
    """
    SELECT p.ord, c.id
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY AS p(lon, lat, ord)
    LEFT JOIN LATERAL (
        SELECT u.id FROM grid.current_cell u
        WHERE ST_Intersects(u.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
        ORDER BY u.code LIMIT 1
    ) c ON true
    ORDER BY p.ord
    """
)


@dataclass(frozen=True)
class CellHit:
    """The cell a point falls in, with the divisions it belongs to."""

    cell_id: int
    code: str
    community_code: str
    street_code: str
    district_code: str
    version_id: int


def cell_at(conn: Connection, lon: float, lat: float) -> CellHit | None:
    """The current grid's cell containing (lon, lat); None outside every cell or without a grid."""
    row = conn.execute(CELL_AT_SQL, {"lon": lon, "lat": lat}).first()
    return CellHit(*row) if row else None


def cells_at(conn: Connection, lons: Sequence[float], lats: Sequence[float]) -> list[int | None]:
    """Cell ids of many points in one set-based query (None where no cell holds the point)."""
    rows = conn.execute(CELLS_AT_SQL, {"lons": list(lons), "lats": list(lats)}).all()
    return [row[1] for row in rows]
