"""filing: sustained incident filing over HTTP (`onemap serve --workers 2` on loopback, concurrent
clients) next to pgbench running the same statements the server runs per filing, directly on the
same database with the same concurrency: the database's own limit for that work.

Rounds alternate HTTP and pgbench (the machine is shared: interleaving keeps the comparison fair).
Reported: incidents/s, p50/p99 (HTTP), filed == stored, and CPU ms per filing by process: the
server's processes, this database's PostgreSQL backends, the rest of the cluster (WAL writer,
checkpointer: shared with whoever else uses it), and the load client (or pgbench).
Targets (issue 19): HTTP ≥ 50 % of pgbench's rate, p99 < 200 ms, nothing lost.
ONEMAP_BENCH_BEFORE_TREE=<a checkout of older code> serves that too, measured in the same rounds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url

from benchmarks.harness import Context, Figure, Result, percentile, workload
from spatial.access.principal import local_operator
from spatial.db import make_engine
from spatial.postgis import free_port

HTTP_TARGET = 0.5


OWN_DATABASE = "onemap_bench_filing"
"""The demo city in a database of its own: other workloads reload the shared scratch database."""


def _own_database(ctx: Context) -> str:
    """The URL of ``OWN_DATABASE`` (created, migrated and loaded with the small demo when new)."""
    from layers.demo.load import load_demo
    from spatial import migrate
    from spatial.config import Settings
    from spatial.db import embedded_cluster
    from spatial.postgis import create_database

    state = embedded_cluster(Settings()).start()
    create_database(state, OWN_DATABASE)
    url = state.url(OWN_DATABASE)
    engine = make_engine(url, pool_size=2)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            loaded = conn.execute(text("SELECT EXISTS (SELECT 1 FROM basemap.admin_division)")).scalar_one()
        if not loaded:
            settings = ctx.settings.model_copy(update={"database_url": url})
            load_demo(engine, settings, size="small", seed=42, imagery=False, console=None,
                      principal=local_operator())  # fmt: skip
    finally:
        engine.dispose()
    return url


POINTS = 10_000
POINTS_TABLE = "CREATE TABLE IF NOT EXISTS public.filing_bench_point (k integer PRIMARY KEY, lon float8, lat float8)"
POINTS_SQL = text(
    """
    INSERT INTO public.filing_bench_point
    SELECT row_number() OVER (), ST_X(g), ST_Y(g) FROM (
        SELECT (ST_Dump(ST_GeneratePoints(geom, 1, 19))).geom AS g
        FROM grid.current_cell ORDER BY md5(code) LIMIT :n) x
    """
)
"""Where reports are filed: a point in each of ``POINTS`` unit cells (inspectors file inside the grid;
a point outside every cell takes the nearest-district path, which the pgbench script does not)."""


def _prepare(engine: Any) -> np.ndarray:
    """Catalogue, grid and the filing points in place; the points (lon, lat)."""
    from layers.grid_layers import register_grid_layers
    from spatial.grid.build import build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue

    with engine.connect() as conn:
        has_grid = conn.execute(text("SELECT EXISTS (SELECT 1 FROM grid.current_cell)")).scalar_one()
        has_catalogue = conn.execute(text("SELECT EXISTS (SELECT 1 FROM incidents.category)")).scalar_one()
    if not has_catalogue:
        load_catalogue(engine, read_catalogue(), principal=local_operator())
    if not has_grid:
        build_grid(engine, principal=local_operator())
        with engine.begin() as conn:
            register_grid_layers(conn)
    with engine.begin() as conn:
        conn.execute(text(POINTS_TABLE))
        conn.execute(text("TRUNCATE public.filing_bench_point"))
        conn.execute(POINTS_SQL, {"n": POINTS})
        rows = conn.execute(text("SELECT lon, lat FROM public.filing_bench_point ORDER BY k")).all()
    return np.array(rows, dtype=float)


class Meter:
    """CPU seconds by group over one run: the server's process tree, our database's PostgreSQL
    backends, the rest of the cluster (shared with whoever else uses it), and the client (this
    process and its children, e.g. pgbench). A sampler thread reads every process every 0.1 s, so
    backends that come and go within the run (pgbench's) are counted up to their last sample."""

    def __init__(self, dbname: str, server_pid: int | None = None) -> None:
        self.dbname = dbname
        self.server_pid = server_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.group: dict[int, str] = {}
        self._sample(initial=True)
        self.client_start = self._client()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _processes(self) -> list[tuple[str, psutil.Process]]:
        out: list[tuple[str, psutil.Process]] = []
        for p in psutil.process_iter(["name", "cmdline"]):
            if (p.info["name"] or "").startswith("postgres"):
                line = " ".join(p.info["cmdline"] or [])
                out.append(("postgres backends" if f" {self.dbname} " in line else "postgres other (shared)", p))
        if self.server_pid:
            try:
                root = psutil.Process(self.server_pid)
                out += [("server", p) for p in [root, *root.children(recursive=True)]]
            except psutil.Error:
                pass
        return out

    def _sample(self, initial: bool = False) -> None:
        for name, process in self._processes():
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            if process.pid not in self.first:
                self.first[process.pid] = used if initial else 0.0
                self.group[process.pid] = name
            self.last[process.pid] = used

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self._sample()

    @staticmethod
    def _client() -> float:
        own = psutil.Process().cpu_times()
        return own.user + own.system + own.children_user + own.children_system

    def per_filing_ms(self, n: int) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample()
        out: dict[str, float] = {"server": 0.0, "postgres backends": 0.0, "postgres other (shared)": 0.0}
        for pid, name in self.group.items():
            out[name] = out.get(name, 0.0) + self.last[pid] - self.first[pid]
        out["client"] = self._client() - self.client_start
        if not self.server_pid:
            out.pop("server")
        return {k: max(v, 0.0) / n * 1000 for k, v in out.items()}


def _serve(url: str, port: int, tree: str | None = None) -> subprocess.Popen:
    """`onemap serve --workers 2` (of the checkout at ``tree``: another version's code)."""
    import httpx

    env = dict(os.environ, ONEMAP_DATABASE_URL=url, ONEMAP_PORT=str(port), ONEMAP_RATE_LIMIT_WRITES="off")
    if tree:
        env["PYTHONPATH"] = tree
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(port)],
                               env=env, cwd=tree or None, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError("onemap serve did not come up")


async def _load(base: str, token: str, points: np.ndarray, clients: int,
                keyed: bool = False) -> tuple[list[float], int, float]:  # fmt: skip
    """POST a filing per point over ``clients`` keep-alive connections; (latencies ms, 201s, wall s).
    ``keyed``: each with an Idempotency-Key of its own, as the inspector app sends them.

    A lean HTTP/1.1 client on asyncio streams (bodies built up front, Content-Length framing): the
    load client shares the cores with the server, and httpx's own CPU per request is about the
    server's, which would measure the client more than the server (pgbench's client is C)."""
    host, port = base.removeprefix("http://").split(":")
    requests = []
    for lon, lat in points:
        body = orjson.dumps({"category_code": "1102", "description": "bench", "source": "inspector",
                             "location": {"lon": float(lon), "lat": float(lat)}})  # fmt: skip
        key = f"Idempotency-Key: {uuid.uuid4()}\r\n" if keyed else ""
        head = (f"POST /api/v1/incidents HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"{key}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
        requests.append(head.encode() + body)
    queue = iter(requests)
    latencies: list[float] = []
    ok = 0

    async def client() -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for request in queue:
                started = time.perf_counter()
                writer.write(request)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - started) * 1000)
                ok += status == 201
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, ok, time.perf_counter() - started


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, list | tuple):
        return "ARRAY[" + ",".join(_literal(v) for v in value) + "]::text[]"
    return "'" + str(value).replace("'", "''") + "'"


def pgbench_statements(conn: Any) -> list[tuple[str, dict[str, Any]]]:
    """What the one-statement path of ``file_incident`` sends per filing, as (SQL, values) with
    ``lon`` and ``lat`` left as the variables ``:lon`` and ``:lat``: category 1102 from the
    benchmark's inspector, routed as at the grid's first cell (``filing.FILE_SQL`` and its values)."""
    from spatial.access.principal import Principal
    from spatial.incidents.calendar import default_calendar
    from spatial.incidents.filing import FILE_SQL, IncidentReport, filing_parameters
    from spatial.incidents.routing import CATEGORY_CELL_RULE_SQL, category_and_routing

    lon, lat = conn.execute(text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM grid.current_cell "
        "ORDER BY code LIMIT 1) c")).one()  # fmt: skip
    placed = category_and_routing(conn, "1102", lon, lat)
    if placed is None or placed[1] is None:
        raise RuntimeError("the filing benchmark needs category 1102 and a unit grid")
    category, routing = placed
    now = dt.datetime.now(dt.UTC)
    due = default_calendar().add_working(now, category["time_limits"]["register"])
    report = IncidentReport("1102", "bench", lon, lat, source="inspector")
    inspector = Principal("bench", "inspector", "supervision", None)  # the benchmark's caller, as its token's
    values = filing_parameters(report, inspector, now, lon, lat, None, routing, due)
    for name in ("lon", "lat"):
        values.pop(name)
    return [(CATEGORY_CELL_RULE_SQL.text, {"code": "1102"}), (FILE_SQL.text, values)]


def pgbench_script(engine: Any, points: int) -> str:
    """The server's per-filing statements, at a random one of the filing points (``:lon``, ``:lat``;
    one primary-key read more than the server does) and every other value as the server would bind
    it for the benchmark's report."""
    lines = [
        f"\\set k random(1, {points})",
        "SELECT lon, lat FROM public.filing_bench_point WHERE k = :k \\gset",
    ]
    with engine.connect() as conn:
        statements = pgbench_statements(conn)
    for sql, params in statements:
        rendered = re.sub(r"(?<![:\w]):(\w+)", lambda m, p=params: _literal(p[m[1]]) if m[1] in p else m[0], sql)
        lines.append(" ".join(rendered.split()) + ";")
    return "\n".join(lines) + "\n"


def _pgbench(url: str, script: str, clients: int, transactions: int) -> tuple[float, float, float]:
    """(tps, mean latency ms, wall s) of pgbench running ``script`` with ``clients`` connections."""
    parsed = make_url(url)
    env = dict(os.environ, PGPASSWORD=parsed.password or "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "filing.sql"
        path.write_text(script)
        per_client = max(1, transactions // clients)
        started = time.perf_counter()
        out = subprocess.run(
            [shutil.which("pgbench") or "pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "1",
             "-t", str(per_client), "-f", str(path), "-h", parsed.host or "127.0.0.1",
             "-p", str(parsed.port or 5432), "-U", parsed.username or "", parsed.database or ""],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.perf_counter() - started
    if out.returncode != 0:
        raise RuntimeError(f"pgbench failed: {out.stderr[-2000:]}")
    tps = latency = float("nan")
    for line in out.stdout.splitlines():
        if line.startswith("tps ="):
            tps = float(line.split()[2])
        elif line.startswith("latency average"):
            latency = float(line.split("=")[1].split()[0])
    return tps, latency, wall


def _count(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one())


def filing_rounds(ctx: Context, n: int, clients: int, rounds: int) -> list[Result]:
    from spatial.access.tokens import create_token

    url = _own_database(ctx)
    engine = make_engine(url, pool_size=2)
    dbname = make_url(url).database or ""
    try:
        cells = _prepare(engine)
        rng = np.random.default_rng(19)
        token = create_token(engine, department_code="supervision", role="inspector", name="bench-filing",
                             actor=local_operator())  # fmt: skip
        script = pgbench_script(engine, len(cells))
        servers = {"ours": _serve(url, port := free_port())}
        bases = {"ours": f"http://127.0.0.1:{port}"}
        before_tree = os.environ.get("ONEMAP_BENCH_BEFORE_TREE")
        if before_tree:  # the code before, served too and measured in the same rounds
            servers["before"] = _serve(url, port := free_port(), before_tree)
            bases["before"] = f"http://127.0.0.1:{port}"
        variants = [(name, name, False) for name in servers] + [("keyed", "ours", True)]  # (run, server, keyed)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
        bench: list[dict[str, Any]] = []
        load_before = os.getloadavg()
        try:
            for base in bases.values():
                warm = cells[rng.integers(0, len(cells), 200)]
                asyncio.run(_load(base, token.secret, warm, clients))
            for r in range(rounds):
                for name, served_by, keyed in variants[::-1] if r % 2 else variants:  # alternate who goes first
                    server = servers[served_by]
                    points = cells[rng.integers(0, len(cells), n)]
                    before = _count(engine)
                    meter = Meter(dbname, server.pid)
                    latencies, ok, wall = asyncio.run(_load(bases[served_by], token.secret, points, clients, keyed))
                    cpu = meter.per_filing_ms(n)
                    stored = _count(engine) - before
                    runs[name].append({"rate": ok / wall, "p50": percentile(latencies, 50),
                                       "p99": percentile(latencies, 99), "filed": ok, "stored": stored, "sent": n,
                                       "cpu": cpu})  # fmt: skip
                meter = Meter(dbname)
                tps, latency, wall = _pgbench(url, script, clients, n)
                bench.append({"rate": tps, "latency_ms": latency, "cpu": meter.per_filing_ms(n)})
        finally:
            for server in servers.values():
                server.terminate()
                server.wait(timeout=30)
        load_after = os.getloadavg()
    finally:
        engine.dispose()
    http = runs["ours"]
    ours = float(np.median([h["rate"] for h in http]))
    base_rate = float(np.median([b["rate"] for b in bench]))
    p99 = max(h["p99"] for h in http)
    filed, stored = sum(h["filed"] for h in http), sum(h["stored"] for h in http)

    def cpu_text(rows: list[dict[str, Any]]) -> str:
        names = rows[0]["cpu"].keys()
        return ", ".join(f"{k} {np.median([r['cpu'][k] for r in rows]):.2f}" for k in names)

    return [Result(
        workload="filing", metric=f"HTTP filing, {clients} clients, 2 workers ({rounds}× {n:,} incidents)",
        ours=Figure(ours, "incidents/s"), baseline=Figure(base_rate, "incidents/s"),
        baseline_name=f"pgbench, the server's per-filing statements, {clients} connections",
        target=f"≥ {HTTP_TARGET:.0%} of pgbench, p99 < 200 ms, filed == stored",
        notes=f"rounds HTTP {[round(h['rate']) for h in http]} vs pgbench {[round(b['rate']) for b in bench]}/s; "
              f"p50 {np.median([h['p50'] for h in http]):.0f} ms, p99 {p99:.0f} ms; filed {filed}, stored {stored}"
              f"{' (MATCH)' if filed == stored == rounds * n else ' (MISMATCH)'}; CPU ms per filing — HTTP: "
              f"{cpu_text(http)}; pgbench: {cpu_text(bench)}; {_before_text(runs.get('before'), cpu_text)}"
              f"{_keyed_text(runs['keyed'], cpu_text)}load average {load_before[0]:.1f} → "
              f"{load_after[0]:.1f} on {psutil.cpu_count()} cores (shared machine)",
        extra={"http": http, "pgbench": bench, "load": [load_before, load_after], "script": script,
               "before": runs.get("before"), "keyed": runs["keyed"]},
    )]  # fmt: skip


def _keyed_text(rows: list[dict[str, Any]], cpu_text: Any) -> str:
    """Filings with an Idempotency-Key each (the inspector app's), measured in the same rounds."""
    return (f"with Idempotency-Key (same rounds): {[round(r['rate']) for r in rows]}/s, p50 "
            f"{np.median([r['p50'] for r in rows]):.0f} ms, p99 {max(r['p99'] for r in rows):.0f} ms, "
            f"filed {sum(r['filed'] for r in rows)} stored {sum(r['stored'] for r in rows)}, CPU ms per filing "
            f"{cpu_text(rows)}; ")  # fmt: skip


def _before_text(rows: list[dict[str, Any]] | None, cpu_text: Any) -> str:
    """The code before (ONEMAP_BENCH_BEFORE_TREE), measured in the same rounds."""
    if not rows:
        return ""
    return (f"before (same rounds): {[round(r['rate']) for r in rows]}/s, p50 "
            f"{np.median([r['p50'] for r in rows]):.0f} ms, p99 {max(r['p99'] for r in rows):.0f} ms, "
            f"filed {sum(r['filed'] for r in rows)} stored {sum(r['stored'] for r in rows)}, CPU ms per filing "
            f"{cpu_text(rows)}; ")  # fmt: skip


@workload("filing")
def filing(ctx: Context) -> list[Result]:
    return filing_rounds(ctx, 200 if ctx.quick else 3_000, 8 if ctx.quick else 16, 1 if ctx.quick else 3)
