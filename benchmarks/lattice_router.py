"""The lattice router (a benchmark, not part of the platform): millions of points → unit cells in memory, by arithmetic first.

Cells are cut from a square lattice, so a point's lattice square is two divisions away once it
is in the grid's metric CRS. Squares wholly inside one cell answer at once; only squares on an
area boundary (several clipped cells, or none) fall back to point-in-polygon tests against
their few candidate cells. No spatial index is searched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import Connection, text

from spatial.errors import NotFound
from spatial.grid.lattice import Lattice, to_metric

NO_CELL = -1


@dataclass
class LatticeRouter:
    """Lattice, cell ids and geometries, and a CSR table square → candidate cells."""

    lattice: Lattice
    ncols: int
    cell_ids: np.ndarray
    cell_geoms: np.ndarray
    square_keys: np.ndarray  # sorted lattice keys (row * ncols + col)
    offsets: np.ndarray  # candidates of square_keys[i]: candidates[offsets[i]:offsets[i+1]]
    candidates: np.ndarray  # indexes into cell_ids
    whole: np.ndarray  # per square: the cell index covering it whole, or NO_CELL

    @classmethod
    def load(cls, conn: Connection) -> LatticeRouter:
        """The router of the current grid version."""
        meta = conn.execute(
            text(
                "SELECT crs_epsg, origin_x, origin_y, cell_size_m FROM grid.grid_version "
                "WHERE is_current AND crs_epsg IS NOT NULL"
            )
        ).first()
        if meta is None:
            raise NotFound("there is no current unit grid: build one with `onemap grid build`")
        rows = conn.execute(text("SELECT id, ST_AsBinary(geom) FROM grid.current_cell ORDER BY id")).all()
        lattice = Lattice(int(meta[0]), float(meta[1]), float(meta[2]), float(meta[3]))
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        geoms = shapely.from_wkb(np.array([bytes(r[1]) for r in rows], dtype=object))
        return cls.build(lattice, ids, geoms)

    @classmethod
    def build(cls, lattice: Lattice, ids: np.ndarray, geoms: np.ndarray) -> LatticeRouter:
        """Index cells by the lattice squares their bounds touch."""
        forward = to_metric(lattice.epsg)

        def project(coords: np.ndarray) -> np.ndarray:
            x, y = forward.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        bounds = shapely.bounds(shapely.transform(geoms, project))
        eps = 1e-6 * lattice.size
        col0, col1 = lattice.col_of(bounds[:, 0] + eps), lattice.col_of(bounds[:, 2] - eps)
        row0, row1 = lattice.row_of(bounds[:, 3] - eps), lattice.row_of(bounds[:, 1] + eps)
        ncols = int(col1.max()) + 2 if len(ids) else 1
        keys, owners = [], []
        for i in range(len(ids)):
            r, c = np.meshgrid(np.arange(row0[i], row1[i] + 1), np.arange(col0[i], col1[i] + 1))
            keys.append((r * ncols + c).ravel())
            owners.append(np.full(r.size, i, dtype=np.int64))
        all_keys = np.concatenate(keys) if keys else np.empty(0, np.int64)
        all_owners = np.concatenate(owners) if owners else np.empty(0, np.int64)
        order = np.argsort(all_keys, kind="stable")
        all_keys, all_owners = all_keys[order], all_owners[order]
        square_keys, starts = np.unique(all_keys, return_index=True)
        offsets = np.append(starts, len(all_keys))
        router = cls(lattice, ncols, ids, geoms, square_keys, offsets, all_owners, np.empty(0))
        router.whole = router._whole_squares()
        return router

    def _whole_squares(self) -> np.ndarray:
        """For squares with one candidate: that cell when it covers the whole square."""
        single = np.flatnonzero(np.diff(self.offsets) == 1)
        whole = np.full(len(self.square_keys), NO_CELL, dtype=np.int64)
        if not len(single):
            return whole
        cell = self.candidates[self.offsets[single]]
        rows, cols = np.divmod(self.square_keys[single], self.ncols)
        squares = self._squares(rows, cols)
        shapely.prepare(self.cell_geoms)
        covered = shapely.covers(self.cell_geoms[cell], squares)
        whole[single[covered]] = cell[covered]
        return whole

    def _squares(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """lon/lat polygons of lattice squares, slightly shrunk (robust to rounding)."""
        lat = self.lattice
        inset = 1e-3 * lat.size
        x0 = lat.origin_x + cols * lat.size + inset
        x1 = x0 + lat.size - 2 * inset
        y0 = lat.origin_y - rows * lat.size - inset
        y1 = y0 - lat.size + 2 * inset
        from spatial.grid.lattice import to_lonlat

        back = to_lonlat(lat.epsg)
        corners = [back.transform(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0))]
        rings = np.stack([np.stack([np.asarray(lon), np.asarray(la)], axis=-1) for lon, la in corners], axis=1)
        return shapely.polygons(rings)

    def route(self, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Cell id of each point (NO_CELL where none holds it)."""
        lons, lats = np.asarray(lons, dtype=float), np.asarray(lats, dtype=float)
        x, y = to_metric(self.lattice.epsg).transform(lons, lats)
        cols, rows = self.lattice.col_of(np.asarray(x)), self.lattice.row_of(np.asarray(y))
        keys = rows * self.ncols + cols
        valid = (cols >= 0) & (cols < self.ncols) & (rows >= 0)
        slot = np.searchsorted(self.square_keys, keys)
        slot = np.minimum(slot, max(len(self.square_keys) - 1, 0))
        known = valid & (len(self.square_keys) > 0)
        known &= self.square_keys[slot] == keys if len(self.square_keys) else False
        result = np.full(len(lons), NO_CELL, dtype=np.int64)
        whole = np.where(known, self.whole[slot], NO_CELL)
        direct = whole != NO_CELL
        result[direct] = self.cell_ids[whole[direct]]
        rest = np.flatnonzero(known & ~direct)
        if len(rest):
            result[rest] = self._test(rest, slot[rest], lons, lats)
        return result

    def _test(self, points: np.ndarray, slots: np.ndarray, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Point-in-polygon against each point's candidates; the first hit wins."""
        counts = self.offsets[slots + 1] - self.offsets[slots]
        pair_point = np.repeat(np.arange(len(points)), counts)
        within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        pair_cell = self.candidates[np.repeat(self.offsets[slots], counts) + within]
        hit = shapely.intersects_xy(
            self.cell_geoms[pair_cell], lons[points][pair_point], lats[points][pair_point]
        )
        answer = np.full(len(points), NO_CELL, dtype=np.int64)
        first = np.flatnonzero(hit)
        # reversed assignment leaves the first hit of each point in place
        answer[pair_point[first][::-1]] = self.cell_ids[pair_cell[first][::-1]]
        return answer
