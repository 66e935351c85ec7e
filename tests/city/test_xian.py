"""Real data: Xi'an's 13 districts (examples/cities/xian.yaml), a divisions-only city.

The districts come from a web-map export in GCJ-02 (../shared/realdata/xian/610100_full.json);
the load converts them to WGS84. Then what follows the city is checked on it: the stored
outlines against the raw file (direction and size of the shift, the forward formula giving the
file's vertices back), the page's city document, an incident filed in 雁塔区, a feature with
swapped axes refused by the write gate, and the district-level unit grid.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from api.app import create_app
from layers.catalog import LayerSpec
from layers.city.load import load_city
from layers.city.profile import read_profile
from layers.city.report import CityReport
from layers.vector import load_vector_file
from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from spatial.errors import InvalidInput
from spatial.webdatum import wgs84_to_gcj02
from tests.conftest import PROJECT_ROOT, realdata_path

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(600)]

PROFILE = PROJECT_ROOT / "examples" / "cities" / "xian.yaml"
DISTRICTS = {
    "610102": "新城区",
    "610103": "碑林区",
    "610104": "莲湖区",
    "610111": "灞桥区",
    "610112": "未央区",
    "610113": "雁塔区",
    "610114": "阎良区",
    "610115": "临潼区",
    "610116": "长安区",
    "610117": "高陵区",
    "610118": "鄠邑区",
    "610122": "蓝田县",
    "610124": "周至县",
}
XIAN_BOX = (107.4, 33.6, 109.9, 34.8)
"""Where Xi'an lies (lon/lat), with room around the districts' 107.66–109.82 E, 33.69–34.74 N."""
DAYANTA = (108.9594, 34.2196)
"""The Big Wild Goose Pagoda (大雁塔), WGS84: inside 雁塔区."""
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Xian:
    """The loaded city: its database, settings and the load's report."""

    engine: Engine
    settings: Settings
    report: CityReport


@pytest.fixture(scope="module")
def xian(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Xian]:
    """Xi'an loaded from its profile into a fresh database (in-process)."""
    from spatial import migrate

    realdata_path("xian", "610100_full.json")
    url = make_database("onemap_xian")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("xian-var"), port=0)
    report = load_city(engine, read_profile(PROFILE), principal=local_operator(), settings=settings)
    yield Xian(engine, settings, report)
    engine.dispose()


def raw_districts() -> gpd.GeoDataFrame:
    """The file as it is (GCJ-02 coordinates, labelled WGS84), by adcode."""
    raw = pyogrio.read_dataframe(realdata_path("xian", "610100_full.json"))
    return raw.assign(adcode=raw["adcode"].astype(str)).set_index("adcode")


def stored_districts(engine: Engine) -> gpd.GeoDataFrame:
    """The stored district level, by code."""
    with engine.connect() as conn:
        stored = gpd.read_postgis(
            text(
                "SELECT code, name_zh, name_en, parent_code, district_code, geom "
                "FROM basemap.admin_division WHERE level = 'district' ORDER BY code"
            ),
            conn,
            geom_col="geom",
        )
    return stored.set_index("code")


# ------------------------------------------------------------------------------- the load
def test_the_thirteen_districts_are_loaded_with_their_adcodes_and_chinese_names(xian: Xian) -> None:
    assert xian.report.ok and xian.report.version == 1, xian.report.lines()
    assert xian.report.counts["admin_division"] == 13
    stored = stored_districts(xian.engine)
    assert stored["name_zh"].to_dict() == DISTRICTS
    assert (stored.index == stored["district_code"]).all() and stored["parent_code"].isna().all()
    with xian.engine.connect() as conn:
        levels = conn.execute(text("SELECT DISTINCT level FROM basemap.admin_division")).scalars()
        assert list(levels) == ["district"]
        version = conn.execute(
            text("SELECT city_code, name_zh, name_en FROM basemap.version WHERE is_current")
        ).one()
    assert tuple(version) == ("xian", "西安市", "Xi'an")
    [note] = [f.message for f in xian.report.findings if "GCJ-02" in f.message]
    assert "converted from GCJ-02 to WGS84: median shift" in note


def test_each_district_moved_west_and_north_by_a_few_hundred_metres(xian: Xian) -> None:
    """GCJ-02 → WGS84 around Xi'an: about 0.0044–0.0053° west and 0.0011–0.0017° north
    (≈ 400–490 m west and 130–190 m north; 430–520 m in all), computed from the raw file's
    centroids with the forward formula; the stored centroids must show the same."""
    raw = raw_districts()
    stored = stored_districts(xian.engine)
    for code in DISTRICTS:
        before = raw.loc[code, "geometry"].centroid
        after = stored.loc[code, "geom"].centroid
        dlon, dlat = after.x - before.x, after.y - before.y
        west = -dlon * METRES_PER_DEGREE * np.cos(np.radians(before.y))
        north = dlat * METRES_PER_DEGREE
        assert -0.0060 < dlon < -0.0040, (code, dlon)
        assert 0.0010 < dlat < 0.0020, (code, dlat)
        assert 350 < west < 550 and 100 < north < 220, (code, west, north)
        assert 300 < np.hypot(west, north) < 800


def test_the_forward_formula_gives_the_files_vertices_back(xian: Xian) -> None:
    raw = raw_districts()
    stored = stored_districts(xian.engine)
    for code in DISTRICTS:
        kept = shapely.get_coordinates(stored.loc[code, "geom"])
        file_vertices = shapely.get_coordinates(raw.loc[code, "geometry"])
        lon, lat = wgs84_to_gcj02(kept[:, 0], kept[:, 1])
        back = shapely.points(lon, lat)
        nearest = shapely.STRtree(shapely.points(file_vertices)).query_nearest(
            back, return_distance=True
        )[1]
        assert len(kept) >= 0.99 * len(file_vertices), code  # repair added or dropped none
        assert nearest.max() < 1e-6, (code, nearest.max())
        assert not np.allclose(kept.mean(axis=0), file_vertices.mean(axis=0), atol=1e-3)


# ------------------------------------------------------------------------------- the page
def test_the_city_document_names_xian_and_frames_it(xian: Xian) -> None:
    with TestClient(create_app(xian.settings)) as client:
        response = client.get("/api/v1/city")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name_zh"], body["name_en"], body["code"]) == ("西安市", "Xi'an", "xian")
    assert body["version"]["id"] == 1
    west, south, east, north = body["extent"]
    assert XIAN_BOX[0] < west < east < XIAN_BOX[2] and XIAN_BOX[1] < south < north < XIAN_BOX[3]
    assert body["levels"]["district"] == {"zh": "区县", "en": "District"}
    assert body["default_base_layer"] is None  # divisions only: no imagery


# ------------------------------------------------------------------------------- incidents
def test_an_incident_at_the_big_wild_goose_pagoda_is_routed_to_yanta(xian: Xian) -> None:
    from spatial.incidents.filing import IncidentReport, file_incident

    with xian.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incidents.category")).scalar_one() > 0
    report = IncidentReport(
        category_code="1104", description="井盖缺失", lon=DAYANTA[0], lat=DAYANTA[1]
    )
    filed = file_incident(xian.engine, report, principal=local_operator())
    assert filed.routing.district_code == "610113"
    assert filed.routing.cell_code  # the district-level grid holds the point


# ------------------------------------------------------------------------------- write gate
def points_file(folder: Path, name: str, *, swapped: bool) -> Path:
    """Three points around 钟楼 as GeoJSON, lon/lat or (swapped) lat/lon."""
    coordinates = [(108.9425, 34.2597), (108.9640, 34.2190), (108.9000, 34.2300)]
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"点{i}"},
            "geometry": {"type": "Point", "coordinates": [lat, lon] if swapped else [lon, lat]},
        }
        for i, (lon, lat) in enumerate(coordinates, start=1)
    ]
    path = folder / name
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8"
    )
    return path


def test_a_file_with_swapped_axes_is_refused_by_the_write_gate(xian: Xian, tmp_path: Path) -> None:
    spec = LayerSpec(
        id="xian_points", title_zh="测试点", title_en="Test points", department_code="planning"
    )
    with pytest.raises(InvalidInput) as refused:
        load_vector_file(
            xian.engine,
            points_file(tmp_path, "swapped.geojson", swapped=True),
            spec,
            principal=local_operator(),
        )
    assert "swapped" in str(refused.value), refused.value
    assert "1, 2, 3" in str(refused.value)
    with xian.engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('thematic.xian_points')")).scalar() is None
    right = load_vector_file(
        xian.engine,
        points_file(tmp_path, "right.geojson", swapped=False),
        spec,
        principal=local_operator(),
    )
    assert right.features_loaded == 3


# ------------------------------------------------------------------------------- the grid
def test_the_unit_grid_is_built_on_the_districts_in_one_kilometre_cells(xian: Xian) -> None:
    with xian.engine.connect() as conn:
        grid = conn.execute(
            text(
                "SELECT cell_size_m, code_field, cell_count FROM grid.grid_version WHERE is_current"
            )
        ).one()
        cells: dict[str, float] = dict(
            conn.execute(
                text(
                    "SELECT district_code, sum(area_m2) FROM grid.current_cell GROUP BY district_code"
                )
            ).all()
        )
        areas: dict[str, float] = dict(
            conn.execute(
                text(
                    "SELECT code, ST_Area(geom::geography) FROM basemap.admin_division "
                    "WHERE level = 'district'"
                )
            ).all()
        )
    assert grid.cell_size_m == 1000 and grid.code_field == "district"
    assert grid.cell_count == xian.report.counts["grid cells"]
    # Xi'an covers about 10,100 km²: at least that many cells of at most 1 km² each
    assert 10_000 < grid.cell_count < 12_000
    assert set(cells) == set(DISTRICTS)
    for code, area in areas.items():
        assert cells[code] == pytest.approx(area, rel=0.01), code
