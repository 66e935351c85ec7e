"""The current city (layers/city/current.py) and GET /api/v1/city: names, view, default base layer.

The catalog here holds imagery over the city and a scene of another continent (as one accepted
before the imagery write gate existed): the far scene must never be the city's base layer, and a
department's scene is named only to the callers who may see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from api.app import create_app
from layers.catalog import LayerSpec, register_layer
from layers.city.current import current_city, read_current_city
from spatial.access.principal import Principal, local_operator
from spatial.access.tokens import create_token
from spatial.config import Settings
from tests.city.small_city import BAHAMAS, XIAN, drop_versions, insert_version, xian_database

IMAGERY = {  # id: (department, visibility, lon/lat box)
    "img_far": ("planning", "public", BAHAMAS),
    "img_small": ("planning", "public", (108.95, 34.25, 109.00, 34.30)),
    "img_big": ("planning", "public", (108.80, 34.15, 109.00, 34.40)),
    "img_secret": ("emergency", "department", (108.70, 34.00, 109.20, 34.50)),
}
EMERGENCY_VIEWER = Principal(name="viewer", role="viewer", department_code="emergency")


@pytest.fixture(scope="module")
def city(
    make_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Settings]]:
    """Two districts of Xi'an and four imagery layers, one of them on another continent."""
    with xian_database(make_database) as (url, engine):
        with engine.begin() as conn:
            for layer_id, (department, visibility, box) in IMAGERY.items():
                register_layer(conn, LayerSpec(layer_id, layer_id, layer_id, department, kind="imagery",
                                               visibility=visibility, storage_path=f"/nowhere/{layer_id}.tif"))  # fmt: skip
                conn.execute(text("UPDATE catalog.layer SET extent = ST_MakeEnvelope(:w, :s, :e, :n, 4326) "
                                  "WHERE id = :id"), {"id": layer_id, "w": box[0], "s": box[1], "e": box[2], "n": box[3]})  # fmt: skip
        settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("city-var"), port=0,
                            city_name="<b>示范市</b>")  # fmt: skip
        yield engine, settings


@pytest.fixture
def versioned(city: tuple[Engine, Settings]) -> Iterator[Engine]:
    """The city with no base-map version again after the test."""
    engine, _ = city
    yield engine
    drop_versions(engine)


def _current(engine: Engine, **kwargs: object):  # noqa: ANN202
    with engine.connect() as conn:
        return current_city(conn, fallback_name="示范市", **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- current_city
def test_without_a_version_the_settings_name_it_and_the_divisions_frame_it(city) -> None:
    engine, _ = city
    view = _current(engine)
    assert (view.code, view.name_zh, view.name_en, view.version_id, view.loaded_at) == (
        None,
        "示范市",
        "示范市",
        None,
        None,
    )
    assert view.extent == pytest.approx(XIAN)
    assert view.center == pytest.approx(((XIAN[0] + XIAN[2]) / 2, (XIAN[1] + XIAN[3]) / 2))
    assert view.zoom is None
    assert view.levels == {"district": {"zh": "区", "en": "District"}}


def test_base_layers_are_imagery_over_the_city_largest_overlap_first(city) -> None:
    engine, _ = city
    view = _current(engine)
    assert [ref.id for ref in view.base_layers] == ["img_secret", "img_big", "img_small"]
    assert (
        view.default_base_layer(None) == "img_big"
    )  # the department's scene is hidden from the public
    assert view.default_base_layer(EMERGENCY_VIEWER) == "img_secret"
    assert view.default_base_layer(local_operator()) == "img_secret"


def test_a_scene_elsewhere_is_never_the_base_even_when_the_profile_names_it(
    versioned: Engine,
) -> None:
    insert_version(versioned, view={"base_layer": "img_far"})
    view = _current(versioned)
    assert "img_far" not in [ref.id for ref in view.base_layers]
    assert view.default_base_layer(None) == "img_big"


def test_the_loaded_version_names_the_city_and_its_view(versioned: Engine) -> None:
    profile = {
        "divisions": {"levels": [{"level": "district", "title": {"zh": "区县", "en": "County"}}]}
    }
    version = insert_version(versioned, city_code="xian", name_zh="西安市", name_en="Xi'an", profile=profile,
                             view={"center": [108.94, 34.26], "zoom": 11, "base_layer": "img_small",
                                   "levels": {"street": {"zh": "街道办", "en": "Subdistrict office"}}})  # fmt: skip
    view = _current(versioned)
    assert (view.code, view.name_zh, view.name_en, view.version_id) == (
        "xian",
        "西安市",
        "Xi'an",
        version,
    )
    assert view.loaded_at is not None
    assert (view.center, view.zoom) == ((108.94, 34.26), 11)
    assert view.extent == pytest.approx(XIAN)
    assert view.levels == {
        "district": {"zh": "区县", "en": "County"},
        "street": {"zh": "街道办", "en": "Subdistrict office"},
    }
    assert [ref.id for ref in view.base_layers][
        0
    ] == "img_small"  # the profile's choice, being over the city
    assert view.default_base_layer(None) == "img_small"


def test_nonsense_in_the_view_is_ignored(versioned: Engine) -> None:
    insert_version(versioned, view={"center": ["x", 1], "zoom": 99, "base_layer": "no_such_layer"})
    view = _current(versioned)
    assert view.center == pytest.approx(((XIAN[0] + XIAN[2]) / 2, (XIAN[1] + XIAN[3]) / 2))
    assert view.zoom is None and view.default_base_layer(None) == "img_big"


def test_without_divisions_there_is_no_base_layer_but_a_configured_extent_frames_it(
    engine: Engine,
) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM basemap.admin_division")).scalar() == 0
    bare = _current(engine)
    assert (bare.extent, bare.center, bare.base_layers, bare.levels) == (None, None, (), {})
    assert bare.default_base_layer(None) is None
    framed = _current(engine, configured_extent="-74.05,40.68,-73.90,40.88")
    assert framed.extent == pytest.approx((-74.05, 40.68, -73.90, 40.88))


# -------------------------------------------------------------------------- GET /api/v1/city
def test_the_route_names_only_a_base_layer_the_caller_may_see(city) -> None:
    engine, settings = city
    issued = create_token(engine, department_code="emergency", role="viewer", name="emergency viewer",
                          actor=local_operator())  # fmt: skip
    with TestClient(create_app(settings)) as client:
        anonymous = client.get("/api/v1/city")
        staff = client.get("/api/v1/city", headers={"Authorization": f"Bearer {issued.secret}"})
        document = client.get("/api/v1/openapi.json").json()
    assert anonymous.status_code == 200, anonymous.text
    body = anonymous.json()
    assert body["default_base_layer"] == "img_big" and "img_secret" not in anonymous.text
    assert body["name_zh"] == "<b>示范市</b>" and body["version"] is None and body["code"] is None
    assert (
        body["extent"] == pytest.approx(list(XIAN))
        and body["levels"]["district"]["en"] == "District"
    )
    assert staff.json()["default_base_layer"] == "img_secret"
    assert "/api/v1/city" in document["paths"]
    assert "default_base_layer" in document["components"]["schemas"]["CityDocument"]["properties"]


def test_pages_show_the_loaded_city_name_escaped(city, versioned: Engine) -> None:
    _, settings = city
    with TestClient(create_app(settings)) as client:
        for path in ("/", "/inspector"):
            fallback = client.get(path).text
            assert "&lt;b&gt;示范市&lt;/b&gt;" in fallback and "<b>示范市" not in fallback, path
        insert_version(versioned, name_zh="西安市<script>", name_en="Xi'an")
        for path in ("/", "/inspector"):
            loaded = client.get(path).text
            assert "西安市&lt;script&gt;" in loaded and "示范市" not in loaded, path
        assert client.get("/api/v1/city").json()["name_en"] == "Xi'an"


def test_read_current_city_uses_the_settings(city, tmp_path: Path) -> None:
    engine, settings = city
    view = read_current_city(engine, settings)
    assert view.name_zh == settings.city_name and view.extent == pytest.approx(XIAN)
