"""The demo city: deterministic generation, integrity in PostGIS, atomic reloads, the COG scene."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from sqlalchemy import Engine, text

from layers.demo import names as nm
from layers.demo.generate import (
    READING_HOURS,
    READINGS_START,
    TABLE_ORDER,
    DemoCity,
    aqi_from_pm25,
    generate_city,
    profile_for,
)
from layers.demo.imagery import BANDS, SCENE_CRS, ndvi
from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from spatial.models import Base

DEMO_LAYERS = {
    # id: (department, visibility, kind)
    "admin_divisions": ("planning", "public", "vector"),
    "roads": ("planning", "public", "vector"),
    "buildings": ("planning", "public", "vector"),
    "addresses": ("planning", "public", "address"),
    "pois": ("planning", "public", "vector"),
    "emergency_facilities": ("emergency", "public", "vector"),
    "aq_stations": ("environment", "public", "vector"),
    "aq_readings": ("environment", "internal", "vector"),
    "city_components": ("urban", "department", "vector"),
    "demo_imagery": ("planning", "public", "imagery"),
}


@pytest.fixture(scope="module")
def small_city() -> DemoCity:
    """The small city, seed 42: the same one the session's demo database holds."""
    return generate_city("small", 42)


def scalar(engine: Engine, sql: str, **params: object) -> Any:
    """The first column of the first row of a query."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def rows(engine: Engine, sql: str, **params: object) -> list:
    """All rows of a query."""
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params))


# ------------------------------------------------------------------------- generation
def test_same_seed_gives_byte_identical_frames(small_city: DemoCity) -> None:
    again = generate_city("small", 42)
    for name in [table for _, table in TABLE_ORDER] + ["land_cover"]:
        first, second = getattr(small_city, name), getattr(again, name)
        pd.testing.assert_frame_equal(
            first.drop(columns="geometry"), second.drop(columns="geometry")
        )
        wkb_first = shapely.to_wkb(first.geometry.to_numpy())
        wkb_second = shapely.to_wkb(second.geometry.to_numpy())
        assert (wkb_first == wkb_second).all(), name


def test_another_seed_gives_another_city(small_city: DemoCity) -> None:
    other = generate_city("small", 43)
    assert len(other.building) != len(small_city.building) or not np.array_equal(
        shapely.to_wkb(other.building.geometry.to_numpy()[:100]),
        shapely.to_wkb(small_city.building.geometry.to_numpy()[:100]),
    )
    assert set(other.road["name_zh"]) != set(small_city.road["name_zh"])


def test_frames_carry_exactly_the_model_columns(small_city: DemoCity) -> None:
    for (schema, table), frame in small_city.tables().items():
        model = Base.metadata.tables[f"{schema}.{table}"]
        expected = {column.name for column in model.columns} - {"id"}
        have = (set(frame.columns) - {"geometry"} | {"geom"}) - {"id"}
        assert have == expected, table
        assert frame.crs.to_epsg() == 4326


def test_small_city_has_the_expected_size(small_city: DemoCity) -> None:
    counts = small_city.counts()
    assert 20_000 <= counts["basemap.building"] <= 40_000
    assert 8_000 <= counts["basemap.address"] <= 15_500
    assert 300 <= counts["thematic.city_component"] <= 450
    minx, miny, maxx, maxy = small_city.admin_division.to_crs(SCENE_CRS).total_bounds
    assert 9_000 < maxx - minx < 13_000 and 9_000 < maxy - miny < 13_000


def test_unknown_size_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown demo size"):
        profile_for("huge")


def test_aqi_follows_hj633_breakpoints() -> None:
    pm25 = np.array([0.0, 10.0, 35.0, 35.1, 75.0, 80.0, 115.0, 150.0, 250.0, 500.0, 900.0])
    assert aqi_from_pm25(pm25).tolist() == [0, 15, 50, 51, 100, 107, 150, 200, 300, 500, 500]


def test_name_helpers() -> None:
    assert nm.pinyin_join("xi", "an") == "Xi'an"
    assert nm.pinyin_join("huai", "ya") == "Huaiya"
    assert [nm.chinese_numeral(n) for n in (1, 10, 11, 20, 35)] == [
        "一",
        "十",
        "十一",
        "二十",
        "三十五",
    ]
    assert nm.road_name(nm.Name("兴福", "Xingfu"), "road", "east") == nm.Name(
        "兴福东路", "Xingfu East Road"
    )
    assert nm.lane_name(nm.Name("兴福", "Xingfu"), 3) == nm.Name("兴福三巷", "Xingfu 3rd Lane")
    stems = nm.composed_stems()
    assert (
        len({stem.zh for stem in stems}) == len(stems)
        and not {s.zh for s in stems} & nm.RESERVED_STEMS
    )


# ----------------------------------------------------------------- the demo in PostGIS
def test_division_codes_and_hierarchy(demo_engine: Engine) -> None:
    divisions = rows(
        demo_engine, "SELECT code, level, parent_code, name_zh, name_en FROM basemap.admin_division"
    )
    by_code = {d.code: d for d in divisions}
    digits = {"district": 6, "street": 9, "community": 12}
    parent_level = {"street": "district", "community": "street"}
    for d in divisions:
        assert re.fullmatch(rf"\d{{{digits[d.level]}}}", d.code)
        if d.level == "district":
            assert d.parent_code is None and 610150 <= int(d.code) <= 610199
            assert d.name_zh.endswith("区") and d.name_en.endswith(" District")
        else:
            parent = by_code[d.parent_code]
            assert parent.level == parent_level[d.level] and d.code.startswith(parent.code)
            assert int(d.code[len(parent.code) :]) >= 1
    suffix = {"street": ("街道", " Subdistrict"), "community": ("社区", " Community")}
    for d in divisions:
        if d.level in suffix:
            assert d.name_zh.endswith(suffix[d.level][0]) and d.name_en.endswith(suffix[d.level][1])
    children = pd.Series([d.parent_code for d in divisions if d.parent_code]).value_counts()
    districts = [d.code for d in divisions if d.level == "district"]
    streets = [d.code for d in divisions if d.level == "street"]
    assert len(districts) == 4
    assert all(3 <= children[code] <= 4 for code in districts)
    assert all(3 <= children[code] <= 5 for code in streets)


def test_populations_add_up(demo_engine: Engine) -> None:
    mismatches = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.admin_division p JOIN (SELECT parent_code, sum(population) AS total "
        "FROM basemap.admin_division GROUP BY parent_code) c ON c.parent_code = p.code "
        "WHERE c.total <> p.population",
    )
    assert mismatches == 0
    assert scalar(demo_engine, "SELECT min(population) FROM basemap.admin_division") > 0


def test_children_tile_their_parent(demo_engine: Engine) -> None:
    gaps = rows(
        demo_engine,
        "SELECT p.code, ST_Area(ST_SymDifference(p.geom, c.geom)::geography) AS gap "
        "FROM basemap.admin_division p JOIN (SELECT parent_code, ST_Union(geom) AS geom "
        "FROM basemap.admin_division GROUP BY parent_code) c ON c.parent_code = p.code",
    )
    assert len(gaps) > 0 and max(g.gap for g in gaps) < 1.0  # m²
    overlap = scalar(
        demo_engine,
        "SELECT coalesce(sum(ST_Area(ST_Intersection(a.geom, b.geom)::geography)), 0) "
        "FROM basemap.admin_division a JOIN basemap.admin_division b ON a.level = b.level "
        "AND a.code < b.code AND ST_Intersects(a.geom, b.geom)",
    )
    assert overlap < 1.0
    assert (
        scalar(
            demo_engine, "SELECT count(*) FROM basemap.admin_division WHERE NOT ST_IsValid(geom)"
        )
        == 0
    )


def test_addresses_lie_in_their_community(demo_engine: Engine) -> None:
    outside = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.address a LEFT JOIN basemap.admin_division c "
        "ON c.code = a.community_code AND c.level = 'community' "
        "WHERE c.code IS NULL OR NOT ST_Within(a.geom, c.geom) "
        "OR a.street_code <> c.parent_code OR a.district_code <> left(a.community_code, 6)",
    )
    assert outside == 0


def test_buildings_inside_the_city_and_clear_of_roads(demo_engine: Engine) -> None:
    outside = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.building b LEFT JOIN basemap.admin_division c "
        "ON c.code = b.community_code WHERE c.code IS NULL OR NOT ST_Within(b.geom, c.geom)",
    )
    assert outside == 0
    on_roads = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.building b JOIN basemap.road r ON ST_Intersects(b.geom, r.geom)",
    )
    assert on_roads == 0
    uses = {r.use for r in rows(demo_engine, "SELECT DISTINCT use FROM basemap.building")}
    assert uses == {"residential", "commercial", "public", "industrial"}
    bad = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.building WHERE floors < 1 OR height_m < 2.5 * floors "
        "OR NOT ST_IsValid(geom) OR ST_NPoints(geom) <> 5",
    )
    assert bad == 0


def test_every_building_links_to_a_door_plate_in_its_community(demo_engine: Engine) -> None:
    broken = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.building b LEFT JOIN basemap.address a ON a.id = b.address_id "
        "WHERE a.id IS NULL OR a.community_code <> b.community_code",
    )
    assert broken == 0


def test_chinese_and_english_address_forms(demo_engine: Engine) -> None:
    addresses = pd.DataFrame(
        rows(
            demo_engine,
            "SELECT full_zh, full_en, province, city, road_zh, road_en, house_number, "
            "building, unit, postcode, source FROM basemap.address",
        )
    )
    zh = re.compile(r"^陕西省西安市.+区.+(路|街|巷|大道)\d+号(\d+栋(\d+单元)?)?$")
    en = re.compile(
        r"^(Unit \d+, )?(Building \d+, )?\d+ .+ (Road|Street|Lane|Avenue), .+ District, Xi'an, Shaanxi$"
    )
    assert addresses["full_zh"].map(lambda s: bool(zh.match(s))).all()
    assert addresses["full_en"].map(lambda s: bool(en.match(s))).all()
    assert (addresses["province"] == "陕西省").all() and (addresses["city"] == "西安市").all()
    assert (addresses["source"] == "demo").all()
    assert addresses["postcode"].str.fullmatch(r"7100\d\d").all()
    assert addresses["unit"].notna().any() and addresses["building"].notna().any()
    for row in addresses.sample(200, random_state=0).itertuples():
        assert f"{row.road_zh}{row.house_number}号" in row.full_zh
        assert f"{row.house_number} {row.road_en}," in row.full_en
    key = ["road_zh", "house_number", "building", "unit"]
    assert not addresses.fillna({"building": "", "unit": ""}).duplicated(key).any()


def test_house_numbers_odd_left_even_right_rising_along_the_road(demo_engine: Engine) -> None:
    busiest = rows(
        demo_engine,
        "SELECT road_zh FROM basemap.address WHERE building IS NULL GROUP BY road_zh "
        "ORDER BY count(*) DESC, road_zh LIMIT 12",
    )
    checked = 0
    for (road,) in busiest:
        line_wkb = scalar(
            demo_engine,
            "SELECT ST_AsBinary(ST_LineMerge(ST_Union(geom))) FROM basemap.road WHERE name_zh = :r",
            r=road,
        )
        line = shapely.from_wkb(bytes(line_wkb))
        if line.geom_type != "LineString":
            continue  # the road leaves and re-enters the city
        plates = rows(
            demo_engine,
            "SELECT house_number::int AS n, ST_AsBinary(geom) AS g FROM basemap.address "
            "WHERE road_zh = :r AND building IS NULL",
            r=road,
        )
        number = np.array([p.n for p in plates])
        points = shapely.from_wkb([bytes(p.g) for p in plates])
        along = shapely.line_locate_point(line, points)
        foot = shapely.line_interpolate_point(line, along)
        ahead = shapely.line_interpolate_point(line, along + 1e-5)
        d = shapely.get_coordinates(ahead) - shapely.get_coordinates(foot)
        o = shapely.get_coordinates(points) - shapely.get_coordinates(foot)
        left = d[:, 0] * o[:, 1] - d[:, 1] * o[:, 0] > 0
        odd = number % 2 == 1
        assert (left == odd).all() or (left == ~odd).all(), road  # one side odd, the other even
        directions = set()
        for side in (odd, ~odd):
            steps = np.diff(number[side][np.argsort(along[side])])
            assert (steps > 0).all() or (steps < 0).all(), road
            directions.add(bool(steps[0] > 0))
        assert len(directions) == 1, road  # both sides count up the same way
        checked += 1
    assert checked >= 5


def test_roads_are_noded_and_classed(demo_engine: Engine) -> None:
    exact, snapped = rows(
        demo_engine,
        "WITH e AS (SELECT ST_StartPoint(geom) AS p FROM basemap.road "
        "UNION ALL SELECT ST_EndPoint(geom) FROM basemap.road) "
        "SELECT count(DISTINCT ST_AsBinary(p)), count(DISTINCT ST_AsBinary(ST_SnapToGrid(p, 1e-7))) FROM e",
    )[0]
    assert exact == snapped  # junctions coincide exactly: no near-miss nodes
    crossings = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.road a JOIN basemap.road b ON a.id < b.id AND ST_Crosses(a.geom, b.geom)",
    )
    assert crossings == 0  # segments meet only at their ends
    classes = rows(
        demo_engine,
        "SELECT road_class, min(lanes), max(lanes), min(speed_kmh), max(speed_kmh), "
        "count(DISTINCT name_zh) FROM basemap.road GROUP BY road_class ORDER BY max(speed_kmh) DESC",
    )
    assert [c[0] for c in classes] == ["arterial", "secondary", "branch", "lane"]
    assert classes[0][1] >= 6 and classes[-1][2] <= 2 and classes[-1][3] <= 20
    misplaced = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.road r LEFT JOIN basemap.admin_division d ON d.code = r.district_code "
        "WHERE d.code IS NULL OR NOT ST_DWithin(ST_LineInterpolatePoint(r.geom, 0.5), d.geom, 1e-7)",
    )
    assert misplaced == 0
    suffixes = rows(demo_engine, "SELECT DISTINCT name_zh FROM basemap.road")
    assert all(re.search(r"(路|街|巷|大道)$", s.name_zh) for s in suffixes)


def test_pois_have_names_history_and_addresses(demo_engine: Engine) -> None:
    categories = {
        r.category for r in rows(demo_engine, "SELECT DISTINCT category FROM basemap.poi")
    }
    assert {
        "government",
        "street_office",
        "community_committee",
        "primary_school",
        "park",
        "bus_stop",
        "hospital",
        "market",
    } <= categories
    assert (
        scalar(demo_engine, "SELECT count(*) FROM basemap.poi WHERE cardinality(aliases) > 0") > 50
    )
    assert (
        scalar(demo_engine, "SELECT count(*) FROM basemap.poi WHERE cardinality(former_names) > 0")
        > 10
    )
    dangling = scalar(
        demo_engine,
        "SELECT count(*) FROM basemap.poi p LEFT JOIN basemap.address a ON a.id = p.address_id "
        "WHERE p.address_id IS NOT NULL AND a.id IS NULL",
    )
    assert dangling == 0
    government = scalar(
        demo_engine, "SELECT count(*) FROM basemap.poi WHERE category = 'government'"
    )
    assert government == 4


def test_emergency_facilities(demo_engine: Engine) -> None:
    kinds = dict(
        rows(demo_engine, "SELECT kind, count(*) FROM thematic.emergency_facility GROUP BY kind")
    )
    assert kinds.keys() == {"hospital", "fire_station", "shelter"} and kinds["hospital"] >= 6
    incomplete = scalar(
        demo_engine,
        "SELECT count(*) FROM thematic.emergency_facility WHERE (kind = 'hospital' AND (beds IS NULL OR "
        "address_zh IS NULL)) OR (kind = 'shelter' AND capacity IS NULL) OR name_en = ''",
    )
    assert incomplete == 0


def test_air_quality_week(demo_engine: Engine) -> None:
    stations = scalar(demo_engine, "SELECT count(*) FROM thematic.aq_station")
    assert 8 <= stations <= 12
    readings = pd.DataFrame(
        rows(
            demo_engine,
            "SELECT station_code, observed_at, aqi, pm2_5, pm10, no2, o3 FROM thematic.aq_reading",
        )
    )
    assert len(readings) == stations * READING_HOURS
    observed = pd.DatetimeIndex(readings["observed_at"])
    assert observed.min() == READINGS_START
    assert observed.max() == READINGS_START + pd.Timedelta(hours=READING_HOURS - 1)
    assert (readings["aqi"].to_numpy() == aqi_from_pm25(readings["pm2_5"].to_numpy())).all()
    assert (readings["pm10"] > readings["pm2_5"]).all()
    local_hour = observed.tz_convert("Asia/Shanghai").hour
    by_hour = readings.groupby(local_hour)["pm2_5"].mean()
    assert by_hour.loc[[8, 9, 21, 22, 23]].mean() > 1.15 * by_hour.loc[[13, 14, 15, 16]].mean()
    o3_by_hour = readings.groupby(local_hour)["o3"].mean()
    assert o3_by_hour.loc[[14, 15]].mean() > 2 * o3_by_hour.loc[[2, 3]].mean()


def test_city_components(demo_engine: Engine) -> None:
    components = pd.DataFrame(
        rows(
            demo_engine, "SELECT category_code, status, community_code FROM thematic.city_component"
        )
    )
    assert 300 <= len(components) <= 450
    codes = {code for code, _, _ in nm.CITY_COMPONENT_CATEGORIES}
    assert set(components["category_code"]) <= codes and {"0101", "0107", "0110"} <= codes
    assert set(components["status"]) <= {"ok", "damaged", "missing"}
    outside = scalar(
        demo_engine,
        "SELECT count(*) FROM thematic.city_component p LEFT JOIN basemap.admin_division c "
        "ON c.code = p.community_code WHERE c.code IS NULL OR NOT ST_Within(p.geom, c.geom)",
    )
    assert outside == 0


def test_catalog_layers_and_departments(demo_engine: Engine) -> None:
    departments = dict(rows(demo_engine, "SELECT code, name_zh FROM catalog.department"))
    assert (
        departments["planning"] == "自然资源和规划局" and departments["emergency"] == "应急管理局"
    )
    assert departments["environment"] == "生态环境局" and departments["urban"] == "城市管理局"
    layers = {
        r.id: r
        for r in rows(
            demo_engine,
            "SELECT id, department_code, visibility, kind, time_field, storage_schema, storage_table, "
            "storage_path, feature_count, extent IS NOT NULL AS has_extent, title_zh, title_en, style "
            "FROM catalog.layer",
        )
    }
    for layer_id, (department, visibility, kind) in DEMO_LAYERS.items():
        layer = layers[layer_id]
        assert (layer.department_code, layer.visibility, layer.kind) == (
            department,
            visibility,
            kind,
        )
        assert layer.title_zh and layer.title_en and layer.style and layer.has_extent
        if layer.storage_table:
            count = scalar(
                demo_engine, f"SELECT count(*) FROM {layer.storage_schema}.{layer.storage_table}"
            )
            assert layer.feature_count == count
    assert layers["aq_readings"].time_field == "observed_at"
    assert Path(layers["demo_imagery"].storage_path).name == "demo_scene.tif"


def test_scene_is_a_cloud_optimized_geotiff_over_the_city(
    demo_engine: Engine, small_city: DemoCity
) -> None:
    path = Path(
        scalar(demo_engine, "SELECT storage_path FROM catalog.layer WHERE id = 'demo_imagery'")
    )
    assert path.exists() and not list(path.parent.glob(".demo_scene-*"))
    with rasterio.open(path) as scene:
        assert scene.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert scene.profile["tiled"] and scene.block_shapes == [(512, 512)] * 4
        assert scene.overviews(1) and scene.compression.name.lower() == "deflate"
        assert scene.count == 4 and scene.descriptions == BANDS and scene.dtypes[0] == "uint16"
        assert scene.crs.to_epsg() == 32649 and scene.res == (10.0, 10.0)
        west, south, east, north = small_city.admin_division.to_crs(SCENE_CRS).total_bounds
        assert scene.bounds.left <= west and scene.bounds.bottom <= south
        assert scene.bounds.right >= east and scene.bounds.top >= north
        red, nir = scene.read(3), scene.read(4)
        transform, shape = scene.transform, scene.shape
    index = ndvi(red, nir)
    cover = small_city.land_cover.to_crs(SCENE_CRS)

    def mean_ndvi(geometries: np.ndarray) -> float:
        """Mean NDVI of the pixels whose centres fall in the geometries."""
        mask = rasterize(((g, 1) for g in geometries), out_shape=shape, transform=transform)
        return float(index[mask.astype(bool)].mean())

    park = cover.geometry[cover["cover"] == "park"].buffer(-25).to_numpy()
    water = cover.geometry[cover["cover"] == "water"].buffer(-10).to_numpy()
    big = small_city.building.to_crs(SCENE_CRS)
    roofs = big.geometry[big.area > 1500].buffer(-8).to_numpy()
    assert mean_ndvi(park) > 0.45 > 0.2 > mean_ndvi(roofs) > mean_ndvi(water)


# ------------------------------------------------------------------ reloads, atomically
TABLE_KEYS = {"admin_division": "code"}


def table_checksums(engine: Engine) -> dict[str, str]:
    """md5 over every demo table's ordered rows: the other columns as a row, then ST_AsBinary(geom)."""
    sums = {}
    for schema, table in TABLE_ORDER:
        columns = Base.metadata.tables[f"{schema}.{table}"].columns
        fields = ", ".join(f"t.{c.name}" for c in columns if c.name != "geom")
        key = TABLE_KEYS.get(table, "id")
        sums[table] = str(
            scalar(
                engine,
                f"SELECT md5(coalesce(string_agg(ROW({fields})::text || encode(ST_AsBinary(t.geom), 'hex'), "
                f"E'\\n' ORDER BY t.{key}), '')) FROM {schema}.{table} t",
            )
        )
    return sums


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fresh_demo(
    make_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Settings]]:
    """A database of its own with the small demo loaded once, for tests that load again."""
    from layers.demo.load import load_demo
    from spatial import migrate

    url = make_database("onemap_demo_reload")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("reload-var"))
    summary = load_demo(engine, settings, size="small", seed=42, imagery=True, console=None, principal=local_operator())
    assert summary.counts["basemap.building"] > 0 and summary.scene is not None
    yield engine, settings
    engine.dispose()


@pytest.mark.slow
def test_reload_with_same_seed_gives_identical_tables(
    fresh_demo: tuple[Engine, Settings], small_city: DemoCity
) -> None:
    from layers.demo.load import load_demo

    engine, settings = fresh_demo
    before = table_checksums(engine)
    summary = load_demo(engine, settings, size="small", seed=42, imagery=False, console=None, principal=local_operator())
    assert table_checksums(engine) == before
    assert summary.counts == small_city.counts()
    text_summary = summary.describe()
    assert "seed 42" in text_summary and "basemap.building" in text_summary
    next_id = scalar(engine, "SELECT nextval(pg_get_serial_sequence('basemap.address', 'id'))")
    assert next_id == summary.counts["basemap.address"] + 1


@pytest.mark.slow
def test_failed_load_keeps_previous_data_and_scene(
    fresh_demo: tuple[Engine, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    from layers.demo import load as demo_load

    engine, settings = fresh_demo
    scene = settings.imagery_dir / demo_load.SCENE_NAME
    before, scene_before = table_checksums(engine), file_digest(scene)
    versions_before = rows(engine, "SELECT id, version FROM catalog.layer ORDER BY id")
    from layers.city import load as city_load

    real_copy = city_load.copy_frame  # the base map is written by the city loader

    def failing_copy(conn, schema, table, frame, columns, **kwargs):  # type: ignore[no-untyped-def]
        """copy_frame, except that buildings fail."""
        if table == "building":
            raise RuntimeError("injected failure while copying buildings")
        return real_copy(conn, schema, table, frame, columns, **kwargs)

    monkeypatch.setattr(city_load, "copy_frame", failing_copy)
    with pytest.raises(RuntimeError, match="injected failure"):
        demo_load.load_demo(engine, settings, size="small", seed=7, imagery=True, console=None, principal=local_operator())
    assert table_checksums(engine) == before
    assert file_digest(scene) == scene_before
    assert sorted(p.name for p in settings.imagery_dir.iterdir()) == [demo_load.SCENE_NAME]
    assert rows(engine, "SELECT id, version FROM catalog.layer ORDER BY id") == versions_before
