"""The serving skeleton over real HTTP: /health, OGC API at /ogc, the catalog, the map page."""

from __future__ import annotations

import httpx
import pytest

from spatial.config import Settings
from spatial.postgis import free_port
from tests.live import get_json, live_server

BASE_LAYERS = {"admin_divisions", "roads", "buildings", "addresses", "pois"}


def test_health_reports_the_database(demo_server: str) -> None:
    body = get_json(f"{demo_server}/health")
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")


def test_health_is_503_when_the_database_is_gone(tmp_path) -> None:
    settings = Settings(database_url=f"postgresql://x:y@127.0.0.1:{free_port()}/none", var_dir=tmp_path)
    with live_server(settings) as base:
        response = httpx.get(f"{base}/health", timeout=30)
    assert response.status_code == 503
    assert "cannot reach the database" in response.json()["database"]


def test_ogc_collections_list_the_base_map(demo_server: str) -> None:
    body = get_json(f"{demo_server}/ogc/collections", f="json")
    ids = {c["id"] for c in body["collections"]}
    assert ids >= BASE_LAYERS


@pytest.mark.parametrize("layer", sorted(BASE_LAYERS))
def test_base_map_items_are_readable(demo_server: str, layer: str) -> None:
    body = get_json(f"{demo_server}/ogc/collections/{layer}/items", f="json", limit=5)
    assert body["type"] == "FeatureCollection"
    assert len(body["features"]) == 5
    feature = body["features"][0]
    lon, lat = _first_position(feature["geometry"]["coordinates"])
    assert 108.5 < lon < 109.5 and 33.9 < lat < 34.6  # around Xi'an, lon/lat order


def test_bbox_query_returns_only_features_inside(demo_server: str) -> None:
    bbox = _city_centre_bbox(demo_server, 0.005)
    body = get_json(f"{demo_server}/ogc/collections/addresses/items", f="json", bbox=",".join(map(str, bbox)), limit=1000)
    assert body["features"], "expected addresses near the centre"
    for feature in body["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def test_catalog_api_lists_layers_with_departments(demo_server: str) -> None:
    layers = get_json(f"{demo_server}/api/v1/layers")["layers"]
    by_id = {layer["id"]: layer for layer in layers}
    assert set(by_id) >= BASE_LAYERS
    assert by_id["admin_divisions"]["department_name_zh"]
    assert by_id["buildings"]["feature_count"] > 1000


def test_a_layer_added_while_serving_appears_without_restart(demo_server: str, demo_engine) -> None:
    import time

    from layers.catalog import LayerSpec, register_layer

    with demo_engine.begin() as conn:
        register_layer(conn, LayerSpec(
            id="live_added_pois", title_zh="新增兴趣点", title_en="Added POIs",
            department_code="planning", storage_schema="basemap", storage_table="poi",
        ))
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ids = {c["id"] for c in get_json(f"{demo_server}/ogc/collections", f="json")["collections"]}
            if "live_added_pois" in ids:
                break
            time.sleep(0.3)
        assert "live_added_pois" in ids
    finally:
        from sqlalchemy import text

        with demo_engine.begin() as conn:
            conn.execute(text("DELETE FROM catalog.layer WHERE id = 'live_added_pois'"))


def test_map_page_serves_leaflet_locally(demo_server: str) -> None:
    page = httpx.get(f"{demo_server}/", timeout=30)
    assert page.status_code == 200
    assert "/static/vendor/leaflet/leaflet.js" in page.text
    assert "unpkg" not in page.text and "cdn" not in page.text.lower()
    script = httpx.get(f"{demo_server}/static/vendor/leaflet/leaflet.js", timeout=30)
    assert script.status_code == 200 and "Leaflet" in script.text[:400]


def test_unknown_collection_is_404(demo_server: str) -> None:
    response = httpx.get(f"{demo_server}/ogc/collections/no_such_layer/items?f=json", timeout=30)
    assert response.status_code == 404


def _first_position(coords):
    while isinstance(coords[0], list):
        coords = coords[0]
    return coords[0], coords[1]


def _city_centre_bbox(base: str, half: float) -> list[float]:
    layers = get_json(f"{base}/api/v1/layers")["layers"]
    xmin, ymin, xmax, ymax = next(layer["bbox"] for layer in layers if layer["id"] == "admin_divisions")
    cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
    return [cx - half, cy - half, cx + half, cy + half]
