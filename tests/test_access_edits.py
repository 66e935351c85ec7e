"""OGC API Features Part 4 on department overlays: every bad input refused (nothing stored),
CRS handling, ETags and If-Match, and concurrent editors without lost updates."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine, text

from spatial.db import make_engine
from tests.access_city import CENTRE

GEOJSON = {"Content-Type": "application/geo+json"}
X, Y = CENTRE


@pytest.fixture(scope="module")
def access_engine(access_city) -> Iterator[Engine]:
    engine = make_engine(access_city.url, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture()
def editor(access_city) -> Iterator[httpx.Client]:
    with httpx.Client(headers=access_city.headers("editor_own"), timeout=60) as client:
        yield client


def fingerprint(engine: Engine, table: str) -> tuple:
    """Row count and an md5 over every row (geometry included), in id order."""
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(f"SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY t.id)) FROM thematic.{table} t")
            ).one()
        )


def point(x: float = X + 0.001, y: float = Y + 0.001, **properties: object) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]}, "properties": properties}


def create(client: httpx.Client, base: str, layer: str, feature: dict, **headers: str) -> httpx.Response:
    return client.post(f"{base}/ogc/collections/{layer}/items", json=feature, headers={**GEOJSON, **headers})


def item_url(base: str, layer: str, fid: object) -> str:
    return f"{base}/ogc/collections/{layer}/items/{fid}"


def new_feature(client: httpx.Client, base: str, layer: str = "acc_public", **properties: object) -> str:
    response = create(client, base, layer, point(name="new", count=1, **properties))
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[-1]


BOWTIE = [[[X, Y], [X + 0.001, Y + 0.001], [X + 0.001, Y], [X, Y + 0.001], [X, Y]]]
BAD_FEATURES = [
    # (layer, body, words the 400 must say)
    ("acc_public", {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[X, Y], [X + 0.01, Y]]}, "properties": {"name": "l"}}, "wrong geometry type"),
    ("acc_parcels", {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": BOWTIE}, "properties": {"name": "bow"}}, "invalid geometry: Self-intersection"),
    ("acc_parcels", {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[X, Y], [X + 0.001, Y], [X, Y]]]}, "properties": {}}, "invalid geometry"),
    ("acc_public", point(Y, X, name="swapped"), "latitude/longitude order"),
    ("acc_public", point(2.35, 48.85, name="Paris"), "outside the city's extent"),
    ("acc_public", point(500000.0, 3790000.0, name="metres"), "outside longitude ±180"),
    ("acc_public", point(name="typed", count="seven"), "attribute 'count': bigint expected, got text 'seven'"),
    ("acc_public", point(name="float", count=1.5), "attribute 'count'"),
    ("acc_public", point(name=12), "attribute 'name': text expected"),
    ("acc_public", point(name="x", colour="red"), "unknown attribute(s) colour"),
    ("emergency_facilities", point(kind="shelter", name_zh="避难所"), "required attribute(s) missing: name_en"),
    ("emergency_facilities", point(kind="castle", name_zh="城堡", name_en="Castle"), "ck_emergency_facility_kind"),
    ("emergency_facilities", point(kind="shelter", name_zh="x", name_en="x", capacity=2**40), "outside the range of integer"),
    ("acc_public", {"type": "FeatureCollection", "features": []}, "must be a GeoJSON Feature"),
    ("acc_public", {"type": "Feature", "geometry": None, "properties": {"name": "none"}}, "no geometry"),
    ("acc_public", {"type": "Feature", "geometry": {"type": "Point", "coordinates": ["a", "b"]}, "properties": {}}, "unreadable geometry"),
]


@pytest.mark.parametrize(("layer", "body", "words"), BAD_FEATURES)
def test_bad_features_are_refused_and_nothing_changes(
    access_server: str, access_engine: Engine, editor: httpx.Client, layer: str, body: dict, words: str
) -> None:
    table = {"emergency_facilities": "emergency_facility"}.get(layer, layer)
    before = fingerprint(access_engine, table)
    response = create(editor, access_server, layer, body)
    assert response.status_code == 400, response.text
    assert words in response.json()["description"], response.json()
    assert fingerprint(access_engine, table) == before


def test_body_that_is_not_json(access_server: str, access_engine: Engine, editor: httpx.Client) -> None:
    before = fingerprint(access_engine, "acc_public")
    response = editor.post(f"{access_server}/ogc/collections/acc_public/items", content=b"{not json", headers=GEOJSON)
    assert response.status_code == 400
    assert "not JSON" in response.json()["description"]
    assert fingerprint(access_engine, "acc_public") == before


def test_every_problem_of_a_feature_is_listed(access_server: str, editor: httpx.Client) -> None:
    body = point(Y, X, count="many", colour="red")
    description = create(editor, access_server, "acc_public", body).json()["description"]
    for words in ("latitude/longitude order", "unknown attribute(s) colour", "attribute 'count'"):
        assert words in description


def test_declared_crs_is_honoured(access_server: str, access_engine: Engine, editor: httpx.Client) -> None:
    """Content-Crs EPSG:4326 is latitude first, EPSG:3857 metres; stored as lon/lat, SRID 4326."""
    from pyproj import Transformer

    lat_lon = create(editor, access_server, "acc_public", point(Y + 0.002, X + 0.002, name="latlon"),
                     **{"Content-Crs": "<http://www.opengis.net/def/crs/EPSG/0/4326>"})
    assert lat_lon.status_code == 201, lat_lon.text
    mx, my = Transformer.from_crs(4326, 3857, always_xy=True).transform(X + 0.003, Y + 0.003)
    metres = create(editor, access_server, "acc_public", point(mx, my, name="metres"),
                    **{"Content-Crs": "http://www.opengis.net/def/crs/EPSG/0/3857"})
    assert metres.status_code == 201, metres.text
    for response, (lon, lat) in ((lat_lon, (X + 0.002, Y + 0.002)), (metres, (X + 0.003, Y + 0.003))):
        fid = response.headers["Location"].rsplit("/", 1)[-1]
        stored = editor.get(item_url(access_server, "acc_public", fid), params={"f": "json"}).json()
        assert stored["geometry"]["coordinates"] == pytest.approx([lon, lat], abs=1e-6)
    with access_engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT ST_SRID(geom) FROM thematic.acc_public")).scalars().all() == [4326]


def test_single_parts_are_stored_as_the_layer_stores_them(access_server: str, editor: httpx.Client) -> None:
    multi = {"type": "Feature", "properties": {"name": "one part"},
             "geometry": {"type": "MultiPoint", "coordinates": [[X + 0.004, Y + 0.004]]}}
    response = create(editor, access_server, "acc_public", multi)
    assert response.status_code == 201, response.text
    stored = editor.get(response.headers["Location"], params={"f": "json"}).json()
    assert stored["geometry"]["type"] == "Point"


def test_writes_to_missing_features_are_404(access_server: str, access_engine: Engine, editor: httpx.Client) -> None:
    before = fingerprint(access_engine, "acc_public")
    url = item_url(access_server, "acc_public", 99_999_999)
    assert editor.put(url, json=point(name="ghost"), headers=GEOJSON).status_code == 404
    assert editor.patch(url, json={"type": "Feature", "properties": {"name": "ghost"}}, headers=GEOJSON).status_code == 404
    assert editor.delete(url).status_code == 404
    assert editor.put(item_url(access_server, "acc_public", "not-a-number"), json=point(name="x"), headers=GEOJSON).status_code == 404
    assert fingerprint(access_engine, "acc_public") == before


def test_base_map_is_read_only_even_for_admins(access_server: str, access_city) -> None:
    with httpx.Client(headers=access_city.headers("admin"), timeout=60) as admin:
        response = create(admin, access_server, "pois", point(name_zh="x"))
    assert response.status_code == 403
    assert "base map" in response.json()["description"]


def test_etag_and_if_match(access_server: str, editor: httpx.Client) -> None:
    fid = new_feature(editor, access_server)
    url = item_url(access_server, "acc_public", fid)
    read = editor.get(url, params={"f": "json"})
    etag = read.headers["ETag"]
    assert etag.startswith('"') and len(etag) == 34
    stale = '"00000000000000000000000000000000"'
    refused = editor.put(url, json=point(name="stale"), headers={**GEOJSON, "If-Match": stale})
    assert refused.status_code == 412
    assert "changed since you read it" in refused.json()["description"]
    assert editor.get(url, params={"f": "json"}).headers["ETag"] == etag  # nothing changed
    done = editor.put(url, json=point(name="fresh"), headers={**GEOJSON, "If-Match": f"W/{etag}"})
    assert done.status_code == 204 and done.headers["ETag"] != etag
    assert editor.get(url, params={"f": "json"}).headers["ETag"] == done.headers["ETag"]
    patched = editor.patch(url, json={"type": "Feature", "properties": {"count": 5}}, headers={**GEOJSON, "If-Match": "*"})
    assert patched.status_code == 204
    assert editor.delete(url, headers={"If-Match": etag}).status_code == 412
    assert editor.delete(url, headers={"If-Match": patched.headers["ETag"]}).status_code == 200


def test_patch_merges_and_null_clears(access_server: str, editor: httpx.Client) -> None:
    fid = new_feature(editor, access_server)
    url = item_url(access_server, "acc_public", fid)
    assert editor.patch(url, json={"type": "Feature", "properties": {"count": 42}}, headers=GEOJSON).status_code == 204
    stored = editor.get(url, params={"f": "json"}).json()
    assert stored["properties"] == {"name": "new", "count": 42}
    moved = {"type": "Feature", "properties": {"name": None},
             "geometry": {"type": "Point", "coordinates": [X + 0.005, Y + 0.005]}}
    assert editor.patch(url, json=moved, headers=GEOJSON).status_code == 204
    stored = editor.get(url, params={"f": "json"}).json()
    assert stored["properties"] == {"name": None, "count": 42}
    assert stored["geometry"]["coordinates"] == pytest.approx([X + 0.005, Y + 0.005])
    bad = editor.patch(url, json={"type": "Feature", "properties": {"count": "x"}}, headers=GEOJSON)
    assert bad.status_code == 400


def _in_parallel(calls: list) -> list[httpx.Response]:
    """Run the calls at the same moment, one thread each; their responses in order."""
    results: list = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_two_editors_with_the_same_etag_one_wins(access_server: str, access_city, editor: httpx.Client) -> None:
    fid = new_feature(editor, access_server)
    url = item_url(access_server, "acc_public", fid)
    etag = editor.get(url, params={"f": "json"}).headers["ETag"]
    clients = [httpx.Client(headers=access_city.headers(role), timeout=60) for role in ("editor_own", "admin") * 4]
    try:
        calls = [
            (lambda c=c, i=i: c.put(url, json=point(name=f"editor {i}", count=i), headers={**GEOJSON, "If-Match": etag}))
            for i, c in enumerate(clients)
        ]
        statuses = sorted(r.status_code for r in _in_parallel(calls))
    finally:
        for client in clients:
            client.close()
    assert statuses == [204] + [412] * 7
    history = editor.get(f"{access_server}/api/v1/layers/acc_public/history", params={"feature": fid}).json()
    assert [c["operation"] for c in history["changes"]] == ["create", "update"]


def test_concurrent_patches_without_if_match_lose_nothing(access_server: str, access_city, editor: httpx.Client) -> None:
    """Two editors change different attributes at the same moment: both changes survive."""
    with httpx.Client(headers=access_city.headers("admin"), timeout=60) as other:
        for attempt in range(5):
            url = item_url(access_server, "acc_public", new_feature(editor, access_server))
            rename = {"type": "Feature", "properties": {"name": f"renamed {attempt}"}}
            recount = {"type": "Feature", "properties": {"count": 1000 + attempt}}
            responses = _in_parallel([
                functools.partial(editor.patch, url, json=rename, headers=GEOJSON),
                functools.partial(other.patch, url, json=recount, headers=GEOJSON),
            ])
            assert [r.status_code for r in responses] == [204, 204]
            stored = editor.get(url, params={"f": "json"}).json()["properties"]
            assert stored == {"name": f"renamed {attempt}", "count": 1000 + attempt}


def test_openapi_documents_transactions_only_where_the_caller_may_write(access_server: str, access_city) -> None:
    anonymous = httpx.get(f"{access_server}/ogc/openapi", params={"f": "json"}, timeout=60).json()
    item = "/collections/acc_public/items/{featureId}"
    assert set(anonymous["paths"][item]) <= {"get", "options"}
    assert "/collections/acc_internal/items" not in anonymous["paths"]
    assert anonymous["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    editor = httpx.get(f"{access_server}/ogc/openapi", params={"f": "json"}, headers=access_city.headers("editor_own"), timeout=60).json()
    assert {"put", "patch", "delete"} <= set(editor["paths"][item])
    assert "412" in editor["paths"][item]["patch"]["responses"]
    assert "post" in editor["paths"]["/collections/acc_department/items"]
    other = httpx.get(f"{access_server}/ogc/openapi", params={"f": "json"}, headers=access_city.headers("editor_other"), timeout=60).json()
    assert "/collections/acc_department/items" not in other["paths"]
    assert "post" not in other["paths"]["/collections/acc_public/items"]


def test_options_say_what_the_caller_may_do(access_server: str, access_city, editor: httpx.Client) -> None:
    url = item_url(access_server, "acc_public", new_feature(editor, access_server))
    assert editor.options(url).headers["Allow"] == "HEAD, GET, PUT, DELETE, PATCH"
    assert httpx.options(url, timeout=30).headers["Allow"] == "HEAD, GET"
