"""Open311 GeoReport v2: read with the `georeport` client (JSON and XML) unchanged; POST as the
specification shows (form fields, api_key: the client does not implement POST); errors in
Open311's format; XML input read safely."""

from __future__ import annotations

import httpx
from georeport import GeoReport
from sqlalchemy import text

from tests.incidents.conftest import GUIYI, IncidentCity


def post(city: IncidentCity, fmt: str = "json", **fields) -> httpx.Response:
    form = {"api_key": city.tokens["viewer"], "service_code": "0110", "lat": str(GUIYI[1]), "long": str(GUIYI[0]),
            "description": "路灯不亮", "first_name": "Li", "last_name": "Lei", "email": "li@example.org"} | fields  # fmt: skip
    return httpx.post(f"{city.base}/open311/v2/requests.{fmt}", data={k: v for k, v in form.items() if v is not None})


def test_services_with_the_georeport_client(incident_city: IncidentCity) -> None:
    client = GeoReport(f"{incident_city.base}/open311/v2")
    services = client.get_service_list()
    assert len(services) >= 40 and {"service_code", "service_name", "metadata", "type"} <= set(services[0])
    assert client.get_service_definition("0110")["service_code"] == "0110"
    xml = GeoReport(f"{incident_city.base}/open311/v2", output_format="xml").get_service_list()
    assert {s["service_code"] for s in xml} == {s["service_code"] for s in services}


def test_post_then_read_back(incident_city: IncidentCity) -> None:
    created = post(incident_city)
    assert created.status_code == 201, created.text
    request_id = created.json()[0]["service_request_id"]
    client = GeoReport(f"{incident_city.base}/open311/v2")
    one = client.get_service_request(request_id)
    assert one["service_code"] == "0110" and one["status"] == "open" and one["agency_responsible"] == "lighting"
    assert abs(float(one["lat"]) - GUIYI[1]) < 1e-9 and "li@example.org" not in str(one) and "Lei" not in str(one)
    listed = client.get_service_requests(service_code="0110", status="open")
    assert request_id in [r["service_request_id"] for r in listed]
    xml = GeoReport(f"{incident_city.base}/open311/v2", output_format="xml").get_service_request(request_id)
    assert xml["service_request_id"] == request_id
    by_id = client.get_service_requests(service_request_id=request_id)
    assert [r["service_request_id"] for r in by_id] == [request_id]


def test_post_xml_answer(incident_city: IncidentCity) -> None:
    created = post(incident_city, fmt="xml")
    assert created.status_code == 201 and b"<service_request_id>" in created.content


def test_errors_in_open311_format_and_nothing_stored(incident_city: IncidentCity) -> None:
    with incident_city.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar()
    cases = [
        (post(incident_city, api_key=None), 401),
        (post(incident_city, api_key="om_" + "x" * 43), 401),
        (post(incident_city, service_code="0000"), 400),
        (post(incident_city, lat=None, long=None), 400),
        (post(incident_city, lat="51.5", long="-0.12"), 400),
        (post(incident_city, lat=None, long=None, address_string="不存在的地址999号"), 400),
        (post(incident_city, requested_datetime="2099-01-01T00:00:00Z"), 400),
        (httpx.get(f"{incident_city.base}/open311/v2/requests/999999999.json"), 404),
        (httpx.get(f"{incident_city.base}/open311/v2/services/0000.json"), 404),
    ]
    for response, status in cases:
        assert response.status_code == status, response.text
        error = response.json()[0]
        assert error["code"] == status and error["description"]
    xml_error = post(incident_city, fmt="xml", service_code="0000")
    assert xml_error.status_code == 400 and b"<errors><error><code>400</code>" in xml_error.content
    with incident_city.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar() == before


def test_xml_input_cannot_expand_entities(incident_city: IncidentCity) -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b"<request><service_code>0110</service_code><description>&x;</description></request>")  # fmt: skip
    response = httpx.post(f"{incident_city.base}/open311/v2/requests.xml", content=evil,
                          headers={"Content-Type": "application/xml"})  # fmt: skip
    assert response.status_code == 400 and b"root:" not in response.content
    assert b"refused" in response.content


def test_a_revoked_api_key_is_refused_at_once(incident_city: IncidentCity) -> None:
    """The api_key goes through the server's token cache like a bearer header; revocation still bites at once."""
    from spatial.access.principal import local_operator
    from spatial.access.tokens import create_token, revoke_tokens

    token = create_token(incident_city.engine, department_code="supervision", role="viewer", name="open311-revoked",
                         actor=local_operator())  # fmt: skip
    assert post(incident_city, api_key=token.secret).status_code == 201
    assert post(incident_city, api_key=token.secret).status_code == 201  # now served from the cache
    revoke_tokens(incident_city.engine, token_id=token.id, actor=local_operator())
    refused = post(incident_city, api_key=token.secret)
    assert refused.status_code == 401 and "revoked" in refused.text
