"""Incidents at hotline scale (migration 0013): month partitions, a case across months through the
whole workflow, detach/attach of a closed month, KPI rollups equal to the event-log query, and the
migration converting a database that has incidents (and back)."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import psycopg
import pytest
from sqlalchemy import text

from spatial.access.principal import Principal
from spatial.db import libpq_url, make_engine
from spatial.errors import Conflict, InvalidInput, NotFound
from spatial.incidents.calendar import default_calendar
from spatial.incidents.categories import list_categories
from spatial.incidents.filing import IncidentReport, file_incident
from spatial.incidents.kpis import GROUPS, kpis
from spatial.incidents.partitions import (
    attach_month,
    create_partitions,
    detach_month,
    list_partitions,
)
from spatial.incidents.photos import check_photo
from spatial.incidents.workflow import TransitionRequest, transition
from tests.incidents.conftest import GUIYI, png_bytes

SUPERVISOR = Principal(name="值班员 (partitions test)", role="editor", department_code="supervision")
COMMANDER = Principal(name="调度员 (partitions test)", role="editor", department_code="command")
INSPECTOR = Principal(name="监督员 A (partitions test)", role="inspector", department_code="supervision")
VERIFIER = Principal(name="监督员 B (partitions test)", role="inspector", department_code="supervision")
UTC = dt.UTC


def month_start(moment: dt.datetime, back: int = 0) -> dt.datetime:
    """The first instant (UTC) of the month ``back`` months before ``moment``'s."""
    year, month = moment.year, moment.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return dt.datetime(year, month, 1, tzinfo=UTC)


def where(conn, table: str, column: str, value: int) -> str:
    return conn.execute(text(f"SELECT tableoid::regclass::text FROM incidents.{table} WHERE {column} = :v"),
                        {"v": value}).scalar_one()  # fmt: skip


@pytest.fixture(scope="module")
def city(incident_city):
    return incident_city


@pytest.fixture(scope="module")
def category(city) -> dict:
    with city.engine.connect() as conn:
        return next(c for c in list_categories(conn) if c["kind"] == "event")


def handler_of(city, incident_id: int) -> Principal:
    with city.engine.connect() as conn:
        department = conn.execute(text("SELECT department_code FROM incidents.incident WHERE id = :i"),
                                  {"i": incident_id}).scalar_one()  # fmt: skip
    return Principal(name=f"{department} 处置员 (partitions test)", role="editor", department_code=department)


def file(city, category: dict, at: dt.datetime, note: str = "") -> int:
    report = IncidentReport(category_code=category["code"], description=f"partitions test {note}", lon=GUIYI[0],
                            lat=GUIYI[1], source="inspector", reported_at=at)  # fmt: skip
    return file_incident(city.engine, report, principal=INSPECTOR, now=at).id


def work(city, incident_id: int, steps: list[tuple[str, dt.datetime]], **options) -> None:
    """Take the case through ``steps`` (action, moment), each by the office it needs."""
    photo = check_photo(png_bytes(), "fixed.png")
    for action, at in steps:
        actor = {"register": SUPERVISOR, "not_register": SUPERVISOR, "close": SUPERVISOR, "merge": SUPERVISOR,
                 "dispatch": COMMANDER, "suspend": COMMANDER, "resume": COMMANDER, "approve_extension": COMMANDER,
                 "verify": VERIFIER, "rework": VERIFIER}.get(action) or handler_of(city, incident_id)  # fmt: skip
        request = TransitionRequest(
            action=action, photos=[photo] if action == "handled" else [],
            reason="test" if action in ("not_register", "rework", "suspend", "request_extension", "return") else None,
            extension_minutes=480 if action == "request_extension" else None,
            merge_into=options.get("merge_into") if action == "merge" else None,
            department=options.get("department") if action == "dispatch" else None,
        )  # fmt: skip
        transition(city.engine, incident_id, request, principal=actor, now=at)


FULL = ("register", "dispatch", "accept", "handled", "verify", "close")


def test_rows_land_in_their_month_partition_and_a_missing_month_is_made_later(city, category) -> None:
    now = dt.datetime.now(UTC)
    fresh = file(city, category, now - dt.timedelta(minutes=5), "now")
    old = month_start(now, 20) + dt.timedelta(days=10, hours=3)
    early = file(city, category, old, "20 months ago")  # no partition yet: the DEFAULT one holds it
    with city.engine.connect() as conn:
        assert where(conn, "incident", "id", fresh) == f"incidents_part.incident_y{now:%Y}m{now:%m}"
        assert where(conn, "incident_event", "incident_id", fresh) == f"incidents_part.incident_event_y{now:%Y}m{now:%m}"
        assert where(conn, "incident_public", "id", fresh) == f"incidents_part.incident_public_y{now:%Y}m{now:%m}"
        assert where(conn, "incident", "id", early) == "incidents_part.incident_default"
        assert list_partitions(conn)["default_rows"]["incident"] >= 1
    assert create_partitions(city.engine, 1, first=old.date()) == 4
    with city.engine.connect() as conn:
        assert where(conn, "incident", "id", early) == f"incidents_part.incident_y{old:%Y}m{old:%m}"
        assert where(conn, "incident_event", "incident_id", early) == f"incidents_part.incident_event_y{old:%Y}m{old:%m}"
        listing = list_partitions(conn)
        left = conn.execute(text("SELECT count(*) FROM incidents_part.incident_default WHERE reported_at >= :a "
                                 "AND reported_at < :a + interval '1 month'"), {"a": month_start(old)}).scalar_one()  # fmt: skip
    assert left == 0  # other tests' back-dated filings of other months may wait there
    assert f"{old:%Y-%m}" in {m["month"] for m in listing["months"]}
    assert create_partitions(city.engine, 1, first=old.date()) == 0  # there already
    with pytest.raises(InvalidInput, match="between 1 and"):
        create_partitions(city.engine, 0)
    work(city, early, [("not_register", old + dt.timedelta(hours=1))])


def test_a_case_across_months_goes_through_the_whole_workflow(city, category) -> None:
    now = dt.datetime.now(UTC)
    reported = month_start(now, 1) + dt.timedelta(days=20, hours=2)  # last month
    create_partitions(city.engine, 2, first=reported.date())
    case = file(city, category, reported, "across months")
    listener = psycopg.connect(libpq_url(city.url), autocommit=True)
    listener.execute("LISTEN onemap_incident_event")
    work(city, case, [("register", reported + dt.timedelta(hours=1))])
    steps = [("dispatch", now - dt.timedelta(minutes=50)), ("accept", now - dt.timedelta(minutes=40)),
             ("request_extension", now - dt.timedelta(minutes=35)), ("approve_extension", now - dt.timedelta(minutes=34)),
             ("handled", now - dt.timedelta(minutes=30)), ("rework", now - dt.timedelta(minutes=25)),
             ("handled", now - dt.timedelta(minutes=20)), ("verify", now - dt.timedelta(minutes=10)),
             ("close", now - dt.timedelta(minutes=5))]  # fmt: skip
    work(city, case, steps)
    with city.engine.connect() as conn:
        parts = conn.execute(text("SELECT tableoid::regclass::text, action FROM incidents.incident_event "
                                  "WHERE incident_id = :i ORDER BY at, id"), {"i": case}).all()  # fmt: skip
        row = conn.execute(text("SELECT state, version, tableoid::regclass::text FROM incidents.incident WHERE id = :i"),
                           {"i": case}).one()  # fmt: skip
    assert [a for _, a in parts] == ["report", "register", *(a for a, _ in steps)]
    assert {p for p, a in parts if a in ("report", "register")} == {f"incidents_part.incident_event_y{reported:%Y}m{reported:%m}"}
    assert {p for p, a in parts if a == "close"} == {f"incidents_part.incident_event_y{now:%Y}m{now:%m}"}
    assert row[0] == "closed" and row[1] == 2 + len(steps) and row[2].endswith(f"y{reported:%Y}m{reported:%m}")
    # NOTIFY per event, after each commit
    notes = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=len(steps) + 1)]
    listener.close()
    assert [n["action"] for n in notes if n["incident_id"] == case] == ["register", *(a for a, _ in steps)]
    # the guarantees the workflow relies on: stale version, four eyes, immutable events, references
    second = file(city, category, reported + dt.timedelta(hours=3), "stale")
    with pytest.raises(Conflict):
        transition(city.engine, second, TransitionRequest("register", expected_version=7), principal=SUPERVISOR)
    work(city, second, [("register", now - dt.timedelta(minutes=4)), ("dispatch", now - dt.timedelta(minutes=3)),
                        ("accept", now - dt.timedelta(minutes=2)), ("handled", now - dt.timedelta(minutes=1))])  # fmt: skip
    handler = handler_of(city, second)
    as_inspector = Principal(name=handler.name, role="inspector", department_code="supervision")
    with pytest.raises(Exception, match="recorded the handling"):
        transition(city.engine, second, TransitionRequest("verify"), principal=as_inspector)
    with city.engine.begin() as conn, pytest.raises(Exception, match="immutable"):
        conn.execute(text("UPDATE incidents.incident_event SET actor = 'x' WHERE incident_id = :i"), {"i": case})
    with city.engine.begin() as conn, pytest.raises(Exception, match="immutable"):
        conn.execute(text(f"TRUNCATE incidents_part.incident_event_y{now:%Y}m{now:%m}"))
    with city.engine.begin() as conn, pytest.raises(Exception, match="no incident"):
        conn.execute(text("INSERT INTO incidents.incident_event (incident_id, action, to_state, actor, detail) "
                          "VALUES (-1, 'x', 'reported', 'x', '{}')"))  # fmt: skip
    with city.engine.begin() as conn, pytest.raises(Exception, match="no event"):
        conn.execute(text("INSERT INTO incidents.photo (incident_id, event_id, stage, content_type, size_bytes, width, "
                          "height, data) VALUES (:i, -1, 'report', 'image/png', 1, 1, 1, 'x')"), {"i": case})  # fmt: skip
    with city.engine.begin() as conn, pytest.raises(Exception, match="never deleted"):
        conn.execute(text("DELETE FROM incidents.incident WHERE id = :i"), {"i": case})
    answer = httpx.get(f"{city.base}/api/v1/incidents/{case}", headers=city.auth("supervisor"), timeout=30)
    assert answer.status_code == 200 and answer.json()["state"] == "closed"


def test_detach_a_closed_month_and_attach_it_back(city, category) -> None:
    now = dt.datetime.now(UTC)
    first = month_start(now, 14)
    create_partitions(city.engine, 1, first=first.date())
    closed = file(city, category, first + dt.timedelta(days=3, hours=1), "archive")
    work(city, closed, [(a, first + dt.timedelta(days=4 + n)) for n, a in enumerate(FULL)])
    still_open = file(city, category, first + dt.timedelta(days=5), "open")
    month = f"{first:%Y-%m}"
    with pytest.raises(Conflict, match="1 open case"):
        detach_month(city.engine, month)
    with pytest.raises(Conflict, match="current month"):
        detach_month(city.engine, f"{now:%Y-%m}")
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        detach_month(city.engine, "2026-13")
    with pytest.raises(NotFound):
        detach_month(city.engine, "1999-01")
    work(city, still_open, [("not_register", first + dt.timedelta(days=6))])
    done = detach_month(city.engine, month)
    assert done["rows"]["incident"] == 2 and done["rows"]["incident_event"] == 2 + len(FULL) + 1
    with city.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM incidents.incident WHERE id IN (:a, :b)"),
                            {"a": closed, "b": still_open}).scalar_one() == 0  # fmt: skip
        archived = conn.execute(text(f"SELECT count(*) FROM incidents_archive.incident_y{first:%Y}m{first:%m}")).scalar_one()
        assert archived == 2
        assert {m["month"]: m["status"] for m in list_partitions(conn)["months"]}[month] == "detached"
    with city.engine.begin() as conn, pytest.raises(Exception, match="immutable"):
        conn.execute(text(f"DELETE FROM incidents_archive.incident_event_y{first:%Y}m{first:%m}"))
    with pytest.raises(Conflict, match="already detached"):
        detach_month(city.engine, month)
    assert httpx.get(f"{city.base}/api/v1/incidents/{closed}", headers=city.auth("supervisor"), timeout=30).status_code == 404
    attach_month(city.engine, month)
    with pytest.raises(Conflict, match="attached already"):
        attach_month(city.engine, month)
    with city.engine.connect() as conn:
        assert where(conn, "incident", "id", closed) == f"incidents_part.incident_y{first:%Y}m{first:%m}"
        assert conn.execute(text("SELECT count(*) FROM incidents.incident_event WHERE incident_id = :i"),
                            {"i": closed}).scalar_one() == 1 + len(FULL)  # fmt: skip


def test_rollup_kpis_equal_the_event_log_kpis(city, category) -> None:
    now = dt.datetime.now(UTC)
    base = month_start(now, 2) + dt.timedelta(days=2)
    create_partitions(city.engine, 3, first=base.date())
    ids = [file(city, category, base + dt.timedelta(days=n, hours=1), f"kpi {n}") for n in range(7)]
    day = dt.timedelta(days=1)
    work(city, ids[0], [(a, base + dt.timedelta(days=1 + 3 * n)) for n, a in enumerate(FULL)])  # slow: overdue
    work(city, ids[1], [("register", base + 2 * day), ("dispatch", base + 2 * day + dt.timedelta(hours=1)),
                        ("suspend", base + 3 * day)])  # parked  # fmt: skip
    work(city, ids[2], [("register", base + 3 * day), ("dispatch", base + 4 * day), ("accept", base + 5 * day),
                        ("request_extension", base + 6 * day), ("approve_extension", base + 6 * day + dt.timedelta(hours=1)),
                        ("handled", base + 20 * day), ("rework", base + 21 * day), ("handled", base + 22 * day),
                        ("verify", base + 40 * day), ("close", base + 41 * day)])  # closes the month after  # fmt: skip
    work(city, ids[3], [("merge", base + 5 * day)], merge_into=ids[4])
    work(city, ids[4], [("register", base + 6 * day), ("dispatch", base + 7 * day, ), ("return", base + 8 * day)])
    work(city, ids[4], [("dispatch", base + 9 * day)], department="water")  # another department now
    work(city, ids[5], [("register", base + 9 * day), ("dispatch", base + 10 * day), ("suspend", base + 11 * day),
                        ("resume", base + 30 * day)])  # fmt: skip
    work(city, ids[6], [("register", base + 12 * day)])
    zone = default_calendar().zone
    local = now.astimezone(zone)
    months = []
    for back in range(4):
        start = month_start(local, back).replace(tzinfo=zone)
        months.append((start, month_start(start + dt.timedelta(days=40), 1).replace(tzinfo=zone)))
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    periods = [*months, (None, today + dt.timedelta(days=1)), (today - dt.timedelta(days=45), today)]
    with city.engine.connect() as conn:
        compared = 0
        for since, until in periods:
            for by in GROUPS:
                plain = kpis(conn, by, since=since, until=until, source="plain")
                rolled = kpis(conn, by, since=since, until=until, source="rollup")
                assert rolled == plain, (by, since, until)
                compared += len(plain)
        assert compared >= 8
        # not on local midnights: the event log answers (auto), the rollup alone refuses
        odd = today - dt.timedelta(hours=5)
        assert kpis(conn, "department", since=odd, until=now) == kpis(conn, "department", since=odd, until=now,
                                                                       source="plain")  # fmt: skip
        with pytest.raises(InvalidInput, match="local midnight"):
            kpis(conn, "department", since=odd, until=now, source="rollup")
    answer = httpx.get(f"{city.base}/api/v1/supervision/kpis", headers=city.auth("supervisor"), timeout=60,
                       params={"by": "street", "since": months[1][0].isoformat(), "until": months[1][1].isoformat()})  # fmt: skip
    assert answer.status_code == 200
    with city.engine.connect() as conn:
        expected = kpis(conn, "street", since=months[1][0], until=months[1][1], source="plain")
    assert answer.json()["groups"] == json.loads(json.dumps(expected, default=str))


def test_the_migration_converts_a_database_with_incidents_and_back(make_database) -> None:
    from alembic.script import ScriptDirectory

    from spatial import migrate

    engine = make_engine(make_database("onemap_partitions"), pool_size=2)
    script = ScriptDirectory.from_config(migrate.alembic_config(engine)).get_revision("0013_incident_partitions")
    before = str(script.down_revision)
    migrate.upgrade(engine, before)
    seed = """
    INSERT INTO catalog.department (code, name_zh, name_en) VALUES ('water', '水务', 'Water') ON CONFLICT DO NOTHING;
    INSERT INTO incidents.category (code, kind, major_code, major_name_zh, major_name_en, name_zh, name_en,
        department_code, time_limits, catalogue_version, active)
    VALUES ('1101', 'event', '11', '市容', 'Streets', '积水', 'Flooding', 'water', '{}', 'v1', true);
    INSERT INTO incidents.incident (id, category_code, description, source, reported_at, location_source,
        department_code, routing, routing_flagged, state, version, extension_minutes, rework_count, geom, reported_by)
    SELECT n, '1101', 'old', 'inspector', timestamptz '2026-01-10 02:00Z' + (n * interval '15 days'), 'point',
           'water', '{}', false, CASE WHEN n < 3 THEN 'closed' ELSE 'registered' END, 1, 0, 0,
           ST_SetSRID(ST_MakePoint(108.9, 34.2), 4326), 'a'
    FROM generate_series(1, 4) n;
    INSERT INTO incidents.incident_event (incident_id, at, action, from_state, to_state, actor, detail)
    SELECT i.id, i.reported_at + s.h * interval '1 hour', s.action, NULL, s.action, 'x',
           CASE WHEN s.action = 'dispatch' THEN jsonb_build_object('handle_due_at', i.reported_at + interval '3 days')
                ELSE '{}' END
    FROM incidents.incident i CROSS JOIN (VALUES (0, 'report'), (1, 'register'), (2, 'dispatch'), (50, 'handled'),
        (60, 'verify'), (400, 'close')) s(h, action)
    WHERE i.state = 'closed' OR s.h < 2;
    INSERT INTO incidents.photo (incident_id, event_id, stage, content_type, size_bytes, width, height, data)
    SELECT incident_id, id, 'handled', 'image/png', 1, 1, 1, 'x' FROM incidents.incident_event WHERE action = 'handled';
    SELECT setval('incidents.incident_id_seq', 4);
    """
    with engine.begin() as conn:
        for statement in seed.split(";"):
            if statement.strip():
                conn.execute(text(statement))
        counts = [conn.execute(text(f"SELECT count(*) FROM incidents.{t}")).scalar_one()
                  for t in ("incident", "incident_event", "incident_public", "photo")]  # fmt: skip
    migrate.upgrade(engine)
    with engine.begin() as conn:
        assert [conn.execute(text(f"SELECT count(*) FROM incidents.{t}")).scalar_one()
                for t in ("incident", "incident_event", "incident_public", "photo")] == counts  # fmt: skip
        assert where(conn, "incident", "id", 1) == "incidents_part.incident_y2026m01"
        assert where(conn, "incident", "id", 3) == "incidents_part.incident_y2026m02"
        assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'incidents.incident'::regclass")).scalar_one() == "p"
        zone = default_calendar().zone
        for by in ("department", "inspector"):
            since, until = dt.datetime(2026, 1, 1, tzinfo=zone), dt.datetime(2026, 3, 1, tzinfo=zone)
            plain = kpis(conn, by, since=since, until=until, source="plain")
            assert kpis(conn, by, since=since, until=until, source="rollup") == plain and plain[0]["closed"] == 2
        new_id = conn.execute(text(
            "INSERT INTO incidents.incident (category_code, description, source, reported_at, location_source, "
            "department_code, routing, routing_flagged, state, version, extension_minutes, rework_count, geom) "
            "VALUES ('1101', 'new', 'public', now(), 'point', 'water', '{}', false, 'reported', 1, 0, 0, "
            "ST_SetSRID(ST_MakePoint(108.9, 34.2), 4326)) RETURNING id"
        )).scalar_one()  # fmt: skip
        assert new_id == 5
    migrate.downgrade(engine, before)
    with engine.connect() as conn:
        assert [conn.execute(text(f"SELECT count(*) FROM incidents.{t}")).scalar_one()
                for t in ("incident", "incident_event", "incident_public", "photo")] == [counts[0] + 1, counts[1], counts[2] + 1, counts[3]]  # fmt: skip
        assert conn.execute(text("SELECT relkind FROM pg_class WHERE oid = 'incidents.incident'::regclass")).scalar_one() == "r"
        assert conn.execute(text("SELECT count(*) FROM pg_constraint WHERE conname = 'fk_incident_event_incident_id'")).scalar_one() == 1
    migrate.upgrade(engine)
    engine.dispose()


def test_concurrent_transitions_keep_the_rollup_exact(city, category) -> None:
    from concurrent.futures import ThreadPoolExecutor

    now = dt.datetime.now(UTC)
    ids = [file(city, category, now - dt.timedelta(minutes=30), f"concurrent {n}") for n in range(12)]
    for action in ("register", "dispatch", "accept"):
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda i, a=action: work(city, i, [(a, dt.datetime.now(UTC))]), ids))
    zone = default_calendar().zone
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    with city.engine.connect() as conn:
        for by in GROUPS:
            until = today + dt.timedelta(days=1)
            plain = kpis(conn, by, since=today, until=until, source="plain")
            assert kpis(conn, by, since=today, until=until, source="rollup") == plain
        assert sum(g["registered"] for g in kpis(conn, "department", since=today, until=until)) >= 12
