"""The unit grid: seamless cells of ~10,000 m², 15-digit codes in order, versions, routers agree."""

from __future__ import annotations

import numpy as np
import shapely
from sqlalchemy import text

from benchmarks.lattice_router import LatticeRouter
from spatial.access.principal import local_operator
from spatial.grid.build import build_grid
from spatial.grid.codes import cell_code, geo_grid_code
from tests.incidents.conftest import GUIYI, IncidentCity


def test_current_grid_is_seamless_with_codes_in_order(incident_city: IncidentCity) -> None:
    with incident_city.engine.connect() as conn:
        version, report = conn.execute(text("SELECT id, report FROM grid.grid_version WHERE is_current")).one()
        assert report["defective_areas"] == [] and report["max_gap_m2"] < 1 and report["max_overlap_m2"] < 1
        rows = conn.execute(text(
            "SELECT code, community_code, area_m2, lattice_row, lattice_col FROM grid.unit_cell "
            "WHERE version_id = :v ORDER BY code"), {"v": version}).all()  # fmt: skip
        whole = conn.execute(text("SELECT sum(ST_Area(geom::geography)) FROM basemap.admin_division WHERE level = 'community'")).scalar()
    assert all(len(r.code) == 15 and r.code.startswith(r.community_code) for r in rows)
    assert abs(sum(r.area_m2 for r in rows) - whole) / whole < 1e-6
    areas = np.array([r.area_m2 for r in rows])
    assert 9_000 < np.median(areas) < 11_000 and areas.max() < 25_000
    for community in {r.community_code for r in rows}:
        cells = [r for r in rows if r.community_code == community]
        order = [(r.lattice_row, r.lattice_col) for r in cells]
        assert order == sorted(order)  # west → east within a row, rows north → south
        assert [int(r.code[-3:]) for r in cells] == list(range(1, len(cells) + 1))


def test_rebuild_makes_a_new_version_and_incidents_keep_their_cell(incident_city: IncidentCity) -> None:
    from spatial.incidents.filing import IncidentReport, file_incident

    filed = file_incident(incident_city.engine, IncidentReport("0101", "", *GUIYI), principal=None)
    report = build_grid(incident_city.engine, cell_size_m=200, principal=local_operator())
    assert report.check.ok and report.cell_count < 4000
    with incident_city.engine.connect() as conn:
        cell = conn.execute(text("SELECT cell_id, grid_version_id FROM incidents.incident WHERE id = :i"), {"i": filed.id}).one()
        still = conn.execute(text("SELECT version_id FROM grid.unit_cell WHERE id = :c"), {"c": cell.cell_id}).scalar()
        assert still == cell.grid_version_id != report.version_id
        assert conn.execute(text("SELECT count(*) FROM grid.current_cell")).scalar() == report.cell_count
    final = build_grid(incident_city.engine, principal=local_operator())  # back to 100 m for the other tests
    assert final.check.ok


def test_lattice_router_agrees_with_strtree_and_postgis(incident_city: IncidentCity) -> None:
    from spatial.grid.lookup import cells_at

    rng = np.random.default_rng(7)
    with incident_city.engine.connect() as conn:
        router = LatticeRouter.load(conn)
        minx, miny, maxx, maxy = shapely.total_bounds(router.cell_geoms)
        lons, lats = rng.uniform(minx - 0.01, maxx + 0.01, 20_000), rng.uniform(miny - 0.01, maxy + 0.01, 20_000)
        ours = router.route(lons, lats)
        in_db = np.array([c if c is not None else -1 for c in cells_at(conn, lons[:2000], lats[:2000])])
    tree = shapely.STRtree(router.cell_geoms)
    point_index, cell_index = tree.query(shapely.points(lons, lats), predicate="intersects")
    baseline = np.full(len(lons), -1)
    baseline[point_index] = router.cell_ids[cell_index]
    assert (ours >= 0).any() and (ours < 0).any()
    assert np.mean(ours == baseline) > 0.9999
    assert np.mean(ours[:2000] == in_db) > 0.999


def test_codes() -> None:
    assert cell_code("610151003003", 7) == "610151003003007"
    assert cell_code("101", 12345) == "101000000012345"
    cell = geo_grid_code(-73.97, 40.78, "1s")
    assert cell.code.startswith("2073") and cell.bounds[0] <= -73.97 <= cell.bounds[2]
    assert geo_grid_code(151.2, -33.9, "1d").code == "415133"
