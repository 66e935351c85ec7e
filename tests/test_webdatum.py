"""GCJ-02 and BD-09 ↔ WGS84: reference points, round trips, and Xi'an's GCJ-02 districts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pyproj import Geod

from spatial import crs
from spatial.webdatum import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    web_datum,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from tests.conftest import realdata_path

GEOD = Geod(ellps="WGS84")

# (wgs lon, wgs lat, gcj lon, gcj lat): values published with other implementations' tests
WGS_GCJ_REFERENCE = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
]


@pytest.mark.parametrize(("lon", "lat", "glon", "glat"), WGS_GCJ_REFERENCE)
def test_forward_gcj02_matches_reference_points(lon: float, lat: float, glon: float, glat: float) -> None:
    out_lon, out_lat = wgs84_to_gcj02(lon, lat)
    assert out_lon == pytest.approx(glon, abs=1e-9)
    assert out_lat == pytest.approx(glat, abs=1e-9)
    back = gcj02_to_wgs84(glon, glat)
    assert back == pytest.approx((lon, lat), abs=1e-8)


def test_bd09_matches_reference_point() -> None:
    assert gcj02_to_bd09(123.0, 45.0) == pytest.approx((123.00636499, 45.00636899), abs=1e-8)
    assert gcj02_to_wgs84(123.0, 45.0) == pytest.approx((122.99395597, 44.99804071), abs=1e-6)


def test_round_trips_are_exact_to_a_millionth_of_a_degree() -> None:
    rng = np.random.default_rng(3)
    lon = rng.uniform(74.0, 134.0, 5_000)
    lat = rng.uniform(18.0, 53.0, 5_000)
    for forward, inverse in ((wgs84_to_gcj02, gcj02_to_wgs84), (gcj02_to_bd09, bd09_to_gcj02),
                             (wgs84_to_bd09, bd09_to_wgs84)):
        back_lon, back_lat = inverse(*forward(lon, lat))
        assert np.max(np.abs(back_lon - lon)) < 1e-6
        assert np.max(np.abs(back_lat - lat)) < 1e-6


def test_offset_is_a_few_hundred_metres_in_china_and_zero_outside() -> None:
    glon, glat = wgs84_to_gcj02(108.94, 34.26)  # Xi'an
    _, _, metres = GEOD.inv(108.94, 34.26, glon, glat)
    assert 100 < metres < 1000
    assert wgs84_to_gcj02(-73.98, 40.75) == (-73.98, 40.75)  # New York: no offset
    assert gcj02_to_wgs84(-73.98, 40.75) == pytest.approx((-73.98, 40.75))


def test_names_and_the_crs_module() -> None:
    assert web_datum("GCJ-02") == web_datum("gcj02") == "gcj02"
    assert web_datum("Baidu") == "bd09"
    assert web_datum("EPSG:4326") is None
    lon, lat = crs.to_storage_lonlat(108.95, 34.27, "gcj02")
    assert (lon, lat) == pytest.approx(gcj02_to_wgs84(108.95, 34.27))
    lon, lat = crs.to_storage_lonlat(108.95, 34.27, "EPSG:4490")
    assert (lon, lat) == pytest.approx((108.95, 34.27), abs=1e-6)
    with pytest.raises(ValueError):
        crs.to_wgs84(1.0, 2.0, "utm")


@pytest.mark.realdata
def test_xian_districts_in_gcj02_convert_to_wgs84_sensibly() -> None:
    import shapely
    from shapely.geometry import shape

    collection = json.loads(realdata_path("xian", "610100_full.json").read_text(encoding="utf-8"))
    assert len(collection["features"]) == 13
    for feature in collection["features"]:
        geometry = shape(feature["geometry"])
        moved = shapely.transform(geometry, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))
        before, after = geometry.centroid, moved.centroid
        _, _, metres = GEOD.inv(before.x, before.y, after.x, after.y)
        assert 150 < metres < 800, feature["properties"]["name"]
        # converted WGS84 lies south-west of GCJ-02 around Xi'an, and still in Xi'an
        assert after.x < before.x
        assert 107.6 < after.x < 109.9 and 33.6 < after.y < 34.8
        assert moved.is_valid
        # the offset is not a translation: its sine terms stretch shapes a little (<1 % in area)
        assert abs(moved.area - geometry.area) / geometry.area < 1e-2
