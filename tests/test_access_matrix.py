"""The permission matrix over real HTTP: role × visibility × operation, one expected status each.

Roles are relative to the owner of the layers (department ``emergency``): anonymous, its
viewer, inspector and editor, an editor of another department, an admin. Reads cover every
door data leaves by (OGC listing, items, item, vector tile, coverage, imagery XYZ tile, the
REST catalog); writes are OGC API Features Part 4 create, update and delete.
"""

from __future__ import annotations

import httpx
import morecantile
import pytest

from tests.access_city import CENTRE, ROLES, VISIBILITIES

READ_OPERATIONS = ("list", "items", "item", "vector_tile", "coverage", "imagery_tile", "rest", "download")
WRITE_OPERATIONS = ("create", "update", "delete")


def can_see(role: str, visibility: str) -> bool:
    """The rule, spelled out independently of spatial.access.policy."""
    if visibility == "public":
        return True
    if role == "anonymous":
        return False
    return visibility == "internal" or role != "editor_other"


def expected(role: str, visibility: str, operation: str) -> int:
    """The status each cell of the matrix must answer."""
    if operation in READ_OPERATIONS:
        return 200 if can_see(role, visibility) else 404
    if role == "anonymous":
        return 401
    if not can_see(role, visibility):
        return 404
    if role in ("editor_own", "admin"):
        return {"create": 201, "update": 204, "delete": 200}[operation]
    return 403


MATRIX = [(role, visibility) for role in ROLES for visibility in VISIBILITIES]


def _client(access_city, role: str) -> httpx.Client:
    return httpx.Client(headers=access_city.headers(role), timeout=60)


def _first_id(access_server: str, access_city, layer: str) -> int:
    """A feature id of ``layer`` read as admin."""
    with _client(access_city, "admin") as admin:
        page = admin.get(f"{access_server}/ogc/collections/{layer}/items", params={"f": "json", "limit": 1})
    page.raise_for_status()
    return page.json()["features"][0]["id"]


def read_status(access_server: str, access_city, client: httpx.Client, operation: str, visibility: str) -> int:
    """Status of one read operation on the layer of ``visibility``."""
    layer, imagery = f"acc_{visibility}", f"img_{visibility}"
    ogc = f"{access_server}/ogc/collections"
    tile = morecantile.tms.get("WebMercatorQuad").tile(*CENTRE, 14)
    if operation == "list":
        ids = {c["id"] for c in client.get(f"{ogc}", params={"f": "json"}).json()["collections"]}
        listed = {layer, imagery} <= ids
        assert listed or not ({layer, imagery} & ids), "listed half"
        return 200 if listed else 404
    if operation == "rest":
        ids = {r["id"] for r in client.get(f"{access_server}/api/v1/layers").json()["layers"]}
        detail = client.get(f"{access_server}/api/v1/layers/{layer}").status_code
        assert (layer in ids) == (detail == 200)
        return detail
    if operation == "download":
        vector = client.get(f"{access_server}/api/v1/layers/{layer}/download")
        image = client.get(f"{access_server}/api/v1/layers/{imagery}/download")
        assert vector.status_code == image.status_code
        if vector.status_code == 200:
            assert len(vector.json()["features"]) >= 6 and image.content[:2] in (b"II", b"MM")
        return vector.status_code
    urls = {
        "items": f"{ogc}/{layer}/items?f=json&limit=5",
        "item": f"{ogc}/{layer}/items/{_first_id(access_server, access_city, layer)}?f=json",
        "vector_tile": f"{ogc}/{layer}/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}?f=mvt",
        "coverage": f"{ogc}/{imagery}/coverage?bbox={CENTRE[0]},{CENTRE[1]},{CENTRE[0] + 0.005},{CENTRE[1] + 0.005}&f=json",
        "imagery_tile": f"{access_server}/tiles/{imagery}/{tile.z}/{tile.x}/{tile.y}.png",
    }
    return client.get(urls[operation]).status_code


@pytest.mark.parametrize(("role", "visibility"), MATRIX)
def test_reads(access_server: str, access_city, role: str, visibility: str) -> None:
    with _client(access_city, role) as client:
        got = {op: read_status(access_server, access_city, client, op, visibility) for op in READ_OPERATIONS}
    want = {op: expected(role, visibility, op) for op in READ_OPERATIONS}
    assert got == want


def _feature(name: str) -> dict:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [CENTRE[0] + 0.0005, CENTRE[1] + 0.0005]},
        "properties": {"name": name, "count": 7},
    }


def _count(access_server: str, access_city, layer: str) -> int:
    with _client(access_city, "admin") as admin:
        body = admin.get(f"{access_server}/ogc/collections/{layer}/items", params={"f": "json", "resulttype": "hits"}).json()
    return body["numberMatched"]


def _seed(access_server: str, access_city, layer: str) -> str:
    """A fresh feature made by the admin, to be updated or deleted."""
    with _client(access_city, "admin") as admin:
        response = admin.post(
            f"{access_server}/ogc/collections/{layer}/items", json=_feature("seed"),
            headers={"Content-Type": "application/geo+json"},
        )
    assert response.status_code == 201, response.text
    return response.headers["Location"].rsplit("/", 1)[-1]


@pytest.mark.parametrize(("role", "visibility"), MATRIX)
def test_writes(access_server: str, access_city, role: str, visibility: str) -> None:
    layer = f"acc_{visibility}"
    items = f"{access_server}/ogc/collections/{layer}/items"
    geojson = {"Content-Type": "application/geo+json"}
    got = {}
    with _client(access_city, role) as client:
        before = _count(access_server, access_city, layer)
        created = client.post(items, json=_feature(f"by {role}"), headers=geojson)
        got["create"] = created.status_code
        assert _count(access_server, access_city, layer) == before + (1 if created.status_code == 201 else 0)
        target = _seed(access_server, access_city, layer)
        got["update"] = client.put(f"{items}/{target}", json=_feature(f"put by {role}"), headers=geojson).status_code
        got["delete"] = client.delete(f"{items}/{target}").status_code
    want = {op: expected(role, visibility, op) for op in WRITE_OPERATIONS}
    assert got == want
    if got["create"] == 401:
        assert created.headers["WWW-Authenticate"].startswith("Bearer")
