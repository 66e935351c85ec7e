"""Cutting an area (a community polygon) into unit cells: lattice squares clipped to it, slivers
merged into a neighbour, numbered west → east then north → south.

Squares are built from lattice corners shared with their neighbours and clipped against the
area's own lon/lat geometry, so cells of one area tile it exactly and cells of neighbouring
areas meet along the areas' own common boundary: the grid is as seamless as the areas are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import Geometry

from spatial.grid.lattice import Lattice

DEFAULT_MIN_FRACTION = 0.2
"""A clipped piece smaller than this share of a whole square joins its neighbour."""


@dataclass(frozen=True)
class CutCell:
    """One cell of an area before it has a code: its lattice square and lon/lat geometry."""

    row: int
    col: int
    geom: Geometry


def lattice_squares(lattice: Lattice, area: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and lon/lat polygons of the lattice squares over ``area``'s bounds."""
    row0, row1, col0, col1 = lattice.span(tuple(area.bounds))
    lon, lat = lattice.corners(row0, row1, col0, col1)
    nrows, ncols = row1 - row0 + 1, col1 - col0 + 1
    grid_r, grid_c = np.meshgrid(np.arange(nrows), np.arange(ncols), indexing="ij")
    r, c = grid_r.ravel(), grid_c.ravel()
    rings = np.stack(
        [
            np.stack([lon[r, c], lat[r, c]], axis=-1),
            np.stack([lon[r, c + 1], lat[r, c + 1]], axis=-1),
            np.stack([lon[r + 1, c + 1], lat[r + 1, c + 1]], axis=-1),
            np.stack([lon[r + 1, c], lat[r + 1, c]], axis=-1),
            np.stack([lon[r, c], lat[r, c]], axis=-1),
        ],
        axis=1,
    )
    return r + row0, c + col0, shapely.polygons(rings)


def clip_squares(area: Geometry, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indexes of the squares with area inside ``area`` and their clipped polygonal parts."""
    shapely.prepare(area)
    inside = shapely.contains(area, squares)
    edge = ~inside & shapely.intersects(area, squares)
    pieces = squares.copy()
    pieces[edge] = shapely.intersection(squares[edge], area)
    keep = inside | edge
    pieces[keep] = polygonal(pieces[keep])
    keep &= ~shapely.is_empty(pieces) & (shapely.area(pieces) > 0)
    return np.flatnonzero(keep), pieces


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Only the polygons of each geometry (a clip can add touching lines and points)."""
    out = geoms.copy()
    mixed = np.flatnonzero(shapely.get_type_id(geoms) == 7)  # GeometryCollection
    for i in mixed:
        parts = [g for g in shapely.get_parts(geoms[i]) if shapely.get_type_id(g) in (3, 6)]
        out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def merge_slivers(
    rows: np.ndarray, cols: np.ndarray, pieces: np.ndarray, fractions: np.ndarray, min_fraction: float
) -> list[list[int]]:
    """Groups of piece indexes: each sliver joins the 4-neighbour it shares the longest edge with."""
    parent = list(range(len(pieces)))
    where = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(rows, cols, strict=True))}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in np.argsort(fractions):
        if fractions[i] >= min_fraction:
            break
        best, best_len = -1, 0.0
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            j = where.get((int(rows[i]) + dr, int(cols[i]) + dc))
            if j is None:
                continue
            shared = shapely.length(shapely.intersection(pieces[i].boundary, pieces[j].boundary))
            bonus = 1.0 if fractions[j] >= min_fraction else 0.5  # prefer whole-ish cells
            if shared * bonus > best_len:
                best, best_len = j, shared * bonus
        if best >= 0:
            parent[find(int(i))] = find(best)
    groups: dict[int, list[int]] = {}
    for i in range(len(pieces)):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())


def cut_area(
    lattice: Lattice, area: Geometry, *, min_fraction: float = DEFAULT_MIN_FRACTION
) -> list[CutCell]:
    """The cells of one area, in code order (north → south rows, west → east within a row)."""
    rows, cols, squares = lattice_squares(lattice, area)
    kept, pieces = clip_squares(area, squares)
    rows, cols, whole, pieces = rows[kept], cols[kept], squares[kept], pieces[kept]
    fractions = shapely.area(pieces) / shapely.area(whole)
    cells = []
    for group in merge_slivers(rows, cols, pieces, fractions, min_fraction):
        main = max(group, key=lambda i: fractions[i])
        geom = pieces[group[0]] if len(group) == 1 else shapely.union_all(pieces[group])
        cells.append(CutCell(int(rows[main]), int(cols[main]), as_multipolygon(geom)))
    cells.sort(key=lambda cell: (cell.row, cell.col))
    return cells


def as_multipolygon(geom: Geometry) -> Geometry:
    """Polygon → MultiPolygon (the column's type); MultiPolygons unchanged."""
    if shapely.get_type_id(geom) == 3:
        return shapely.multipolygons([geom])
    if shapely.get_type_id(geom) == 6:
        return geom
    return shapely.multipolygons(shapely.get_parts(polygonal(np.array([geom]))[0]))
