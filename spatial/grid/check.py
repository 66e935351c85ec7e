"""Is a grid version seamless and free of overlaps? Measured in PostGIS on the stored cells.

For each area: the gap is the area's surface no cell covers, the overlap the cells' summed
area minus the area of their union. Both are measured in the storage plane (lon/lat), where
cells and areas share their edges exactly, and converted to m² by the local scale at the
area's latitude: transforming first (to UTM or to geography) would bend each straight lon/lat
edge and invent "gaps" of a square metre along a boundary cut into pieces. Between areas,
cells can only overlap where the source polygons themselves overlap: that is reported as
``source_overlap_m2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

TOLERANCE_M2 = 1.0
"""Gaps and overlaps below this (per area) are rounding, not defects."""

M2_PER_DEG2 = "(111320.0 * 110574.0 * cos(radians(ST_Y(ST_Centroid({g})))))"
CHECK_SQL = text(
    f"""
    WITH cells AS (
        SELECT community_code AS code, sum(ST_Area(geom)) AS summed, ST_Union(geom) AS covered
        FROM grid.unit_cell WHERE version_id = :v GROUP BY community_code
    )
    SELECT a.code,
           coalesce(ST_Area(ST_Difference(a.geom, c.covered)), ST_Area(a.geom)) * {M2_PER_DEG2.format(g="a.geom")},
           coalesce(c.summed - ST_Area(c.covered), 0) * {M2_PER_DEG2.format(g="a.geom")}
    FROM grid_area a LEFT JOIN cells c ON c.code = a.code
    ORDER BY a.code
    """
)
SOURCE_OVERLAP_SQL = text(
    f"SELECT (sum(ST_Area(geom)) - ST_Area(ST_Union(geom))) * {M2_PER_DEG2.format(g='ST_Collect(geom)')} "
    "FROM grid_area"
)


@dataclass
class SeamCheck:
    """Gaps and overlaps found, in m², and the areas where they exceed the tolerance."""

    areas: int
    total_gap_m2: float
    total_overlap_m2: float
    max_gap_m2: float
    max_overlap_m2: float
    source_overlap_m2: float
    defective_areas: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.defective_areas and self.source_overlap_m2 <= TOLERANCE_M2

    def describe(self) -> str:
        verdict = "seamless, no overlaps" if self.ok else "DEFECTS"
        line = (
            f"  check: {verdict} — gaps {self.total_gap_m2:.3f} m² (max {self.max_gap_m2:.3f}), "
            f"overlaps {self.total_overlap_m2:.3f} m² (max {self.max_overlap_m2:.3f}) over "
            f"{self.areas} areas; source polygons overlap by {self.source_overlap_m2:.1f} m²"
        )
        if self.defective_areas:
            line += f"\n  areas over {TOLERANCE_M2:g} m²: {', '.join(self.defective_areas[:20])}"
        return line


def check_version(conn: Connection, version_id: int) -> SeamCheck:
    """Measure gaps and overlaps of a version's cells against the staged areas (``grid_area``)."""
    rows = conn.execute(CHECK_SQL, {"v": version_id}).all()
    gaps = [max(float(r[1] or 0), 0.0) for r in rows]
    overlaps = [max(float(r[2] or 0), 0.0) for r in rows]
    defective = [r[0] for r, g, o in zip(rows, gaps, overlaps, strict=True) if g > TOLERANCE_M2 or o > TOLERANCE_M2]
    source_overlap = max(float(conn.execute(SOURCE_OVERLAP_SQL).scalar_one() or 0), 0.0)
    return SeamCheck(
        areas=len(rows), total_gap_m2=sum(gaps), total_overlap_m2=sum(overlaps),
        max_gap_m2=max(gaps, default=0.0), max_overlap_m2=max(overlaps, default=0.0),
        source_overlap_m2=source_overlap, defective_areas=defective,
    )  # fmt: skip
