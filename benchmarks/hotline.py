"""A hotline-scale incident history for the ``kpis`` benchmark: N incidents with their event logs
over the last ``months`` whole months, generated inside PostgreSQL (INSERT … SELECT over
generate_series, no Python loop per row) into its own database of the embedded cluster
(``onemap_hotline`` by default; never the demo database).

`python -m benchmarks.hotline --incidents 10000000` (default 200 000 for a quick run).

Each case follows the workflow's order with drawn delays: report → register (5 % not registered)
→ dispatch (with its handling deadline) → accept → handled (12 % rework, handled again) → verify
→ close; 3 % are suspended after dispatch; whatever falls after the end of the period has not
happened yet (open cases). Places are synthetic codes: 5 000 cells in 250 communities, 40 streets,
8 districts; categories and departments come from the shipped catalogue. The loading session runs
with ``session_replication_role = replica`` (no per-row triggers), then fills the public copy in
one statement and builds the KPI rollup with ``incidents.kpi_rebuild()``, timed apart.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import click
from sqlalchemy import Engine, text

from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import embedded_cluster, make_engine
from spatial.postgis import create_database, drop_database

DATABASE = "onemap_hotline"
DEFAULT_INCIDENTS = 200_000
CELLS, COMMUNITIES, STREETS, DISTRICTS, INSPECTORS = 5000, 250, 40, 8, 200

PLAN_SQL = """
CREATE UNLOGGED TABLE hotline_plan AS
WITH base AS (
    SELECT g AS id, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5,
           (g * 7919) % :cells AS cell,
           :first + (random() * extract(epoch FROM (:end - :first))) * interval '1 second' AS t0
    FROM generate_series(1, CAST(:n AS bigint)) g
),
steps AS (
    SELECT b.*, c.code AS category, c.department_code AS department,
           b.t0 + (0.2 + 4 * b.r1) * interval '1 hour' AS t_register,
           b.t0 + (1 + 10 * b.r2) * interval '1 hour' AS t_dispatch,
           b.t0 + (2 + 10 * b.r2) * interval '1 hour' AS t_accept,
           b.t0 + (3 + 10 * b.r2 + 100 * b.r3 * b.r3) * interval '1 hour' AS t_handled,
           b.t0 + (1 + 10 * b.r2 + 24 + 48 * b.r4) * interval '1 hour' AS due,
           b.r5 < 0.05 AS not_registered, b.r5 >= 0.05 AND b.r5 < 0.08 AS suspended,
           b.r4 < 0.12 AS reworked
    FROM base b
    JOIN (SELECT row_number() OVER (ORDER BY code) - 1 AS k, code, department_code FROM incidents.category) c
      ON c.k = (b.id * 104729) % (SELECT count(*) FROM incidents.category)
)
SELECT s.*,
       CASE WHEN s.reworked THEN s.t_handled + interval '2 hours' END AS t_rework,
       CASE WHEN s.reworked THEN s.t_handled + interval '26 hours' END AS t_handled2,
       s.t_handled + CASE WHEN s.reworked THEN interval '30 hours' ELSE interval '4 hours' END AS t_verify,
       s.t_handled + CASE WHEN s.reworked THEN interval '33 hours' ELSE interval '7 hours' END AS t_close
FROM steps s
"""

# every step a case may take, in order: (step, action, at, from state, to state, taken); the last
# one taken before :end is the case's state
STEPS = """
CROSS JOIN LATERAL (VALUES
    (0, 'report', p.t0, NULL, 'reported', true),
    (1, 'not_register', p.t_register, 'reported', 'not_registered', p.not_registered),
    (2, 'register', p.t_register, 'reported', 'registered', NOT p.not_registered),
    (3, 'dispatch', p.t_dispatch, 'registered', 'dispatched', NOT p.not_registered),
    (4, 'suspend', p.t_accept, 'dispatched', 'suspended', p.suspended),
    (5, 'accept', p.t_accept, 'dispatched', 'handling', NOT p.not_registered AND NOT p.suspended),
    (6, 'handled', p.t_handled, 'handling', 'handled', NOT p.not_registered AND NOT p.suspended),
    (7, 'rework', p.t_rework, 'handled', 'handling', NOT p.not_registered AND NOT p.suspended AND p.reworked),
    (8, 'handled', p.t_handled2, 'handling', 'handled', NOT p.not_registered AND NOT p.suspended AND p.reworked),
    (9, 'verify', p.t_verify, 'handled', 'verified', NOT p.not_registered AND NOT p.suspended),
    (10, 'close', p.t_close, 'verified', 'closed', NOT p.not_registered AND NOT p.suspended)
) AS s(step, action, at, from_state, to_state, taken)
"""

INSERT_EVENTS = f"""
INSERT INTO incidents.incident_event (incident_id, at, action, from_state, to_state, actor, actor_role,
    department_code, due_at, detail)
SELECT p.id, s.at, s.action, s.from_state, s.to_state, 'hotline-generator', 'editor', p.department,
       CASE WHEN s.action = 'dispatch' THEN p.due END,
       CASE WHEN s.action = 'dispatch' THEN jsonb_build_object('handle_due_at', p.due) ELSE '{{}}'::jsonb END
FROM hotline_plan p {STEPS}
WHERE s.taken AND s.at < :end
ORDER BY p.id, s.step
"""

INSERT_INCIDENTS = f"""
INSERT INTO incidents.incident (id, category_code, description, source, reported_by, reported_at, created_at,
    updated_at, location_source, cell_code, community_code, street_code, district_code, department_code,
    routing, routing_flagged, state, version, stage, handle_due_at, extension_minutes, rework_count, closed_at,
    geom)
SELECT p.id, p.category, 'hotline generator', CASE WHEN p.r1 < 0.6 THEN 'inspector' WHEN p.r1 < 0.9 THEN 'hotline'
           ELSE 'public' END,
       CASE WHEN p.r1 < 0.6 THEN 'inspector ' || lpad(((p.id * 31) % :inspectors)::text, 3, '0') END,
       p.t0, p.t0, last.at, 'point',
       '610100' || lpad(p.cell::text, 9, '0'), '6101' || lpad((p.cell % :communities)::text, 8, '0'),
       '6101' || lpad((p.cell % :communities % :streets)::text, 5, '0'),
       '6101' || lpad((p.cell % :communities % :streets % :districts)::text, 2, '0'),
       p.department, '{{}}'::jsonb, false, last.to_state, last.steps, NULL,
       CASE WHEN p.t_dispatch < :end AND NOT p.not_registered THEN p.due END, 0,
       CASE WHEN p.reworked AND p.t_rework < :end AND NOT p.suspended AND NOT p.not_registered THEN 1 ELSE 0 END,
       CASE WHEN last.to_state = 'closed' THEN last.at END,
       ST_SetSRID(ST_MakePoint(108.80 + (p.cell % 71) * 0.004 + p.r2 * 0.003, 34.15 + (p.cell / 71) * 0.003
                               + p.r3 * 0.002), 4326)
FROM hotline_plan p
CROSS JOIN LATERAL (
    SELECT (array_agg(s.to_state ORDER BY s.step DESC))[1] AS to_state, max(s.at) AS at, count(*) AS steps
    FROM (SELECT 1) one {STEPS}
    WHERE s.taken AND s.at < :end
) last
"""

INSERT_PUBLIC = """
INSERT INTO incidents.incident_public (id, category_code, category_zh, category_en, status, state, description,
    address, department_code, cell_code, community_code, street_code, district_code, reported_at, updated_at,
    closed_at, geom)
SELECT i.id, i.category_code, c.name_zh, c.name_en,
       CASE WHEN i.state IN ('closed', 'not_registered', 'merged') THEN 'closed' ELSE 'open' END, i.state,
       i.description, i.address, i.department_code, i.cell_code, i.community_code, i.street_code, i.district_code,
       i.reported_at, i.updated_at, i.closed_at, i.geom
FROM incidents.incident i JOIN incidents.category c ON c.code = i.category_code
"""

SIZES_SQL = """
SELECT t, pg_size_pretty(s) AS pretty, s AS bytes FROM (
    SELECT t, (SELECT sum(pg_total_relation_size(i.inhrelid)) FROM pg_inherits i
               WHERE i.inhparent = ('incidents.' || t)::regclass) AS s
    FROM unnest(ARRAY['incident', 'incident_event', 'incident_public', 'kpi_rollup']) t
) sizes
"""


def hotline_url(name: str = DATABASE, *, fresh: bool = False) -> str:
    """The URL of the hotline database on the embedded cluster (created, migrated, catalogue loaded)."""
    from spatial import migrate
    from spatial.incidents.categories import load_catalogue, read_catalogue

    if name in ("onemap", (Settings().database_url or "").rsplit("/", 1)[-1]):
        raise click.UsageError(f"{name!r} is the demo database: the generator writes to its own database")
    state = embedded_cluster(Settings()).start()
    if fresh:
        drop_database(state, name)
    create_database(state, name)
    url = state.url(name)
    engine = make_engine(url, pool_size=1)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        has_categories = conn.execute(text("SELECT count(*) FROM incidents.category")).scalar_one() > 0
    if not has_categories:
        load_catalogue(engine, read_catalogue(), principal=local_operator())
    engine.dispose()
    return url


def generated(engine: Engine) -> dict[str, Any] | None:
    """What the last generation left (its parameters and timings), or None."""
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('public.hotline_run')")).scalar()
        if exists is None:
            return None
        row = conn.execute(text("SELECT info FROM public.hotline_run ORDER BY id DESC LIMIT 1")).scalar()
    return dict(row) if row else None


def generate(url: str, *, incidents: int = DEFAULT_INCIDENTS, months: int = 12,
             end: dt.date | None = None, echo: Any = print) -> dict[str, Any]:  # fmt: skip
    """Replace the hotline database's incidents with ``incidents`` generated ones; timings and sizes."""
    if incidents < 1:
        raise click.UsageError("--incidents must be at least 1")
    today = dt.datetime.now(dt.UTC).date()
    end_day = end or today.replace(day=1)
    first_day = end_day
    for _ in range(months):
        first_day = (first_day - dt.timedelta(days=1)).replace(day=1)
    first = dt.datetime.combine(first_day, dt.time(0), dt.UTC)
    stop = dt.datetime.combine(end_day, dt.time(0), dt.UTC)
    engine = make_engine(url, pool_size=1)
    params = {"n": incidents, "first": first, "end": stop, "cells": CELLS, "communities": COMMUNITIES,
              "streets": STREETS, "districts": DISTRICTS, "inspectors": INSPECTORS}  # fmt: skip
    timings: dict[str, float] = {}

    def step(name: str, sql: str, conn: Any) -> None:
        started = time.perf_counter()
        conn.execute(text(sql), params)
        timings[name] = round(time.perf_counter() - started, 2)
        echo(f"  {name}: {timings[name]} s")

    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))  # no per-row triggers while loading
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        for table in ("incident_public", "incident_event", "incident", "kpi_rollup"):
            conn.execute(text(f"TRUNCATE incidents.{table}"))  # the loader's session: triggers are off
        conn.execute(text("DROP TABLE IF EXISTS hotline_plan"))
        conn.execute(text("SELECT incidents.create_month_partitions(:first, :months)"),
                     {"first": first_day, "months": months + 4})  # fmt: skip
        step("plan", PLAN_SQL, conn)
        step("events", INSERT_EVENTS, conn)
        step("incidents", INSERT_INCIDENTS, conn)
        step("public", INSERT_PUBLIC, conn)
        conn.execute(text("DROP TABLE hotline_plan"))
        conn.execute(text("SELECT setval('incidents.incident_id_seq', (SELECT max(id) FROM incidents.incident))"))
        conn.execute(text("SELECT setval('incidents.incident_event_id_seq', (SELECT max(id) FROM incidents.incident_event))"))
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '256MB'"))
        started = time.perf_counter()
        from spatial.incidents.rollups import rebuild

        rollup_rows = rebuild(conn)
        timings["rollup"] = round(time.perf_counter() - started, 2)
        echo(f"  rollup: {timings['rollup']} s ({rollup_rows} rows)")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        started = time.perf_counter()
        conn.execute(text("ANALYZE incidents.incident, incidents.incident_event, incidents.incident_public, "
                          "incidents.kpi_rollup"))  # fmt: skip
        timings["analyze"] = round(time.perf_counter() - started, 2)
        events = conn.execute(text("SELECT count(*) FROM incidents.incident_event")).scalar_one()
        sizes = {r["t"]: {"bytes": int(r["bytes"] or 0), "pretty": r["pretty"]}
                 for r in conn.execute(text(SIZES_SQL)).mappings()}  # fmt: skip
    info = {"incidents": incidents, "events": int(events), "months": months, "first": first_day.isoformat(),
            "end": end_day.isoformat(), "timings_s": timings, "rollup_rows": rollup_rows, "sizes": sizes,
            "total_s": round(sum(timings.values()), 2)}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS public.hotline_run (id serial PRIMARY KEY, info jsonb NOT NULL)"))
        conn.execute(text("INSERT INTO public.hotline_run (info) VALUES (CAST(:info AS jsonb))"),
                     {"info": __import__("json").dumps(info)})  # fmt: skip
    engine.dispose()
    return info


@click.command()
@click.option("--incidents", default=DEFAULT_INCIDENTS, show_default=True, type=int)
@click.option("--months", default=12, show_default=True, type=int)
@click.option("--database", default=DATABASE, show_default=True, help="a database of the embedded cluster")
@click.option("--fresh", is_flag=True, help="drop and recreate the database first")
def main(incidents: int, months: int, database: str, fresh: bool) -> None:
    """Generate a hotline-scale incident history (incidents + events over whole past months)."""
    url = hotline_url(database, fresh=fresh)
    click.echo(f"generating {incidents} incidents over {months} months into {database} …")
    info = generate(url, incidents=incidents, months=months, echo=click.echo)
    click.echo(f"{info['incidents']} incidents, {info['events']} events in {info['total_s']} s; sizes "
               + ", ".join(f"{t} {s['pretty']}" for t, s in info["sizes"].items()))  # fmt: skip


if __name__ == "__main__":
    main()
