"""OGC API at /ogc over real HTTP: Features Part 1/2/3, Tiles, OpenAPI, and bad input → 4xx."""

from __future__ import annotations

import math

import httpx
import mapbox_vector_tile
import pytest
from pyproj import Transformer

from tests.live import get_json

EPSG = "http://www.opengis.net/def/crs/EPSG/0/{}"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def items(base: str, collection: str, headers: dict | None = None, **params: object) -> httpx.Response:
    return httpx.get(
        f"{base}/ogc/collections/{collection}/items", params={"f": "json", **params}, headers=headers,
        timeout=60,
    )


def centre_bbox(base: str, half: float = 0.005) -> list[float]:
    layers = get_json(f"{base}/api/v1/layers")["layers"]
    xmin, ymin, xmax, ymax = next(layer["bbox"] for layer in layers if layer["id"] == "admin_divisions")
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    return [cx - half, cy - half, cx + half, cy + half]


def _bbox_param(bbox: list[float]) -> str:
    return ",".join(f"{v:.6f}" for v in bbox)


# ----------------------------------------------------------------------------- Part 1: core
def test_landing_conformance_and_collection(demo_server: str) -> None:
    landing = get_json(f"{demo_server}/ogc", f="json")
    assert any(link["rel"] == "conformance" for link in landing["links"])
    conformance = get_json(f"{demo_server}/ogc/conformance", f="json")["conformsTo"]
    assert any("ogcapi-features-1/1.0/conf/core" in c for c in conformance)
    collection = get_json(f"{demo_server}/ogc/collections/buildings", f="json")
    assert collection["id"] == "buildings"
    assert len(collection["extent"]["spatial"]["bbox"][0]) == 4


def test_limit_and_offset_page_through_without_overlap(demo_server: str) -> None:
    first = items(demo_server, "buildings", limit=50).json()
    second = items(demo_server, "buildings", limit=50, offset=50).json()
    ids_first = [f["id"] for f in first["features"]]
    ids_second = [f["id"] for f in second["features"]]
    assert len(ids_first) == len(ids_second) == 50
    assert not set(ids_first) & set(ids_second)
    assert any(link["rel"] == "next" for link in first["links"])


def test_big_tables_do_not_count_every_request(demo_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from layers import features

    # with buildings above the exact-count threshold, numberMatched is omitted, not guessed
    monkeypatch.setattr(features, "EXACT_COUNT_BELOW", 10_000)
    page = items(demo_server, "buildings", limit=10).json()
    assert "numberMatched" not in page
    hits = items(demo_server, "buildings", resulttype="hits").json()
    assert hits["numberMatched"] > 10_000


def test_single_item_and_missing_item(demo_server: str) -> None:
    feature = items(demo_server, "pois", limit=1).json()["features"][0]
    one = get_json(f"{demo_server}/ogc/collections/pois/items/{feature['id']}", f="json")
    assert one["id"] == feature["id"] and one["properties"] == feature["properties"]
    for missing in ("999999999", "not-a-number"):
        response = httpx.get(f"{demo_server}/ogc/collections/pois/items/{missing}?f=json", timeout=30)
        assert response.status_code == 404


def test_property_filter(demo_server: str) -> None:
    page = items(demo_server, "admin_divisions", level="district", limit=100).json()
    assert page["features"]
    assert {f["properties"]["level"] for f in page["features"]} == {"district"}
    assert all(len(str(f["id"])) == 6 for f in page["features"])


def test_datetime_on_a_time_enabled_collection(demo_server: str, demo_reader: dict) -> None:
    # aq_readings is internal: read with a token
    all_hours = items(demo_server, "aq_readings", demo_reader, limit=10000).json()["features"]
    times = sorted({f["properties"]["observed_at"] for f in all_hours})
    assert len(times) > 24
    instant = times[5]
    page = items(demo_server, "aq_readings", demo_reader, datetime=instant.replace("+00:00", "Z"), limit=1000).json()
    assert page["features"] and {f["properties"]["observed_at"] for f in page["features"]} == {instant}
    window = f"{times[0].replace('+00:00', 'Z')}/{times[2].replace('+00:00', 'Z')}"
    page = items(demo_server, "aq_readings", demo_reader, datetime=window, limit=1000).json()
    assert {f["properties"]["observed_at"] for f in page["features"]} == set(times[:3])


def test_sortby_and_properties(demo_server: str) -> None:
    page = items(demo_server, "pois", sortby="-name_en", properties="name_en,category", limit=20).json()
    names = [f["properties"]["name_en"] for f in page["features"]]
    assert names == sorted(names, reverse=True)
    assert set(page["features"][0]["properties"]) == {"name_en", "category"}


def test_skip_geometry(demo_server: str) -> None:
    page = items(demo_server, "pois", skipGeometry="true", limit=3).json()
    assert all(f["geometry"] is None for f in page["features"])
    with_geometry = items(demo_server, "pois", limit=3).json()
    assert [f["id"] for f in page["features"]] == [f["id"] for f in with_geometry["features"]]
    assert [f["properties"] for f in page["features"]] == [f["properties"] for f in with_geometry["features"]]


# ------------------------------------------------------------------------------- Part 2: CRS
def test_crs_outputs_and_axis_order(demo_server: str) -> None:
    default = items(demo_server, "pois", limit=1).json()["features"][0]
    lon, lat = default["geometry"]["coordinates"]
    as_4326 = items(demo_server, "pois", limit=1, crs=EPSG.format(4326))
    assert as_4326.headers["content-crs"].strip("<>") == EPSG.format(4326)
    assert as_4326.json()["features"][0]["geometry"]["coordinates"] == pytest.approx([lat, lon])
    as_4490 = items(demo_server, "pois", limit=1, crs=EPSG.format(4490)).json()
    assert as_4490["features"][0]["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-5)
    as_3857 = items(demo_server, "pois", limit=1, crs=EPSG.format(3857)).json()
    x, y = Transformer.from_crs(4326, 3857, always_xy=True).transform(lon, lat)
    assert as_3857["features"][0]["geometry"]["coordinates"] == pytest.approx([x, y], abs=0.05)


def test_bbox_crs(demo_server: str) -> None:
    bbox = centre_bbox(demo_server)
    reference = {f["id"] for f in items(demo_server, "addresses", bbox=_bbox_param(bbox), limit=1000).json()["features"]}
    to_merc = Transformer.from_crs(4326, 3857, always_xy=True)
    xmin, ymin = to_merc.transform(bbox[0], bbox[1])
    xmax, ymax = to_merc.transform(bbox[2], bbox[3])
    merc = items(demo_server, "addresses", bbox=f"{xmin},{ymin},{xmax},{ymax}", **{"bbox-crs": EPSG.format(3857)}, limit=1000)
    assert merc.status_code == 200
    got = {f["id"] for f in merc.json()["features"]}
    assert reference and len(got ^ reference) <= max(2, len(reference) // 50)  # edges differ by reprojection


# --------------------------------------------------------------------------- Part 3: filters
def test_cql2_text_filters(demo_server: str) -> None:
    page = items(demo_server, "emergency_facilities", filter="kind = 'shelter' AND capacity > 100", limit=100).json()
    assert page["features"]
    assert all(f["properties"]["kind"] == "shelter" and f["properties"]["capacity"] > 100 for f in page["features"])
    bbox = centre_bbox(demo_server, 0.01)
    polygon = f"POLYGON(({bbox[0]} {bbox[1]},{bbox[2]} {bbox[1]},{bbox[2]} {bbox[3]},{bbox[0]} {bbox[3]},{bbox[0]} {bbox[1]}))"
    spatial = items(demo_server, "addresses", filter=f"S_INTERSECTS(geom, {polygon})", limit=1000, **{"filter-lang": "cql2-text"})
    assert spatial.status_code == 200 and spatial.json()["features"]


def test_queryables(demo_server: str) -> None:
    body = get_json(f"{demo_server}/ogc/collections/buildings/queryables", f="json")
    assert {"use", "floors"} <= set(body["properties"])


# ------------------------------------------------------------------------------------ Tiles
def test_vector_tile_holds_the_features_of_its_area(demo_server: str) -> None:
    bbox = centre_bbox(demo_server, 0.001)
    lon, lat = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    z = 15
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    response = httpx.get(f"{demo_server}/ogc/collections/buildings/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    tile = mapbox_vector_tile.decode(response.content)
    assert tile["buildings"]["features"]
    assert {"use", "floors"} <= set(tile["buildings"]["features"][0]["properties"])


def test_openapi_is_valid_and_self_contained(demo_server: str) -> None:
    from pygeoapi.openapi import validate_openapi_document

    response = httpx.get(f"{demo_server}/ogc/openapi?f=json", timeout=60)
    assert response.status_code == 200
    assert "schemas.opengis.net" not in response.text and "githubusercontent" not in response.text
    assert validate_openapi_document(response.json())


# -------------------------------------------------------------------------------- bad input
BAD_REQUESTS = [
    ("buildings", {"bbox": "1,2,3"}, 400),
    ("buildings", {"bbox": "a,b,c,d"}, 400),
    ("buildings", {"bbox": "200,100,300,120"}, 400),
    ("buildings", {"bbox": "109,35,108,34"}, 400),
    ("buildings", {"limit": "100001"}, 400),
    ("buildings", {"limit": "-5"}, 400),
    ("buildings", {"offset": "-1"}, 400),
    ("buildings", {"offset": "x"}, 400),
    ("buildings", {"crs": "http://www.opengis.net/def/crs/EPSG/0/99999"}, 400),
    ("buildings", {"crs": "EPSG:99999"}, 400),
    ("buildings", {"bbox": "108,34,109,35", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/2000"}, 400),
    ("buildings", {"filter": "floors >"}, 400),
    ("buildings", {"filter": "no_such_property = 1"}, 400),
    ("buildings", {"filter": "floors = 'x'; DROP TABLE basemap.building; --"}, 400),
    ("buildings", {"filter": "floors = 'abc'"}, 400),
    ("buildings", {"filter-lang": "sql"}, 400),
    ("buildings", {"sortby": "no_such_property"}, 400),
    ("buildings", {"properties": "no_such_property"}, 400),
    ("buildings", {"floors": "three"}, 400),
    ("buildings", {"datetime": "2026-13-01"}, 400),
    ("buildings", {"ooga": "booga"}, 400),
    ("aq_readings", {"datetime": "yesterday"}, 400),
    ("no_such_collection", {}, 404),
]


@pytest.mark.parametrize(("collection", "params", "status"), BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(
    demo_server: str, demo_reader: dict, collection: str, params: dict, status: int
) -> None:
    response = items(demo_server, collection, demo_reader, **params)
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body.get("description"), body  # an OGC exception document with a message


def test_injection_attempts_change_nothing(demo_server: str, demo_engine) -> None:
    from sqlalchemy import text

    def fingerprint() -> tuple:
        with demo_engine.connect() as conn:
            return conn.execute(text("SELECT count(*), md5(string_agg(id::text, ',' ORDER BY id)) FROM basemap.building")).one()

    before = fingerprint()
    for attack in ["1=1; DELETE FROM basemap.building", "use = 'x'' OR 1=1; --", "\"use\"; DROP TABLE x"]:
        assert items(demo_server, "buildings", filter=attack).status_code == 400
    assert items(demo_server, "buildings", sortby="use;DELETE FROM basemap.building").status_code == 400
    assert items(demo_server, "buildings", **{"use; DROP TABLE basemap.building": "1"}).status_code in (200, 400)
    assert fingerprint() == before


def test_bad_tile_requests(demo_server: str) -> None:
    base = f"{demo_server}/ogc/collections/buildings/tiles/WebMercatorQuad"
    assert httpx.get(f"{base}/30/1/1?f=mvt", timeout=30).status_code == 400
    assert httpx.get(f"{base}/3/100/1?f=mvt", timeout=30).status_code == 400
    assert httpx.get(f"{base}/x/1/1?f=mvt", timeout=30).status_code == 400


def test_deep_pages_match_plain_offsets(demo_server: str, demo_engine) -> None:
    """Pages past the keyset threshold hold exactly the rows OFFSET would give."""
    from sqlalchemy import text

    offset = 20_000
    page = items(demo_server, "buildings", limit=25, offset=offset).json()
    with demo_engine.connect() as conn:
        expected = conn.execute(
            text("SELECT id FROM basemap.building ORDER BY id OFFSET :o LIMIT 25"), {"o": offset}
        ).scalars().all()
    assert [f["id"] for f in page["features"]] == expected
    beyond = items(demo_server, "buildings", limit=25, offset=10_000_000).json()
    assert beyond["features"] == [] and beyond["numberReturned"] == 0
