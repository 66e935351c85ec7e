"""Incidents over real HTTP: filing, routing, bad input (4xx, nothing stored), the workflow with
roles and concurrency, the immutable event log, supervision, KPIs, duplicates, map layers."""

from __future__ import annotations

import concurrent.futures
import datetime as dt

import httpx
import pytest
from sqlalchemy import text

from tests.incidents.conftest import GUIYI, IncidentCity, png_bytes


def count(city: IncidentCity) -> int:
    with city.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one())


def file(city: IncidentCity, role: str | None = "inspector", **fields) -> httpx.Response:
    body = {"category_code": "0101", "description": "井盖破损", "location": {"lon": GUIYI[0], "lat": GUIYI[1]},
            "source": "inspector" if role == "inspector" else "public"} | fields  # fmt: skip
    headers = city.auth(role) if role else {}
    return httpx.post(f"{city.base}/api/v1/incidents", json=body, headers=headers, timeout=30)


def act(city: IncidentCity, incident: int, role: str, action: str, **fields) -> httpx.Response:
    return httpx.post(f"{city.base}/api/v1/incidents/{incident}/transitions",
                      json={"action": action} | fields, headers=city.auth(role), timeout=30)  # fmt: skip


def handled(city: IncidentCity, incident: int, role: str) -> httpx.Response:
    return httpx.post(f"{city.base}/api/v1/incidents/{incident}/transitions", data={"action": "handled"},
                      files={"photo": ("after.png", png_bytes(), "image/png")}, headers=city.auth(role), timeout=30)  # fmt: skip


def test_filing_routes_to_cell_and_department(incident_city: IncidentCity) -> None:
    response = file(incident_city)
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["cell_code"]) == 15 and body["cell_code"].startswith(body["community_code"])
    assert body["community_code"].startswith(body["street_code"]) and body["street_code"].startswith(body["district_code"])
    assert body["department_code"] == "water" and body["routing"]["department"]["rule"] is None
    assert body["routing_flagged"] is False and body["register_due_at"]
    assert response.headers["location"].endswith(f"/api/v1/incidents/{body['id']}")


def test_rule_overrides_category_department(incident_city: IncidentCity) -> None:
    body = file(incident_city, category_code="1501").json()
    assert body["district_code"] == "610151"
    assert body["department_code"] == f"street_{body['street_code']}"
    assert "rule" in body["routing"]["department"]["why"]


def test_point_in_no_cell_goes_to_nearest_district_and_is_flagged(incident_city: IncidentCity) -> None:
    with incident_city.engine.connect() as conn:
        lon, lat = conn.execute(text(
            "SELECT ST_XMax(e) + 0.01, (ST_YMin(e) + ST_YMax(e)) / 2 FROM "
            "(SELECT ST_Extent(geom)::geometry e FROM basemap.admin_division) x")).one()  # fmt: skip
    body = file(incident_city, location={"lon": lon, "lat": lat}).json()
    assert body["routing_flagged"] is True and body["cell_code"] is None
    assert body["district_code"] and "属地兜底" in body["routing"]["place"]


def test_multipart_filing_with_photo(incident_city: IncidentCity) -> None:
    response = httpx.post(
        f"{incident_city.base}/api/v1/incidents",
        data={"category_code": "1102", "description": "垃圾", "lon": str(GUIYI[0]), "lat": str(GUIYI[1])},
        files={"photo": ("p.png", png_bytes(), "image/png")}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    body = response.json()
    photo = httpx.get(f"{incident_city.base}/api/v1/incidents/{body['id']}/photos/{body['photos'][0]}")
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"category_code": "9999"}, 400, "unknown category"),
        ({"location": {"lon": 2.35, "lat": 48.85}}, 400, "outside the city"),
        ({"location": {}}, 400, "needs a location"),
        ({"location": {"lon": 108.9}}, 400, "both lon and lat"),
        ({"location": {}, "address": "火星路999号不存在"}, 400, "could not be located"),
        ({"reported_at": "2099-01-01T00:00:00+08:00"}, 400, "in the future"),
        ({"source": "satellite"}, 400, "source"),
    ],
)
def test_bad_reports_are_refused_and_nothing_is_stored(incident_city: IncidentCity, fields, status, words) -> None:
    before = count(incident_city)
    response = file(incident_city, **fields)
    assert response.status_code == status, response.text
    assert words in response.json()["description"]
    assert count(incident_city) == before


def test_bad_photos_are_refused(incident_city: IncidentCity) -> None:
    before = count(incident_city)
    form = {"category_code": "0101", "lon": str(GUIYI[0]), "lat": str(GUIYI[1])}
    url = f"{incident_city.base}/api/v1/incidents"
    not_image = httpx.post(url, data=form, files={"photo": ("x.png", b"#!/bin/sh\necho hi\n", "image/png")})
    assert not_image.status_code == 400 and "not a JPEG" in not_image.json()["description"]
    huge = httpx.post(url, data=form, files={"photo": ("big.png", png_bytes() + b"\0" * (9 * 1024 * 1024), "image/png")}, timeout=60)
    assert huge.status_code == 413
    assert count(incident_city) == before


def test_source_needs_the_right_credentials(incident_city: IncidentCity) -> None:
    assert file(incident_city, role=None, source="inspector").status_code == 401
    assert file(incident_city, role="viewer", source="inspector").status_code == 403


def walk(city: IncidentCity, incident: int, steps: list[tuple[str, str]]) -> None:
    for role, action in steps:
        response = handled(city, incident, role) if action == "handled" else act(city, incident, role, action)
        assert response.status_code == 200, (action, response.text)


def test_the_whole_workflow_and_its_event_log(incident_city: IncidentCity) -> None:
    incident = file(incident_city).json()["id"]
    walk(incident_city, incident, [("supervisor", "register"), ("commander", "dispatch"), ("water", "accept"),
                                   ("water", "handled")])  # fmt: skip
    rework = act(incident_city, incident, "inspector", "rework", reason="井盖仍松动")
    assert rework.status_code == 200 and rework.json()["state"] == "handling"
    walk(incident_city, incident, [("water", "handled"), ("inspector2", "verify"), ("supervisor", "close")])
    events = httpx.get(f"{incident_city.base}/api/v1/incidents/{incident}/events", headers=incident_city.auth("viewer")).json()
    actions = [e["action"] for e in events["events"]]
    assert actions == ["report", "register", "dispatch", "accept", "handled", "rework", "handled", "verify", "close"]
    assert events["events"][2]["due_at"] is not None
    public = httpx.get(f"{incident_city.base}/api/v1/incidents/{incident}").json()
    assert public["state"] == "closed" and "reporter_name" not in public


def test_wrong_role_and_illegal_transition(incident_city: IncidentCity) -> None:
    incident = file(incident_city).json()["id"]
    assert act(incident_city, incident, "commander", "register").status_code == 403
    assert httpx.post(f"{incident_city.base}/api/v1/incidents/{incident}/transitions", json={"action": "register"}).status_code == 401
    assert act(incident_city, incident, "supervisor", "close").status_code == 409
    assert act(incident_city, incident, "supervisor", "not_register").status_code == 400  # no reason
    assert act(incident_city, incident, "supervisor", "fly").status_code == 400
    walk(incident_city, incident, [("supervisor", "register"), ("commander", "dispatch")])
    assert act(incident_city, incident, "drainage", "accept").status_code == 403  # not its incident
    walk(incident_city, incident, [("water", "accept")])
    assert act(incident_city, incident, "water", "handled").status_code == 400  # no photo


def test_verification_by_the_handler_is_refused(incident_city: IncidentCity) -> None:
    incident = file(incident_city).json()["id"]
    walk(incident_city, incident, [("supervisor", "register"), ("commander", "dispatch"), ("admin", "accept"),
                                   ("admin", "handled")])  # fmt: skip
    refused = act(incident_city, incident, "admin", "verify")
    assert refused.status_code == 403 and "another inspector" in refused.json()["description"]


def test_concurrent_transitions_cannot_both_succeed(incident_city: IncidentCity) -> None:
    for _ in range(3):
        incident = file(incident_city).json()["id"]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda a, i=incident: act(incident_city, i, "supervisor", a[0], reason=a[1]),
                                    [("register", None), ("not_register", "重复")]))  # fmt: skip
        assert sorted(r.status_code for r in answers) == [200, 409]
        stale = act(incident_city, incident, "supervisor", "merge", into=1, version=1)
        assert stale.status_code == 409


def test_returned_suspended_extension(incident_city: IncidentCity) -> None:
    incident = file(incident_city).json()["id"]
    walk(incident_city, incident, [("supervisor", "register"), ("commander", "dispatch")])
    assert act(incident_city, incident, "water", "return", reason="不属于本单位").json()["state"] == "returned"
    assert act(incident_city, incident, "commander", "dispatch", department="drainage").status_code == 200
    walk(incident_city, incident, [("drainage", "accept")])
    before = act(incident_city, incident, "drainage", "request_extension", reason="需要挖掘", extension_minutes=480)
    assert before.status_code == 200
    assert act(incident_city, incident, "drainage", "request_extension", reason="again", extension_minutes=60).status_code == 409
    approved = act(incident_city, incident, "commander", "approve_extension").json()
    assert approved["stage_due_at"] > before.json()["stage_due_at"]
    assert act(incident_city, incident, "commander", "suspend", reason="待改造工程").json()["state"] == "suspended"
    assert act(incident_city, incident, "commander", "resume").json()["state"] == "handling"


def test_events_are_immutable(incident_city: IncidentCity) -> None:
    from sqlalchemy.exc import DBAPIError

    for statement in ("UPDATE incidents.incident_event SET actor = 'x'", "DELETE FROM incidents.incident_event",
                      "TRUNCATE incidents.incident_event CASCADE"):  # fmt: skip
        with pytest.raises(DBAPIError, match="immutable"), incident_city.engine.begin() as conn:
            conn.execute(text(statement))


def test_duplicates_are_suggested_and_merged(incident_city: IncidentCity) -> None:
    spot = {"lon": 108.9512, "lat": 34.2655}
    first = file(incident_city, category_code="1104", location=spot).json()["id"]
    second = file(incident_city, category_code="1104", location={"lon": spot["lon"] + 0.0002, "lat": spot["lat"]}).json()
    assert first in [d["id"] for d in second["possible_duplicates"]]
    merged = httpx.post(f"{incident_city.base}/api/v1/incidents/{second['id']}/merge", json={"into": first},
                        headers=incident_city.auth("supervisor"))  # fmt: skip
    assert merged.status_code == 200 and merged.json()["state"] == "merged"
    third = file(incident_city, category_code="1104", location=spot).json()
    assert second["id"] not in [d["id"] for d in third["possible_duplicates"]]


def test_supervision_overdue_and_kpis(incident_city: IncidentCity) -> None:
    from spatial.incidents.filing import IncidentReport, file_incident
    from spatial.incidents.supervision import due_incidents

    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    old = file_incident(incident_city.engine, IncidentReport("0102", "旧案", *GUIYI), principal=None, now=long_ago)
    overdue = httpx.get(f"{incident_city.base}/api/v1/supervision/overdue", headers=incident_city.auth("viewer")).json()
    item = next(i for i in overdue["incidents"] if i["id"] == old.id)
    assert item["level"] == "overdue" and item["working_minutes_left"] < 0
    assert httpx.get(f"{incident_city.base}/api/v1/supervision/overdue").status_code == 401
    with incident_city.engine.connect() as conn:
        soon = due_incidents(conn, now=old.register_due_at - dt.timedelta(minutes=3))
    assert any(i["id"] == old.id and i["level"] == "warning" for i in soon)
    kpis = httpx.get(f"{incident_city.base}/api/v1/supervision/kpis", params={"by": "department"},
                     headers=incident_city.auth("viewer")).json()  # fmt: skip
    water = next(g for g in kpis["groups"] if g["key"] == "water")
    assert water["closed"] >= 1 and 0 < water["closure_rate"] <= 1 and water["rework_rate"] > 0
    assert water["mean_handling_hours"] is not None and "应结案数" in kpis["formulas"]["closure_rate"]
    for by in ("district", "street", "community", "cell", "inspector"):
        groups = httpx.get(f"{incident_city.base}/api/v1/supervision/kpis", params={"by": by},
                           headers=incident_city.auth("viewer")).json()["groups"]  # fmt: skip
        assert groups and all(g["registered"] >= 1 for g in groups)


def test_incidents_and_grid_are_ogc_collections(incident_city: IncidentCity) -> None:
    file(incident_city, reporter_name="王小明", reporter_contact="13800000000")
    public = httpx.get(f"{incident_city.base}/ogc/collections/incidents/items", params={"limit": 50}).json()
    assert public["features"] and all("reporter_name" not in f["properties"] for f in public["features"])
    assert "13800000000" not in str(public)
    assert httpx.get(f"{incident_city.base}/ogc/collections/incidents_internal/items").status_code == 404
    staff = httpx.get(f"{incident_city.base}/ogc/collections/incidents_internal/items", params={"limit": 500},
                      headers=incident_city.auth("viewer")).json()  # fmt: skip
    assert "13800000000" in str(staff)
    grid = httpx.get(f"{incident_city.base}/ogc/collections/unit_grid/items", params={"limit": 5}).json()
    assert len(grid["features"][0]["properties"]["code"]) == 15


def test_grid_code_endpoint(incident_city: IncidentCity) -> None:
    body = httpx.get(f"{incident_city.base}/api/v1/grid/code", params={"lon": GUIYI[0], "lat": GUIYI[1], "level": "1m"}).json()
    assert body["geo_grid"]["code"] == "1108345165" and len(body["unit_cell"]["code"]) == 15
    assert httpx.get(f"{incident_city.base}/api/v1/grid/code", params={"lon": 1}).status_code == 400
