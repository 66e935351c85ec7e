"""The incidents API of the faces (issue 16) over real HTTP: the queue, the assigned verifier, the
event stream, KPIs and the trend; bad input at every new door is a 4xx and changes nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.fingerprint import fingerprint
from tests.incidents.conftest import GUIYI, IncidentCity
from tests.incidents.test_incidents import act, handled

QUEUE = "/api/v1/incidents"


def file(city: IncidentCity, role: str = "inspector", description: str = "井盖破损", **fields) -> int:
    body = {"category_code": "0101", "description": description, "location": {"lon": GUIYI[0], "lat": GUIYI[1]},
            "source": "inspector" if role.startswith("inspector") else "hotline"} | fields  # fmt: skip
    answer = httpx.post(f"{city.base}/api/v1/incidents", json=body, headers=city.auth(role), timeout=30)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def queue(city: IncidentCity, role: str | None = "supervisor", **params) -> httpx.Response:
    headers = city.auth(role) if role else {}
    return httpx.get(f"{city.base}{QUEUE}", params=params, headers=headers, timeout=30)


def ids(answer: httpx.Response) -> set[int]:
    assert answer.status_code == 200, answer.text
    return {row["id"] for row in answer.json()["incidents"]}


def expected(city: IncidentCity, where: str, **params) -> set[int]:
    with city.engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(text(f"SELECT id FROM incidents.incident i WHERE {where}"), params)}


def to_handled(city: IncidentCity, incident: int, handler: str = "water") -> None:
    for role, action in (("supervisor", "register"), ("commander", "dispatch"), (handler, "accept")):
        assert act(city, incident, role, action).status_code == 200
    assert handled(city, incident, handler).status_code == 200


@pytest.fixture(scope="module")
def marked(incident_city: IncidentCity) -> dict[str, int]:
    """A few incidents in known states, with a description to find them by."""
    fresh = file(incident_city, description="队列测试 fresh 独特")
    registered = file(incident_city, description="队列测试 registered")
    assert act(incident_city, registered, "supervisor", "register").status_code == 200
    hotline = file(incident_city, role="supervisor", description="队列测试 hotline", category_code="1102")
    return {"fresh": fresh, "registered": registered, "hotline": hotline}


# ------------------------------------------------------------------------------ the queue
def test_queue_rows_carry_the_contract_fields(incident_city: IncidentCity, marked: dict[str, int]) -> None:
    answer = queue(incident_city, q="队列测试 fresh")
    body = answer.json()
    assert answer.status_code == 200 and body["numberMatched"] == 1 and body["limit"] == 50 and body["offset"] == 0
    row = body["incidents"][0]
    assert set(row) >= {"id", "state", "stage", "category_code", "category_name_zh", "category_name_en", "kind",
                        "description", "lon", "lat", "address", "street_code", "street_name", "community_code",
                        "community_name", "cell_code", "department", "department_name_zh", "reported_at", "due_at",
                        "light", "version", "source", "reporter", "verifier", "photo_count"}  # fmt: skip
    assert row["id"] == marked["fresh"] and row["state"] == "reported" and row["stage"] == "register"
    assert row["street_name"] and row["community_name"] and row["department_name_zh"] and row["category_name_zh"]
    assert row["reporter"] == "inspector" and row["verifier"] is None and row["photo_count"] == 0
    assert row["light"] in ("green", "yellow", "red") and row["kind"] in ("component", "event")


@pytest.mark.parametrize(("params", "where"), [
    ({"state": "registered"}, "state = 'registered'"),
    ({"state": "reported,registered"}, "state IN ('reported', 'registered')"),
    ({"stage": "dispatch"}, "stage = 'dispatch'"),
    ({"department": "water"}, "department_code = 'water'"),
    ({"category": "1102"}, "category_code = '1102'"),
    ({"category": "01"}, "category_code LIKE '01%'"),
    ({"light": "red"}, "stage IS NOT NULL AND stage_due_at < now()"),
    ({"light": "green,yellow"}, "stage IS NOT NULL AND stage_due_at >= now()"),
    ({"state": "closed,merged,not_registered"}, "state IN ('closed', 'merged', 'not_registered')"),
])  # fmt: skip
def test_queue_filters_return_exactly_the_matches(incident_city: IncidentCity, marked: dict[str, int], params: dict,
                                                 where: str) -> None:  # fmt: skip
    answer = queue(incident_city, limit=500, **params)
    assert ids(answer) == expected(incident_city, where)
    assert answer.json()["numberMatched"] == len(expected(incident_city, where))


def test_queue_by_street_community_and_bbox(incident_city: IncidentCity, marked: dict[str, int]) -> None:
    with incident_city.engine.connect() as conn:
        street, community = conn.execute(text("SELECT street_code, community_code FROM incidents.incident "
                                              "WHERE id = :id"), {"id": marked["fresh"]}).one()  # fmt: skip
    assert ids(queue(incident_city, street=street, limit=500)) == expected(incident_city, "street_code = :s", s=street)
    assert ids(queue(incident_city, community=community, limit=500)) == \
        expected(incident_city, "community_code = :c", c=community)  # fmt: skip
    box = f"{GUIYI[0] - 0.001},{GUIYI[1] - 0.001},{GUIYI[0] + 0.001},{GUIYI[1] + 0.001}"
    inside = expected(incident_city, "geom && ST_MakeEnvelope(:a, :b, :c, :d, 4326)", a=GUIYI[0] - 0.001,
                      b=GUIYI[1] - 0.001, c=GUIYI[0] + 0.001, d=GUIYI[1] + 0.001)  # fmt: skip
    assert marked["fresh"] in inside and ids(queue(incident_city, bbox=box, limit=500)) == inside
    assert ids(queue(incident_city, bbox="0,0,1,1")) == set()


def test_queue_pages_and_sorts(incident_city: IncidentCity, marked: dict[str, int]) -> None:
    total = queue(incident_city, limit=500).json()["numberMatched"]
    assert total >= 3
    seen: list[int] = []
    for offset in range(0, total, 2):
        page = queue(incident_city, limit=2, offset=offset).json()
        assert page["numberMatched"] == total and len(page["incidents"]) <= 2
        seen += [row["id"] for row in page["incidents"]]
    assert len(seen) == total == len(set(seen))
    beyond = queue(incident_city, limit=2, offset=total + 10).json()
    assert beyond["incidents"] == [] and beyond["numberMatched"] == total
    due = [row["due_at"] for row in queue(incident_city, sort="due", state="reported,registered", limit=500).json()["incidents"]]
    assert due == sorted(due)


def test_mine_reported_lists_only_the_callers_filings(incident_city: IncidentCity, marked: dict[str, int]) -> None:
    mine = ids(queue(incident_city, "supervisor", mine="reported", limit=500))
    assert marked["hotline"] in mine and marked["fresh"] not in mine
    assert mine == expected(incident_city, "reported_by = 'supervisor'")
    viewer = queue(incident_city, "viewer", mine="reported")
    assert viewer.status_code == 200 and viewer.json()["numberMatched"] == 0


def test_queue_needs_credentials(incident_city: IncidentCity) -> None:
    answer = queue(incident_city, None)
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert queue(incident_city, None, mine="reported").status_code == 401


@pytest.mark.parametrize(("params", "words"), [
    ({"limit": "501"}, "limit"), ({"limit": "0"}, "limit"), ({"limit": "nan"}, "limit"), ({"limit": "1e400"}, "limit"),
    ({"limit": "²"}, "limit"), ({"offset": "-1"}, "offset"), ({"offset": "1e400"}, "offset"),
    ({"state": "open"}, "registered"), ({"stage": "x"}, "dispatch"), ({"light": "blue"}, "red, yellow, green"),
    ({"mine": "all"}, "reported"), ({"sort": "id; DROP TABLE x"}, "-reported"), ({"bbox": "nan,inf,1,2"}, "bbox"),
    ({"bbox": "5,5,1,1"}, "bbox"), ({"q": "<script>alert(1)</script>"}, "q"), ({"street": "'; DROP TABLE x; --"}, "street"),
    ({"q": "x" * 101}, "q"), ({"mine": "reported,verify"}, "mine"),
])  # fmt: skip
def test_queue_refuses_bad_input(incident_city: IncidentCity, params: dict, words: str) -> None:
    before = fingerprint(incident_city.engine)
    answer = queue(incident_city, **params)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["description"]
    assert fingerprint(incident_city.engine) == before


def test_queue_in_the_openapi_document(incident_city: IncidentCity) -> None:
    document = httpx.get(f"{incident_city.base}/api/v1/openapi.json", timeout=30).json()
    for path in ("/api/v1/incidents", "/api/v1/supervision/stream", "/api/v1/supervision/trend"):
        assert "get" in document["paths"][path], path
        assert document["paths"][path]["get"]["summary"], path


# ------------------------------------------------------------------------------ the assigned verifier
def record(city: IncidentCity, incident: int) -> dict:
    answer = httpx.get(f"{city.base}/api/v1/incidents/{incident}", headers=city.auth("supervisor"), timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_assigned_verifier_alone_verifies(incident_city: IncidentCity) -> None:
    incident = file(incident_city, description="核查指派")
    to_handled(incident_city, incident)
    assert record(incident_city, incident)["verifier"] is None
    listed = httpx.get(f"{incident_city.base}/api/v1/incidents/inspectors", headers=incident_city.auth("supervisor"),
                       timeout=30).json()["inspectors"]  # fmt: skip
    assert {"inspector", "inspector2"} <= {i["name"] for i in listed}
    assert act(incident_city, incident, "commander", "assign_verifier", verifier="inspector2").status_code == 403
    answer = act(incident_city, incident, "supervisor", "assign_verifier", verifier="inspector2")
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "handled" and answer.json()["from_state"] == "handled"
    assert record(incident_city, incident)["verifier"] == "inspector2"
    row = queue(incident_city, q="核查指派").json()["incidents"][0]
    assert row["verifier"] == "inspector2"
    assert incident in ids(queue(incident_city, "inspector2", mine="verify", limit=500))
    assert incident not in ids(queue(incident_city, "inspector", mine="verify", limit=500))
    assert ids(queue(incident_city, "inspector2", mine="verify", limit=500)) == \
        expected(incident_city, "state = 'handled' AND verifier = 'inspector2'")  # fmt: skip
    before = record(incident_city, incident)["version"]
    other = act(incident_city, incident, "inspector", "verify")
    assert other.status_code == 403 and "inspector2" in other.json()["description"]
    assert act(incident_city, incident, "inspector", "rework", reason="再做").status_code == 403
    assert record(incident_city, incident)["version"] == before
    done = act(incident_city, incident, "inspector2", "verify")
    assert done.status_code == 200 and done.json()["state"] == "verified"
    assert incident not in ids(queue(incident_city, "inspector2", mine="verify", limit=500))


def test_the_handler_is_refused_even_when_assigned(incident_city: IncidentCity) -> None:
    incident = file(incident_city, description="四眼")
    to_handled(incident_city, incident, handler="admin")  # the admin recorded the handling
    refused = act(incident_city, incident, "supervisor", "assign_verifier", verifier="admin")
    assert refused.status_code == 400 and "admin" in refused.json()["description"]
    assert act(incident_city, incident, "supervisor", "assign_verifier", verifier="inspector").status_code == 200
    answer = act(incident_city, incident, "admin", "verify")  # an admin may act for the inspector, not on their own work
    assert answer.status_code == 403 and "核查" in answer.json()["description"]


@pytest.mark.parametrize("verifier", ["nobody", "supervisor", "viewer", "", "<script>alert(1)</script>", "x" * 300,
                                      ["inspector2"], {"name": "inspector2"}, 12, None])
def test_assign_verifier_refuses_who_is_not_an_inspector(incident_city: IncidentCity, verifier: str) -> None:
    incident = file(incident_city, description="无此监督员")
    to_handled(incident_city, incident)
    before = fingerprint(incident_city.engine)
    answer = act(incident_city, incident, "supervisor", "assign_verifier", verifier=verifier)
    assert answer.status_code == 400, answer.text
    assert "verifier" in answer.json()["description"]
    assert fingerprint(incident_city.engine) == before


def test_assign_verifier_only_when_handled(incident_city: IncidentCity) -> None:
    incident = file(incident_city, description="未处置")
    answer = act(incident_city, incident, "supervisor", "assign_verifier", verifier="inspector2")
    assert answer.status_code == 409 and "handled" in answer.json()["description"]


# ------------------------------------------------------------------------------ the event stream
STREAM = "/api/v1/supervision/stream"
EVENT_STREAM = {"Accept": "text/event-stream"}


def frames(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-sent event frames ({"event", "id", "data", "comment"}) as they arrive."""
    frame: dict[str, str] = {}
    for line in lines:
        if line == "":
            if frame:
                yield frame
            frame = {}
            continue
        field, _, value = line.partition(":")
        frame[field or "comment"] = value.removeprefix(" ")


def open_stream(client: httpx.Client, city: IncidentCity, base: str | None = None, role: str = "supervisor",
                **headers: str):  # fmt: skip
    return client.stream("GET", f"{base or city.base}{STREAM}", headers=city.auth(role) | EVENT_STREAM | headers)


def next_incident_frame(found: Iterator[dict[str, str]], incident: int) -> dict:
    for frame in found:
        if frame.get("event") == "incident" and json.loads(frame["data"])["incident_id"] == incident:
            return frame
    raise AssertionError("the stream ended before the event came")


def test_a_transition_arrives_as_an_event_and_resumes(incident_city: IncidentCity) -> None:
    incident = file(incident_city, description="直播")
    timeout = httpx.Timeout(30.0)
    with httpx.Client(timeout=timeout) as client, open_stream(client, incident_city) as answer:
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/event-stream")
        found = frames(answer.iter_lines())
        assert "retry" in next(found)  # the prelude: the feed listens from here on
        assert act(incident_city, incident, "supervisor", "register").status_code == 200
        frame = next_incident_frame(found, incident)
        data = json.loads(frame["data"])
        assert data["action"] == "register" and data["state"] == "registered" and frame["id"] == str(data["event_id"])
        assert set(data) == {"incident_id", "action", "state", "at", "event_id"}
    registered_at = int(frame["id"])
    assert act(incident_city, incident, "commander", "dispatch").status_code == 200  # while nobody listens
    with httpx.Client(timeout=timeout) as client, \
            open_stream(client, incident_city, **{"Last-Event-ID": str(registered_at)}) as answer:  # fmt: skip
        missed = json.loads(next_incident_frame(frames(answer.iter_lines()), incident)["data"])
        assert missed["action"] == "dispatch" and missed["event_id"] > registered_at


def test_the_feed_survives_a_lost_database_connection(incident_city: IncidentCity) -> None:
    incident = file(incident_city, description="断线")
    with httpx.Client(timeout=30) as client, open_stream(client, incident_city) as answer:
        found = frames(answer.iter_lines())
        assert "retry" in next(found)
        with incident_city.engine.begin() as conn:
            killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE query ILIKE 'LISTEN onemap_incident_event%'")).scalar_one()  # fmt: skip
        assert killed >= 1
        assert act(incident_city, incident, "supervisor", "register").status_code == 200
        data = json.loads(next_incident_frame(found, incident)["data"])  # live again, or caught up from the log
        assert data["action"] == "register"


def test_stream_needs_credentials_and_an_event_stream_client(incident_city: IncidentCity) -> None:
    anonymous = httpx.get(f"{incident_city.base}{STREAM}", headers=EVENT_STREAM, timeout=30)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    plain_get = httpx.get(f"{incident_city.base}{STREAM}", headers=incident_city.auth("supervisor"), timeout=30)
    assert plain_get.status_code == 406 and "text/event-stream" in plain_get.json()["description"]
    for bad in ("nan", "-1", "²", "99999999999999999999", "<script>"):
        answer = httpx.get(f"{incident_city.base}{STREAM}", timeout=30,
                           headers=incident_city.auth("supervisor") | EVENT_STREAM | {"Last-Event-ID": bad.encode()})  # fmt: skip
        assert answer.status_code == 400, (bad, answer.text)


@pytest.fixture(scope="module")
def tight_server(incident_city: IncidentCity) -> Iterator[str]:
    """The same city served with a budget of one stream, keep-alives every 0.2 s, streams of 3 s."""
    from tests.live import live_server

    settings = incident_city.settings.model_copy(update={"max_streams": 1, "stream_keepalive_s": 0.2,
                                                         "stream_max_s": 3.0})  # fmt: skip
    with live_server(settings) as base:
        yield base


def test_over_the_stream_budget_is_429(incident_city: IncidentCity, tight_server: str) -> None:
    with httpx.Client(timeout=30) as client, open_stream(client, incident_city, tight_server) as first:
        assert first.status_code == 200
        found = frames(first.iter_lines())  # held: a dropped iterator closes the connection
        assert "retry" in next(found)
        second = httpx.get(f"{tight_server}{STREAM}", headers=incident_city.auth("supervisor") | EVENT_STREAM,
                           timeout=30)  # fmt: skip
        assert second.status_code == 429 and int(second.headers["Retry-After"]) > 0
        assert "event streams" in second.json()["description"]
        assert next(found).get("comment") is not None  # the first one still streams


def test_a_stream_ends_at_its_duration_budget(incident_city: IncidentCity, tight_server: str) -> None:
    with httpx.Client(timeout=30) as client, open_stream(client, incident_city, tight_server) as answer:
        comments = [f.get("comment") for f in frames(answer.iter_lines())]
    assert "keepalive" in comments  # it kept the connection alive, then ended by itself


def test_revoking_the_token_ends_the_stream(incident_city: IncidentCity, tight_server: str) -> None:
    from spatial.access.principal import local_operator
    from spatial.access.tokens import create_token, revoke_tokens

    issued = create_token(incident_city.engine, department_code="supervision", role="editor", name="revoked_watcher",
                          actor=local_operator())  # fmt: skip
    headers = {"Authorization": f"Bearer {issued.secret}"} | EVENT_STREAM
    seen = []
    with httpx.Client(timeout=30) as client, client.stream("GET", f"{tight_server}{STREAM}", headers=headers) as answer:
        assert answer.status_code == 200
        for frame in frames(answer.iter_lines()):
            seen.append(frame)
            if frame.get("comment") == "keepalive" and len(seen) == 2:
                revoke_tokens(incident_city.engine, token_id=issued.id, actor=local_operator())
    assert seen[-1].get("event") == "end" and "credentials" in seen[-1]["data"]


# ------------------------------------------------------------------------------ KPIs and trend
def get(city: IncidentCity, path: str, role: str | None = "supervisor", **params) -> httpx.Response:
    return httpx.get(f"{city.base}{path}", params=params, headers=city.auth(role) if role else {}, timeout=60)


def test_kpis_by_inspector_count_filings_and_verifications(incident_city: IncidentCity) -> None:
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    first = get(incident_city, "/api/v1/supervision/kpis", by="inspector", since=since).json()
    before = {g["key"]: g for g in first["groups"]}
    work_before = {w["inspector"]: w for w in first["work"]}
    incident = file(incident_city, "inspector", description="考核")
    to_handled(incident_city, incident)
    assert act(incident_city, incident, "inspector2", "verify").status_code == 200
    answer = get(incident_city, "/api/v1/supervision/kpis", by="inspector", **{"from": since})
    assert answer.status_code == 200, answer.text
    groups = {g["key"]: g for g in answer.json()["groups"]}
    work = {w["inspector"]: w for w in answer.json()["work"]}
    assert groups["inspector"]["registered"] == before.get("inspector", {"registered": 0})["registered"] + 1
    assert work["inspector"]["filed"] == work_before.get("inspector", {"filed": 0})["filed"] + 1
    assert work["inspector2"]["verified"] == work_before.get("inspector2", {"verified": 0})["verified"] + 1
    for key in ("closure_rate", "on_time_closure_rate", "rework_rate", "mean_handling_hours"):
        assert key in groups["inspector"]
    for by in ("department", "street", "community", "cell", "district"):
        assert get(incident_city, "/api/v1/supervision/kpis", by=by).status_code == 200


def test_trend_counts_per_day(incident_city: IncidentCity) -> None:
    incident = file(incident_city, description="趋势")
    for role, action in (("supervisor", "not_register"),):
        assert act(incident_city, incident, role, action, reason="重复").status_code == 200
    today = dt.datetime.now(dt.UTC)
    answer = get(incident_city, "/api/v1/supervision/trend", since=(today - dt.timedelta(days=6)).date().isoformat(),
                 until=today.isoformat(), interval="day")  # fmt: skip
    assert answer.status_code == 200, answer.text
    days = answer.json()["days"]
    assert len(days) in (7, 8) and all(set(d) == {"day", "reported", "closed", "overdue_open"} for d in days)
    assert [d["day"] for d in days] == sorted(d["day"] for d in days)
    with incident_city.engine.connect() as conn:
        reported = conn.execute(text("SELECT count(*) FROM incidents.incident WHERE reported_at >= :s"),
                                {"s": dt.datetime.fromisoformat(days[0]["day"] + "T00:00:00+08:00")}).scalar_one()  # fmt: skip
    assert sum(d["reported"] for d in days) == reported
    assert get(incident_city, "/api/v1/supervision/trend").json()["interval"] == "day"


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/supervision/trend", {"since": "2020-01-01", "until": "2022-01-01"}),
    ("/api/v1/supervision/trend", {"since": "2024-05-02", "until": "2024-05-01"}),
    ("/api/v1/supervision/trend", {"interval": "hour"}),
    ("/api/v1/supervision/trend", {"since": "²"}),
    ("/api/v1/supervision/trend", {"since": "<script>alert(1)</script>"}),
    ("/api/v1/supervision/trend", {"since": "2024-01-01", "from": "2024-01-01"}),
    ("/api/v1/supervision/kpis", {"by": "<script>"}),
    ("/api/v1/supervision/kpis", {"from": "9999-99-99"}),
    ("/api/v1/incidents/inspectors", {}),
])  # fmt: skip
def test_new_supervision_doors_refuse_bad_input(incident_city: IncidentCity, path: str, params: dict) -> None:
    before = fingerprint(incident_city.engine)
    role = None if path.endswith("inspectors") else "supervisor"
    answer = get(incident_city, path, role, **params)
    assert answer.status_code == (401 if role is None else 400), answer.text
    assert fingerprint(incident_city.engine) == before
    if role is not None:
        assert get(incident_city, path, None, **params).status_code in (400, 401)
