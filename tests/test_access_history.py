"""Feature history over REST (filters, permission) and `onemap layers rollback` (whole layer or one
feature, itself recorded; refused across a whole-layer replace)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from tests.access_city import points
from tests.test_access_edits import GEOJSON, item_url, point
from tests.test_access_uploads import geojson_bytes, upload
from tests.test_cli import run


@pytest.fixture()
def editor(access_city) -> Iterator[httpx.Client]:
    with httpx.Client(headers=access_city.headers("editor_own"), timeout=60) as client:
        yield client


def history(client: httpx.Client, base: str, layer: str, **params: object) -> list[dict]:
    response = client.get(f"{base}/api/v1/layers/{layer}/history", params=params)
    assert response.status_code == 200, response.text
    return response.json()["changes"]


def make_layer(base: str, access_city, name: str) -> None:
    response = upload(base, access_city.headers("editor_own"), name, geojson_bytes(points(3)), title=name)
    assert response.status_code == 201, response.text


def test_every_change_is_recorded_with_who_how_and_before_after(access_server: str, access_city, editor: httpx.Client) -> None:
    make_layer(access_server, access_city, "acc_hist")
    created = editor.post(f"{access_server}/ogc/collections/acc_hist/items", json=point(name="甲", count=1), headers=GEOJSON)
    fid = created.headers["Location"].rsplit("/", 1)[-1]
    url = item_url(access_server, "acc_hist", fid)
    editor.patch(url, json={"type": "Feature", "properties": {"count": 2}}, headers=GEOJSON)
    with httpx.Client(headers=access_city.headers("admin"), timeout=60) as admin:
        admin.delete(url)
    changes = history(editor, access_server, "acc_hist", feature=fid)
    assert [(c["operation"], c["path"], c["actor"], c["department_code"]) for c in changes] == [
        ("create", "ogc", "editor_own", "emergency"),
        ("update", "ogc", "editor_own", "emergency"),
        ("delete", "ogc", "admin", "planning"),
    ]
    assert changes[0]["before"] is None and changes[0]["after"]["properties"] == {"name": "甲", "count": 1}
    assert changes[1]["before"]["properties"]["count"] == 1 and changes[1]["after"]["properties"]["count"] == 2
    assert changes[2]["before"]["geometry"]["type"] == "Point" and changes[2]["after"] is None
    assert "token_id" not in changes[0]
    since = changes[1]["at"]
    assert [c["operation"] for c in history(editor, access_server, "acc_hist", feature=fid, since=since)] == ["update", "delete"]
    assert [c["operation"] for c in history(editor, access_server, "acc_hist", feature=fid, until=since)] == ["create", "update"]
    assert [c["operation"] for c in history(editor, access_server, "acc_hist")][0] == "replace"  # the upload


def test_history_is_permission_checked(access_server: str, access_city) -> None:
    url = f"{access_server}/api/v1/layers/acc_department/history"
    assert httpx.get(url, timeout=30).status_code == 404
    assert httpx.get(url, headers=access_city.headers("editor_other"), timeout=30).status_code == 404
    assert httpx.get(url, headers=access_city.headers("viewer"), timeout=30).status_code == 200
    bad = httpx.get(f"{access_server}/api/v1/layers/acc_public/history", params={"since": "yesterday"}, timeout=30)
    assert bad.status_code == 400


def _state(client: httpx.Client, base: str, layer: str) -> dict:
    """Feature id → (properties, coordinates) of every feature."""
    page = client.get(f"{base}/ogc/collections/{layer}/items", params={"f": "json", "limit": 1000}).json()
    return {f["id"]: (f["properties"], f["geometry"]["coordinates"]) for f in page["features"]}


def _rollback(access_city, layer: str, to: str, *extra: str):
    return run("layers", "rollback", layer, "--to", to, *extra, env={"ONEMAP_DATABASE_URL": access_city.url})


def test_rollback_restores_features_and_is_recorded(access_server: str, access_city, editor: httpx.Client) -> None:
    make_layer(access_server, access_city, "acc_rollback")
    original = _state(editor, access_server, "acc_rollback")
    moment = history(editor, access_server, "acc_rollback")[-1]["at"]
    first, second, third = sorted(original)
    editor.patch(item_url(access_server, "acc_rollback", first), json={"type": "Feature", "properties": {"name": "changed"}}, headers=GEOJSON)
    editor.put(item_url(access_server, "acc_rollback", second), json=point(name="moved", count=9), headers=GEOJSON)
    editor.delete(item_url(access_server, "acc_rollback", third))
    added = editor.post(f"{access_server}/ogc/collections/acc_rollback/items", json=point(name="added", count=0), headers=GEOJSON)
    assert added.status_code == 201

    one = _rollback(access_city, "acc_rollback", moment, "--feature", str(first))
    assert one.returncode == 0, one.stderr
    now = _state(editor, access_server, "acc_rollback")
    assert now[first] == original[first] and now[second] != original[second]

    whole = _rollback(access_city, "acc_rollback", moment)
    assert whole.returncode == 0, whole.stderr
    assert "1 restored, 1 re-created, 1 removed" in whole.stderr
    assert _state(editor, access_server, "acc_rollback") == original
    recorded = [c for c in history(editor, access_server, "acc_rollback") if c["path"] == "rollback"]
    assert sorted(c["operation"] for c in recorded) == ["create", "delete", "update", "update"]
    assert {c["actor"].endswith("@cli") for c in recorded} == {True}

    again = _rollback(access_city, "acc_rollback", moment)
    assert again.returncode == 0 and "already as it was" in again.stderr
    assert _state(editor, access_server, "acc_rollback") == original


def test_rollback_refuses_to_cross_a_whole_layer_replace(access_server: str, access_city) -> None:
    make_layer(access_server, access_city, "acc_replaced")
    moment = dt.datetime.now(dt.UTC).isoformat()
    replaced = upload(access_server, access_city.headers("editor_own"), "acc_replaced", geojson_bytes(points(5)))
    assert replaced.status_code == 200
    result = _rollback(access_city, "acc_replaced", moment)
    assert result.returncode == 2
    assert "replaced as a whole" in result.stderr and "load the earlier file again" in result.stderr


def test_rollback_of_an_unknown_layer_or_a_bad_time(access_city) -> None:
    assert "no layer named 'nowhere'" in _rollback(access_city, "nowhere", "2026-01-01T00:00:00Z").stderr
    bad = _rollback(access_city, "acc_public", "last tuesday")
    assert bad.returncode == 2 and "not an RFC 3339" in bad.stderr
