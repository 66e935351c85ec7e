"""Publishing files through POST /api/v1/layers: permission, create or replace, the quality gate,
the size limit, and a rejected upload leaving the layer exactly as it was."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
from sqlalchemy import Engine

from spatial.db import make_engine
from tests.access_city import CENTRE, UPLOAD_LIMIT, points
from tests.test_access_edits import fingerprint

X, Y = CENTRE


@pytest.fixture(scope="module")
def access_engine(access_city) -> Iterator[Engine]:
    engine = make_engine(access_city.url, pool_size=2)
    yield engine
    engine.dispose()


def geojson_bytes(frame: gpd.GeoDataFrame) -> bytes:
    return frame.to_json(drop_id=True).encode()


def upload(
    base: str, headers: dict, name: str, content: bytes, filename: str = "layer.geojson", **fields: str
) -> httpx.Response:
    files = {"file": (filename, content, "application/octet-stream")}
    return httpx.post(f"{base}/api/v1/layers", data={"name": name, **fields}, files=files, headers=headers, timeout=120)


def test_publishing_needs_an_editor_of_the_department(access_server: str, access_city) -> None:
    body = geojson_bytes(points(3))
    anonymous = upload(access_server, {}, "acc_new_anon", body, title="匿名")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    viewer = upload(access_server, access_city.headers("viewer"), "acc_new_viewer", body, title="查看")
    assert viewer.status_code == 403
    other = upload(access_server, access_city.headers("editor_other"), "acc_public", body)
    assert other.status_code == 403 and "belongs to department 'emergency'" in other.json()["description"]
    hidden = upload(access_server, access_city.headers("editor_other"), "acc_department", body)
    assert hidden.status_code == 404
    foreign = upload(access_server, access_city.headers("editor_own"), "acc_new_foreign", body, title="他部门", department="environment")
    assert foreign.status_code == 403


def test_create_then_replace_keeps_the_catalog_entry(access_server: str, access_city, access_engine: Engine) -> None:
    editor = access_city.headers("editor_own")
    created = upload(access_server, editor, "acc_uploaded", geojson_bytes(points(4)), title="上传", title_en="Uploaded", visibility="internal")
    assert created.status_code == 201, created.text
    assert created.json()["report"]["features_loaded"] == 4
    layer = httpx.get(f"{access_server}/api/v1/layers/acc_uploaded", headers=editor, timeout=30).json()
    assert (layer["department_code"], layer["visibility"], layer["title_en"]) == ("emergency", "internal", "Uploaded")
    assert httpx.get(f"{access_server}/api/v1/layers/acc_uploaded", timeout=30).status_code == 404  # internal
    replaced = upload(access_server, editor, "acc_uploaded", geojson_bytes(points(6)))
    assert replaced.status_code == 200, replaced.text
    layer = httpx.get(f"{access_server}/api/v1/layers/acc_uploaded", headers=editor, timeout=30).json()
    assert (layer["visibility"], layer["title_en"], layer["feature_count"]) == ("internal", "Uploaded", 6)
    assert fingerprint(access_engine, "acc_uploaded")[0] == 6
    history = httpx.get(f"{access_server}/api/v1/layers/acc_uploaded/history", headers=editor, timeout=30).json()
    replaces = [c for c in history["changes"] if c["operation"] == "replace"]
    assert [(c["path"], c["actor"], c["department_code"]) for c in replaces] == [("rest", "editor_own", "emergency")] * 2
    assert replaces[0]["before"] is None and replaces[1]["before"]["features"] == 4
    assert replaces[1]["after"]["features"] == 6 and replaces[1]["after"]["checksum"]


def _frame_with(**changes: object) -> gpd.GeoDataFrame:
    frame = points(5)
    for column, value in changes.items():
        frame[column] = value
    return frame


def _swapped() -> gpd.GeoDataFrame:
    frame = points(5)
    frame.geometry = shapely.transform(np.asarray(frame.geometry.array), lambda xy: xy[:, ::-1])
    return frame


def _far_away() -> gpd.GeoDataFrame:
    frame = points(5)
    frame.loc[3, "geometry"] = shapely.Point(2.35, 48.85)
    return frame


def _lines() -> gpd.GeoDataFrame:
    frame = points(3)
    frame.geometry = [shapely.LineString([(X, Y), (X + 0.001, Y + 0.001)])] * 3
    return frame


def _bowties() -> gpd.GeoDataFrame:
    bowtie = shapely.Polygon([(X, Y), (X + 0.001, Y + 0.001), (X + 0.001, Y), (X, Y + 0.001)])
    return gpd.GeoDataFrame({"name": ["a", "b"], "area": [1.0, 2.0]},
                            geometry=[shapely.box(X, Y, X + 0.001, Y + 0.001), bowtie], crs="EPSG:4326")


REJECTED = [
    # (layer, file frame, form fields, words in the 400)
    ("acc_public", lambda: _frame_with(count=["one", "two", "three", "four", "five"]), {}, "the file holds text values, the layer stores bigint"),
    ("acc_public", lambda: _frame_with(colour="red"), {}, "colour are not in the layer"),
    ("acc_public", lambda: _frame_with(count=[1.0, 2.5, 3.0, 4.0, 5.0]), {}, "fractions in feature(s) 2"),
    ("acc_public", _swapped, {}, "feature(s) 1, 2, 3, 4, 5 have latitude and longitude swapped"),
    ("acc_public", _far_away, {}, "feature(s) 4 lie outside the city"),
    ("acc_public", _lines, {}, "wrong geometry type in feature(s) 1, 2, 3"),
    ("acc_parcels", _bowties, {"invalid": "reject"}, "invalid geometries in feature(s) 2"),
]


@pytest.mark.parametrize(("layer", "make", "fields", "words"), REJECTED)
def test_rejected_upload_leaves_the_layer_unchanged(
    access_server: str, access_city, access_engine: Engine, layer: str, make, fields: dict, words: str
) -> None:
    before = fingerprint(access_engine, layer)
    response = upload(access_server, access_city.headers("editor_own"), layer, geojson_bytes(make()), **fields)
    assert response.status_code == 400, response.text
    assert words in response.json()["description"], response.json()
    assert fingerprint(access_engine, layer) == before


def test_required_attributes_and_constraints_of_the_layer(access_server: str, access_city, access_engine: Engine) -> None:
    before = fingerprint(access_engine, "emergency_facility")
    editor = access_city.headers("editor_own")
    frame = gpd.GeoDataFrame(
        {"kind": ["shelter", None], "name_zh": ["甲", "乙"], "name_en": ["A", "B"]},
        geometry=shapely.points([X, X + 0.001], [Y, Y]), crs="EPSG:4326",
    )
    missing = upload(access_server, editor, "emergency_facilities", geojson_bytes(frame))
    assert missing.status_code == 400
    assert "required attribute 'kind' is empty in feature(s) 2" in missing.json()["description"]
    no_column = upload(access_server, editor, "emergency_facilities", geojson_bytes(frame.drop(columns=["name_en"])))
    assert "required attribute 'name_en' is missing" in no_column.json()["description"]
    frame.loc[1, "kind"] = "castle"
    checked = upload(access_server, editor, "emergency_facilities", geojson_bytes(frame))
    assert checked.status_code == 400 and "ck_emergency_facility_kind" in checked.json()["description"]
    assert fingerprint(access_engine, "emergency_facility") == before


def test_file_without_a_crs_is_refused(access_server: str, access_city, tmp_path: Path) -> None:
    folder = tmp_path / "shp"
    folder.mkdir()
    points(3).set_crs(None, allow_override=True).to_file(folder / "nocrs.shp")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    response = upload(access_server, access_city.headers("editor_own"), "acc_nocrs", archive.getvalue(), "nocrs.zip", title="无坐标")
    assert response.status_code == 400
    assert "does not say which coordinate reference system" in response.json()["description"]
    with_crs = upload(access_server, access_city.headers("editor_own"), "acc_nocrs", archive.getvalue(), "nocrs.zip", title="无坐标", crs="EPSG:4326")
    assert with_crs.status_code == 201, with_crs.text


def test_oversized_upload_is_413(access_server: str, access_city, access_engine: Engine) -> None:
    before = fingerprint(access_engine, "acc_public")
    body = json.dumps({"type": "FeatureCollection", "features": [], "padding": "x" * (UPLOAD_LIMIT + 10)}).encode()
    response = upload(access_server, access_city.headers("editor_own"), "acc_public", body)
    assert response.status_code == 413
    assert "ONEMAP_MAX_UPLOAD_BYTES" in response.json()["description"]
    assert fingerprint(access_engine, "acc_public") == before


def test_form_problems_are_400(access_server: str, access_city) -> None:
    editor = access_city.headers("editor_own")
    no_file = httpx.post(f"{access_server}/api/v1/layers", data={"name": "x"}, files={"other": ("a", b"1")}, headers=editor, timeout=30)
    assert no_file.status_code == 400 and "'file'" in no_file.json()["description"]
    not_multipart = httpx.post(f"{access_server}/api/v1/layers", json={"name": "x"}, headers=editor, timeout=30)
    assert not_multipart.status_code == 400
    no_title = upload(access_server, editor, "acc_untitled", geojson_bytes(points(2)))
    assert no_title.status_code == 400 and "'title'" in no_title.json()["description"]
