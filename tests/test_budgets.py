"""Budgets of heavy work: pixels planned before a read, a bounded pool of capped worker processes.

The issue's cases, over a real server on the demo city: a 4096² world map is refused with a
400 naming the limit; a z=0 tile and a 2048² world map are drawn (from the coarsest overview);
a coverage subset over the source budget is a 400. Six of the heaviest renders an anonymous
caller may ask for, in parallel, leave /health answering within 1 s and every worker under its
memory cap. The pool itself: a job over its time budget is killed, a job of a client who left
is killed, a job over the memory cap is a BudgetExceeded, a full pool answers 503 with
Retry-After, closing it kills the workers, and the pool always recovers.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import morecantile
import numpy as np
import psutil
import pytest
import rasterio
import uvicorn
from rasterio.warp import transform_bounds
from sqlalchemy import create_engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from api.app import create_app
from api.workers import ClientGone, DisconnectWatch, WorkerPool
from layers.imagery.budget import RenderBudget, plan_part, scene_grid
from layers.imagery.tiles import parse_style, render_tile
from spatial.config import Settings
from spatial.errors import BudgetExceeded, ServerBusy
from spatial.postgis import free_port

TMS = morecantile.tms.get("WebMercatorQuad")


# ------------------------------------------------------------------ serving helpers
@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port (lifespan included); yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_until(condition: Any, seconds: float = 10.0) -> bool:
    """Poll ``condition`` until true or ``seconds`` pass (no timing is asserted)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@pytest.fixture(scope="module")
def scene_path(demo_settings: Settings) -> Path:
    engine = create_engine(demo_settings.database_url or "")
    with engine.connect() as conn:
        path = conn.execute(text("SELECT storage_path FROM catalog.layer WHERE id = 'demo_imagery'")).scalar_one()
    engine.dispose()
    return Path(path)


@pytest.fixture(scope="module")
def scene_bbox(scene_path: Path) -> tuple[float, float, float, float]:
    with rasterio.open(scene_path) as dataset:
        west, south, east, north = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)
    return (west, south, east, north)


# ------------------------------------------------------------------ planning (no server)
def test_output_budget_names_the_limit_and_how_to_ask_less() -> None:
    budget = RenderBudget(max_render_pixels=2048 * 2048, max_source_pixels=10_000)
    budget.check_output(2048, 2048)
    with pytest.raises(BudgetExceeded) as refused:
        budget.check_output(4096, 4096)
    assert "ONEMAP_MAX_RENDER_PIXELS" in refused.value.message and "2048×2048" in refused.value.message
    with pytest.raises(BudgetExceeded, match="ONEMAP_MAX_SOURCE_PIXELS"):
        budget.check_source(10_001)


def test_a_zoomed_out_tile_reads_the_coarsest_overview(scene_path: Path) -> None:
    grid = scene_grid(scene_path)
    assert grid.factors, "the demo COG has overviews"
    part = plan_part(grid, TMS.xy_bounds(morecantile.Tile(0, 0, 0)), TMS.rasterio_crs, 256, 256)
    assert part is not None
    assert part.level == len(grid.factors) - 1  # the coarsest overview
    coarsest = (grid.bounds[2] - grid.bounds[0]) / grid.res[0] / grid.factors[-1]
    assert part.source_pixels <= (coarsest + 2) ** 2 * 1.2  # the overview, not a world-sized warp
    assert part.width <= 2 and part.height <= 2  # the scene is a pixel or two of a z=0 tile


def test_source_budget_refuses_before_reading(scene_path: Path) -> None:
    with rasterio.open(scene_path) as dataset:
        lon, lat = transform_bounds(dataset.crs, "EPSG:4326", *dataset.bounds)[:2]
    tile = TMS.tile(lon + 0.01, lat + 0.01, 16)
    style = parse_style("png", "3,2,1", ["0,2500"])
    assert render_tile([scene_path], tile, style, RenderBudget()) is not None
    with pytest.raises(BudgetExceeded, match="source values"):
        render_tile([scene_path], tile, style, RenderBudget(max_source_pixels=100))


# ------------------------------------------------------------------ the pool
@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    pool = WorkerPool(workers=1, memory_mb=512, queue=1, timeout_s=1.0)
    yield pool
    pool.close()


def test_a_job_over_its_time_budget_is_killed_and_the_worker_replaced(pool: WorkerPool) -> None:
    assert pool.run_sync(time.sleep, 0) is None
    first = pool.worker_pids()
    with pytest.raises(ServerBusy, match="time budget"):
        pool.run_sync(time.sleep, 30)
    assert wait_until(lambda: pool.busy() == 0)
    assert pool.run_sync(time.sleep, 0) is None  # a fresh worker answers
    assert first and pool.worker_pids() and pool.worker_pids() != first
    assert not psutil.pid_exists(first[0]) or psutil.Process(first[0]).status() == psutil.STATUS_ZOMBIE


def test_a_job_over_the_memory_cap_is_a_budget_error_and_the_pool_recovers(pool: WorkerPool) -> None:
    with pytest.raises(BudgetExceeded, match="ONEMAP_RENDER_MEMORY_MB"):
        pool.run_sync(np.ones, 1024 * 1024 * 1024, dtype="uint8")  # 1 GB under a 512 MB cap
    assert pool.run_sync(np.zeros, 3).tolist() == [0.0, 0.0, 0.0]
    assert pool.busy() == 0


def test_a_full_pool_answers_busy_with_retry_after(pool: WorkerPool) -> None:
    running = [pool.submit(time.sleep, 0.5, timeout=5), pool.submit(time.sleep, 0.5, timeout=5)]
    with pytest.raises(ServerBusy) as refused:
        pool.submit(time.sleep, 0)
    assert refused.value.retry_after
    for future in running:
        future.result()
    assert wait_until(lambda: pool.busy() == 0)
    assert pool.run_sync(time.sleep, 0) is None


def test_closing_the_pool_kills_running_work() -> None:
    pool = WorkerPool(workers=2, memory_mb=512, queue=0, timeout_s=60)
    pool.submit(time.sleep, 60)
    assert wait_until(lambda: len(pool.worker_pids()) == 2)
    pids = pool.worker_pids()
    pool.close()
    assert wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                      for p in pids))  # fmt: skip
    with pytest.raises(ServerBusy):
        pool.submit(time.sleep, 0)


def test_a_client_that_leaves_gets_its_job_killed() -> None:
    """Both ways of waiting: an async route, and a thread that copies the request's context
    (as api.ogc.routes runs pygeoapi's providers and processes)."""
    pool = WorkerPool(workers=2, memory_mb=512, queue=2, timeout_s=120)

    async def in_loop(request: Request) -> Response:
        try:
            await pool.run(time.sleep, 60)
        except ClientGone:
            return Response(status_code=499)
        return PlainTextResponse("done")

    async def in_thread(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        try:
            await loop.run_in_executor(None, context.run, pool.run_sync, time.sleep, 60)
        except ClientGone:
            return Response(status_code=499)
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/tiles/loop", in_loop), Route("/tiles/thread", in_thread)])
    try:
        with serve(DisconnectWatch(app)) as base:
            for path in ("/tiles/loop", "/tiles/thread"):
                with pytest.raises(httpx.ReadTimeout):
                    httpx.get(base + path, timeout=httpx.Timeout(5.0, read=1.0))  # the client leaves
                assert pool.busy() == 0 or wait_until(lambda: pool.busy() == 0), path
                assert wait_until(lambda: len(pool.worker_pids()) == 2)  # replaced, ready
            assert pool.run_sync(time.sleep, 0) is None
    finally:
        pool.close()


# ------------------------------------------------------------------ the cases, served
@pytest.fixture(scope="module")
def served(demo_settings: Settings) -> Iterator[tuple[str, Any]]:
    """The demo city served with the default budgets; yields (base URL, the app)."""
    settings = demo_settings.model_copy(update={"host": "127.0.0.1", "port": free_port(), "public_url": None})
    app = create_app(settings)
    with serve(app) as base:
        yield base, app


def test_the_world_map_at_4096_is_refused_with_the_limit(served: tuple[str, Any]) -> None:
    base, app = served
    response = httpx.get(f"{base}/ogc/collections/demo_imagery/map",
                         params={"bbox": "-180,-90,180,90", "width": 4096, "height": 4096}, timeout=30)  # fmt: skip
    assert response.status_code == 400
    assert "ONEMAP_MAX_RENDER_PIXELS" in response.text
    assert app.state.render_pool.busy() == 0


def test_zoomed_out_renders_finish_from_the_overview(served: tuple[str, Any], scene_bbox: tuple[float, ...]) -> None:
    base, app = served
    with httpx.Client(timeout=30) as client:
        bbox = ",".join(f"{v:.6f}" for v in scene_bbox)
        json = client.get(f"{base}/ogc/collections/demo_imagery/coverage", params={"bbox": bbox, "f": "json"})
        assert json.status_code == 413 and "f=GTiff" in json.text  # 4 bands: refused before the read
        tile = client.get(f"{base}/tiles/demo_imagery/0/0/0.png")
        assert tile.status_code in (200, 204)
        world = client.get(f"{base}/ogc/collections/demo_imagery/map",
                           params={"bbox": "-180,-90,180,90", "width": 2048, "height": 2048})  # fmt: skip
        assert world.status_code in (200, 404), world.text[:300]  # 404: no pixel of it shows
        if world.status_code == 200:
            assert world.content.startswith(b"\x89PNG")
    assert wait_until(lambda: app.state.render_pool.busy() == 0)


def test_source_budget_is_enforced_over_http(demo_settings: Settings, scene_bbox: tuple[float, ...]) -> None:
    settings = demo_settings.model_copy(update={"host": "127.0.0.1", "port": free_port(), "public_url": None,
                                                "max_source_pixels": 1_000_000})  # fmt: skip
    bbox = ",".join(f"{v:.6f}" for v in scene_bbox)
    with serve(create_app(settings)) as base, httpx.Client(timeout=30) as client:
        coverage = client.get(f"{base}/ogc/collections/demo_imagery/coverage", params={"bbox": bbox, "f": "GTiff"})
        assert coverage.status_code == 400, coverage.text[:300]
        assert coverage.json()["code"] == "BudgetExceeded" and "ONEMAP_MAX_SOURCE_PIXELS" in coverage.text
        sharp = client.get(f"{base}/ogc/collections/demo_imagery/map", params={"bbox": bbox, "width": 2048, "height": 2048})
        assert sharp.status_code == 400 and "ONEMAP_MAX_SOURCE_PIXELS" in sharp.text
        small = client.get(f"{base}/ogc/collections/demo_imagery/map", params={"bbox": bbox, "width": 256, "height": 256})
        assert small.status_code == 200  # a coarser picture of the same box reads an overview


def test_six_heaviest_renders_leave_health_answering_and_workers_under_the_cap(
    served: tuple[str, Any], scene_bbox: tuple[float, ...]
) -> None:
    base, app = served
    pool: WorkerPool = app.state.render_pool
    cap = app.state.settings.render_memory_mb * 1024 * 1024
    bbox = ",".join(f"{v:.6f}" for v in scene_bbox)
    heaviest = [  # the largest map allowed, over the scene at full resolution, and zoomed-out ones
        (f"{base}/ogc/collections/demo_imagery/map", {"bbox": bbox, "width": 2048, "height": 2048}),
        (f"{base}/ogc/collections/demo_imagery/map", {"bbox": bbox, "width": 2048, "height": 2048}),
        (f"{base}/ogc/collections/demo_imagery/map", {"bbox": bbox, "width": 2048, "height": 2048}),
        (f"{base}/ogc/collections/demo_imagery/map", {"bbox": "-180,-90,180,90", "width": 2048, "height": 2048}),
        (f"{base}/ogc/collections/demo_imagery/coverage", {"bbox": bbox, "f": "GTiff"}),
        (f"{base}/tiles/demo_imagery/0/0/0.png", {}),
    ]
    server = psutil.Process()
    before = server.memory_info().rss
    health: list[int] = []
    peaks: dict[int, int] = {}
    stop = threading.Event()

    def watch() -> None:
        with httpx.Client(timeout=1.0) as client:  # "answers within 1 s" is the requirement
            while not stop.is_set():
                try:
                    health.append(client.get(f"{base}/health").status_code)
                except httpx.HTTPError:  # no answer within 1 s
                    health.append(-1)
                for pid in pool.worker_pids():
                    with suppress(psutil.NoSuchProcess):
                        peaks[pid] = max(peaks.get(pid, 0), psutil.Process(pid).memory_info().rss)
                time.sleep(0.05)

    def render(url: str, params: dict[str, Any]) -> int:
        return httpx.get(url, params=params, timeout=120).status_code

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results: list[int] = []
        threads = [threading.Thread(target=lambda u=u, p=p: results.append(render(u, p))) for u, p in heaviest]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        stop.set()
        watcher.join()
    print(f"\nsix renders: {sorted(results)}; /health polled {len(health)}×; worker RSS peak "
          f"{max(peaks.values(), default=0) // 2**20} MB (cap {cap // 2**20} MB); server RSS "
          f"{(server.memory_info().rss - before) // 2**20:+} MB")
    assert len(results) == 6 and all(r in (200, 204, 404) for r in results), results
    assert results.count(200) >= 4  # the three sharp maps and the CoverageJSON at least
    assert health and all(status == 200 for status in health)
    assert peaks and max(peaks.values()) < cap
    assert server.memory_info().rss - before < 300 * 1024 * 1024  # pixels stay in the workers
    assert wait_until(lambda: pool.busy() == 0)


def test_the_app_shutdown_kills_its_workers(demo_settings: Settings) -> None:
    settings = demo_settings.model_copy(update={"host": "127.0.0.1", "port": free_port(), "public_url": None})
    app = create_app(settings)
    with serve(app):
        pool: WorkerPool = app.state.render_pool
        pool.submit(time.sleep, 60)  # a render that would outlive any graceful wait
        assert wait_until(lambda: len(pool.worker_pids()) == settings.render_workers)
        pids = pool.worker_pids()
    assert wait_until(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                      for p in pids))  # fmt: skip
    with pytest.raises(ServerBusy):
        pool.submit(time.sleep, 0)


class _SlowRenders:
    """Stands in for the app's pool at one door: the door's real waiting code, a job that takes a
    minute (so the client can leave mid-render) on the app's real pool."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    def run_sync(self, *args: Any, **kwargs: Any) -> Any:
        return self.pool.run_sync(time.sleep, 60)

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        return await self.pool.run(time.sleep, 60)


@pytest.mark.parametrize("door", ["map", "tile"])
def test_leaving_mid_render_frees_the_worker_at_each_door(
    door: str, served: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import api.ogc.maps
    import api.routes.tiles
    from layers.tile_cache import tile_cache

    base, app = served
    tile_cache(app.state.settings).purge()  # an earlier test's tile must not answer from the cache: this one renders
    pool: WorkerPool = app.state.render_pool
    slow = _SlowRenders(pool)
    monkeypatch.setattr(api.ogc.maps, "pool_of", lambda settings: slow)
    monkeypatch.setattr(api.routes.tiles, "render_pool", lambda request: slow)
    url = {"map": f"{base}/ogc/collections/demo_imagery/map?width=256&height=256",
           "tile": f"{base}/tiles/demo_imagery/0/0/0.png"}[door]  # fmt: skip
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(url, timeout=httpx.Timeout(10.0, read=1.5))
    assert wait_until(lambda: pool.busy() == 0), "the job of a client that left is still running"


def test_a_full_pool_is_503_with_retry_after_at_the_doors(demo_settings: Settings) -> None:
    settings = demo_settings.model_copy(update={"host": "127.0.0.1", "port": free_port(), "public_url": None,
                                                "render_workers": 1, "render_queue": 0})  # fmt: skip
    app = create_app(settings)
    with serve(app) as base, httpx.Client(timeout=30) as client:
        pool: WorkerPool = app.state.render_pool
        occupying = pool.submit(time.sleep, 3)
        tile = client.get(f"{base}/tiles/demo_imagery/12/3287/1632.png")
        drawn = client.get(f"{base}/ogc/collections/demo_imagery/map", params={"width": 256, "height": 256})
        occupying.result()
        assert wait_until(lambda: pool.busy() == 0)
        again = client.get(f"{base}/ogc/collections/demo_imagery/map", params={"width": 256, "height": 256})
    assert tile.status_code == 503 and tile.headers.get("Retry-After"), tile.text[:200]
    assert tile.json()["code"] == "ServerBusy" and "ONEMAP_RENDER_WORKERS" in tile.text
    assert drawn.status_code == 503 and drawn.headers.get("Retry-After"), drawn.text[:200]
    assert again.status_code == 200
