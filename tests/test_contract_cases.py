"""The cases of issue 13, tried as the outsider who found them, against the access city over HTTP.

Each case names the door and the old answer; each must now be a clear 4xx (or finish within its
budget) and change nothing. Cases owned by other suites: stored script in pages
(tests/test_safe_output.py), render budgets (tests/test_budgets.py), lost writes, history by
identity, photos and proxies (tests/test_write_safety.py); the generated matrix over every route
is tests/reliability/test_doors.py.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from spatial.db import make_engine
from tests.fingerprint import fingerprint

NON_ASCII_DIGITS = ("²", "١٢", "１２", "⑫")


@pytest.fixture(scope="module")
def city_engine(access_city):
    engine = make_engine(access_city.url, pool_size=1)
    yield engine
    engine.dispose()


def _layers(engine) -> dict[str, tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, department_code, visibility FROM catalog.layer")).all()
    return {r.id: (r.department_code, r.visibility) for r in rows}


def _zonal(base: str, headers: dict[str, str], **inputs: object) -> httpx.Response:
    body = {"inputs": {"layer": "img_public", "collection": "acc_parcels", "band": 1, **inputs}}
    return httpx.post(f"{base}/ogc/processes/zonal-statistics/execution", json=body, headers=headers, timeout=60)


# ------------------------------------------------------------------- anonymous writes as admin
@pytest.mark.parametrize("save_as", ["anon_new_layer", "acc_department", {"name": "acc_public", "visibility": "public"},
                                     {"name": "anon_dept", "department": "environment"}])
def test_anonymous_save_as_is_refused_and_changes_nothing(access_server, access_city, city_engine, save_as) -> None:
    before_layers, before = _layers(city_engine), fingerprint(city_engine)
    answer = _zonal(access_server, {}, save_as=save_as)
    assert answer.status_code == 401, answer.text
    assert "credentials" in answer.json()["description"]
    assert _layers(city_engine) == before_layers
    assert fingerprint(city_engine) == before


def test_another_departments_editor_cannot_save_over_a_layer(access_server, access_city, city_engine) -> None:
    before = fingerprint(city_engine)
    answer = _zonal(access_server, access_city.headers("editor_other"), save_as="acc_public")
    assert answer.status_code in (403, 404), answer.text
    assert fingerprint(city_engine) == before


def test_process_answers_a_hidden_layer_as_a_missing_one(access_server, access_city) -> None:
    hidden = _zonal(access_server, {}, collection="acc_department")
    missing = _zonal(access_server, {}, collection="acc_no_such_layer")
    assert hidden.status_code == missing.status_code == 404
    assert "emergency" not in hidden.text
    assert hidden.json()["description"].replace("acc_department", "X") == \
        missing.json()["description"].replace("acc_no_such_layer", "X")


# ------------------------------------------------------------------- 500s the README promised away
@pytest.mark.parametrize("path", ["/api/v1/geocode?q=钟楼", "/api/v1/reverse?lon=108.94&lat=34.26",
                                  "/api/v1/suggest?q=钟"])
@pytest.mark.parametrize("limit", ["nan", "inf", "-inf", "1e400", "1e3", "²", "0", "-1", "99999999999999999999"])
def test_odd_limits_are_400(access_server, path: str, limit: str) -> None:
    answer = httpx.get(f"{access_server}{path}&limit={limit}", timeout=30)
    assert answer.status_code == 400, answer.text
    assert "limit" in answer.json()["description"]


@pytest.mark.parametrize("name, value", [("lon", "nan"), ("lat", "inf"), ("radius", "1e400"), ("lon", "１０８")])
def test_odd_coordinates_are_400(access_server, name: str, value: str) -> None:
    params = {"lon": "108.94", "lat": "34.26", name: value}
    answer = httpx.get(f"{access_server}/api/v1/reverse", params=params, timeout=30)
    assert answer.status_code == 400, answer.text
    assert name in answer.json()["description"]


@pytest.mark.parametrize("digits", NON_ASCII_DIGITS)
@pytest.mark.parametrize("path", ["/api/v1/incidents/{d}", "/api/v1/incidents/{d}/photos/1",
                                  "/api/v1/incidents/1/photos/{d}", "/open311/v2/requests/{d}.json",
                                  "/open311/v2/requests/{d}.xml"])
def test_non_ascii_digits_in_ids_are_404(access_server, access_city, path: str, digits: str) -> None:
    answer = httpx.get(access_server + path.format(d=digits), headers=access_city.headers("admin"), timeout=30)
    assert answer.status_code == 404, answer.text


def test_non_ascii_digits_in_an_id_list_are_400(access_server) -> None:
    answer = httpx.get(f"{access_server}/open311/v2/requests.json", params={"service_request_id": "1,²"}, timeout=30)
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("query", ["", "?f=json", "?f=tilejson", "?f=html", "?f=nonsense"])
def test_tileset_metadata_never_500(access_server, query: str) -> None:
    answer = httpx.get(f"{access_server}/ogc/collections/acc_public/tiles/WebMercatorQuad/metadata{query}", timeout=30)
    assert answer.status_code < 500, answer.text
    assert answer.status_code in (200, 400), answer.text


@pytest.mark.parametrize("field, value", [("limit", "nan"), ("limit", 1e300), ("radius", "inf"), ("lon", "nan")])
def test_process_inputs_refuse_odd_numbers(access_server, field: str, value: object) -> None:
    inputs = {"lon": 108.94, "lat": 34.26, field: value}
    answer = httpx.post(f"{access_server}/ogc/processes/reverse-geocode/execution", json={"inputs": inputs}, timeout=30)
    assert answer.status_code == 400, answer.text


# ------------------------------------------------------------------- the client reads the same table
def test_the_python_client_raises_the_servers_error_class(access_server, access_city) -> None:
    from layers.client import Onemap
    from spatial.errors import BudgetExceeded, InvalidInput, NotFound, PayloadTooLarge

    client = Onemap.from_url(access_server)
    with pytest.raises(NotFound):
        client.read("acc_department")  # hidden from anonymous: as missing
    with pytest.raises(InvalidInput):
        client.read("acc_public", bbox=(10.0, 10.0, 5.0, 5.0))
    from layers.client.remote import BY_CODE

    assert BY_CODE["BudgetExceeded"] is BudgetExceeded and BY_CODE["PayloadTooLarge"] is PayloadTooLarge
