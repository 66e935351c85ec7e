"""The notebooks' client: the OGC API door and the database door give the same rows, types and errors."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from pyproj import Geod

from layers.client import Onemap
from layers.client.local import LocalBackend
from layers.client.remote import RemoteBackend
from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from spatial.errors import InvalidInput, NotFound


@dataclass
class ClientCity:
    url: str
    base: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientCity]:
    """The small demo city with imagery, categories and a grid, served; tokens per role."""
    from layers.demo.grid_management import prepare_grid_management
    from layers.demo.load import load_demo
    from spatial import migrate
    from spatial.access.tokens import create_token
    from tests.live import live_server

    url = make_database("onemap_client")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("client-var"), port=0)
    load_demo(engine, settings, size="small", seed=42, imagery=True, console=None, principal=local_operator())
    prepare_grid_management(engine, operator=local_operator())
    roles = {"admin": ("planning", "admin"), "viewer": ("environment", "viewer"),
             "supervisor": ("supervision", "editor")}  # fmt: skip
    tokens = {name: create_token(engine, department_code=d, role=r, name=name, actor=local_operator()).secret for name, (d, r) in roles.items()}
    engine.dispose()
    with live_server(settings) as base:
        yield ClientCity(url, base, tokens)


@pytest.fixture(scope="module")
def web(city: ClientCity) -> Iterator[Onemap]:
    with Onemap.from_url(city.base, token=city.tokens["admin"]) as client:
        yield client


@pytest.fixture(scope="module")
def db(city: ClientCity) -> Iterator[Onemap]:
    with Onemap.from_database(city.url, principal=local_operator()) as client:
        yield client


def test_doors(web: Onemap, db: Onemap) -> None:
    assert web.door == "http" and isinstance(web.backend, RemoteBackend)
    assert db.door == "database" and isinstance(db.backend, LocalBackend)
    assert "***" in repr(db) and "password" not in repr(db)


def test_catalog_same_both_ways(web: Onemap, db: Onemap) -> None:
    over_http, direct = web.layers(), db.layers()
    assert list(over_http["id"]) == list(direct["id"])
    assert {"buildings", "unit_grid", "demo_imagery", "aq_readings", "incidents_internal"} <= set(direct["id"])
    columns = ["id", "department_code", "kind", "visibility", "geometry_type", "feature_count"]
    assert over_http[columns].equals(direct[columns])


def test_catalog_over_http_is_what_the_token_may_see(city: ClientCity, db: Onemap) -> None:
    anonymous = Onemap.from_url(city.base).layers()
    assert "aq_readings" not in set(anonymous["id"])  # internal
    assert set(anonymous["id"]) < set(db.layers()["id"])


READS = {
    "whole layer": ("buildings", {}),
    "bbox + CQL2 + Web Mercator": ("buildings", {"bbox": (108.93, 34.25, 108.95, 34.27), "filter": "floors > 20",
                                                "crs": "EPSG:3857"}),
    "CGCS2000, lat/lon on the wire": ("admin_divisions", {"crs": "EPSG:4490", "filter": "level = 'community'"}),
    "EPSG:4326, lat/lon on the wire": ("emergency_facilities", {"crs": 4326}),
    "spatial filter": ("pois", {"filter": "S_INTERSECTS(geometry, POLYGON((108.90 34.22, 108.96 34.22, "
                                          "108.96 34.28, 108.90 34.28, 108.90 34.22)))"}),
    "properties and limit": ("roads", {"properties": ["road_class", "speed_kmh"], "limit": 1234}),
    "internal layer": ("aq_readings", {}),
}  # fmt: skip


@pytest.mark.parametrize("layer, options", list(READS.values()), ids=list(READS))
def test_read_returns_the_same_rows_both_ways(web: Onemap, db: Onemap, layer: str, options: dict) -> None:
    over_http, direct = web.read(layer, **options), db.read(layer, **options)
    assert len(direct) > 0
    assert over_http.equals(direct)
    assert list(over_http.dtypes) == list(direct.dtypes)
    assert over_http.crs == direct.crs


def test_paging_follows_next_links(city: ClientCity, db: Onemap) -> None:
    small_pages = Onemap(RemoteBackend(city.base, city.tokens["admin"]), page_size=500)
    direct_small = Onemap(db.backend, page_size=700)
    over_http = small_pages.read("aq_readings")
    assert len(over_http) == 1344
    assert over_http.index.is_unique
    assert over_http.equals(direct_small.read("aq_readings"))
    assert len(small_pages.read("aq_readings", limit=1100)) == 1100


def test_types_and_axis_order(db: Onemap) -> None:
    readings = db.read("aq_readings", limit=50)
    assert str(readings["observed_at"].dtype).startswith("datetime64") and str(readings["observed_at"].dt.tz) == "UTC"
    assert readings["aqi"].dtype == np.int64 and readings["pm2_5"].dtype == np.float64
    lonlat = db.read("emergency_facilities")
    for crs in ("EPSG:4326", "EPSG:4490"):
        other = db.read("emergency_facilities", crs=crs)
        assert other.crs.to_epsg() == int(crs.split(":")[1])
        assert np.allclose(other.geometry.x, lonlat.geometry.x, atol=1e-5)  # x stays longitude
    metres = db.read("emergency_facilities", crs="EPSG:3857").to_crs(4326)
    assert np.allclose(metres.geometry.x, lonlat.geometry.x, atol=1e-6)


def test_time_slice(web: Onemap, db: Onemap) -> None:
    start = db.layers().set_index("id").loc["aq_readings", "time_start"]
    window = f"{start.isoformat()}/{(start + np.timedelta64(5, 'h')).isoformat()}"
    over_http, direct = web.read("aq_readings", datetime=window), db.read("aq_readings", datetime=window)
    assert len(direct) == 6 * 8 and over_http.equals(direct)
    for client in (web, db):  # outside the layer's time: nothing, as at the OGC API (issue 15)
        assert len(client.read("aq_readings", datetime="1999-01-01T00:00:00Z/1999-01-02T00:00:00Z")) == 0
        with pytest.raises(InvalidInput, match="RFC 3339"):
            client.read("aq_readings", datetime="1999-13-01")
    day = str(start.date())  # a bare date: that whole UTC day, at both doors
    assert len(web.read("aq_readings", datetime=day)) == len(db.read("aq_readings", datetime=day)) > 6 * 8


@pytest.mark.parametrize("door", ["web", "db"])
def test_errors_are_the_same_exceptions(request: pytest.FixtureRequest, door: str) -> None:
    client: Onemap = request.getfixturevalue(door)
    with pytest.raises(NotFound):
        client.read("no_such_layer")
    with pytest.raises(InvalidInput):
        client.read("buildings", filter="floors >>> 3")
    with pytest.raises(InvalidInput):
        client.read("buildings", bbox=(1, 2, 3))


def test_hidden_layer_is_not_found_over_http(city: ClientCity) -> None:
    with pytest.raises(NotFound):
        Onemap.from_url(city.base).read("aq_readings")


def test_imagery_statistics_both_ways(web: Onemap, db: Onemap) -> None:
    options = {"expression": "(b4-b3)/(b4+b3)", "percentiles": [50], "properties": ["level"]}
    over_http = web.imagery_statistics("demo_imagery", "admin_divisions", **options)
    direct = db.imagery_statistics("demo_imagery", "admin_divisions", **options)
    assert len(direct) == 76 and over_http.equals(direct)
    assert {"count", "mean", "p50", "level"} <= set(direct.columns)
    assert direct["mean"].between(-1, 1).all()


def test_geocoding_both_ways(web: Onemap, db: Onemap) -> None:
    address = db.read("addresses", limit=1).iloc[0]["full_zh"]
    found = db.geocode(address)
    assert found.iloc[0]["label"] == address and found.iloc[0]["confidence"] >= 0.9
    assert web.geocode(address).equals(found)
    point = found.geometry.iloc[0]
    assert web.reverse(point.x, point.y).equals(db.reverse(point.x, point.y))


def test_incidents_filed_over_http_read_from_the_database(city: ClientCity, web: Onemap, db: Onemap) -> None:
    category = db.categories().iloc[0]["code"]
    centre = db.read("admin_divisions", filter="level = 'community'").iloc[0].geometry.representative_point()
    anonymous = Onemap.from_url(city.base)
    filed = anonymous.file_incident(category, lon=centre.x, lat=centre.y, description="client test")
    assert filed["state"] == "reported" and filed["cell_code"]
    record = db.incident(filed["id"])
    assert record["cell_code"] == filed["cell_code"] and record["description"] == "client test"
    supervisor = Onemap.from_url(city.base, token=city.tokens["supervisor"])
    moved = supervisor.transition(filed["id"], "register")
    assert moved["state"] == "registered"
    events = db.incident_events(filed["id"])
    assert list(events["action"]) == ["report", "register"]
    assert web.incident_events(filed["id"]).equals(events)
    staff = web.incidents(filter=f"id = {filed['id']}")
    assert staff.loc[filed["id"], "state"] == "registered"
    assert staff.equals(db.incidents(filter=f"id = {filed['id']}"))


def test_kpis_and_overdue_both_ways(web: Onemap, db: Onemap) -> None:
    db.simulate_incidents(12, seed=77, days=10)
    for by in ("department", "street"):
        assert web.kpis(by).equals(db.kpis(by))
    assert web.overdue().equals(db.overdue())


def test_synthetic_history_is_labelled_and_added_once(db: Onemap) -> None:
    first = db.simulate_incidents(10, seed=5, days=7)
    again = db.simulate_incidents(10, seed=5, days=7)
    assert first.equals(again) and first["incidents"].sum() == 10
    synthetic = db.incidents(filter="external_id LIKE 'synthetic-5-%'")
    assert len(synthetic) == 10
    assert synthetic["description"].str.startswith("[synthetic]").all()


def test_travel_minutes_need_the_database(web: Onemap) -> None:
    facilities = web.read("emergency_facilities", limit=2)
    with pytest.raises(InvalidInput, match="database door"):
        web.travel_minutes(facilities, facilities)


def test_travel_minutes_by_road(db: Onemap) -> None:
    hospitals = db.read("emergency_facilities", filter="kind = 'hospital'")
    buildings = db.read("buildings", limit=400)
    reach = db.travel_minutes(hospitals, buildings)
    assert reach.index.equals(buildings.index) and reach["minutes"].notna().all()
    assert set(reach["origin"]) <= set(hospitals.index)
    at_hospitals = db.travel_minutes(hospitals, hospitals)  # out to the road and back at 20 km/h
    assert (at_hospitals["origin"] == at_hospitals.index).mean() > 0.8
    assert (at_hospitals["minutes"] < 2).all()
    # no road is faster than the fastest speed limit: minutes >= crow-fly distance at that speed
    fastest_kmh = db.read("roads", properties=["speed_kmh"])["speed_kmh"].max()
    geod, targets = Geod(ellps="WGS84"), buildings.representative_point()
    sources = hospitals.loc[reach["origin"]].geometry
    _, _, metres = geod.inv(sources.x.to_numpy(), sources.y.to_numpy(), targets.x.to_numpy(), targets.y.to_numpy())
    assert (reach["minutes"].to_numpy() + 1e-6 >= metres / (fastest_kmh / 3.6) / 60).all()
    assert not math.isnan(reach["minutes"].max())
