"""Heavy work in a bounded pool of worker processes: imagery tiles, maps, coverages, processes, 3D analyses,
network coverage and OD matrices.

Why processes: a render holds GDAL and numpy memory and a core; in the server process one
z=0 tile grew it by 1.4 GB and a few in parallel took it past 4 GB, after which it answered
nothing (not even /health) and ignored SIGTERM. Here every such job runs in one of
``ONEMAP_RENDER_WORKERS`` processes, each capped at ``ONEMAP_RENDER_MEMORY_MB`` of address
space (``RLIMIT_AS``, set by the initializer); the server process keeps only the event loop,
the catalog look-ups and the answers.

- **Bounded queue**: at most ``workers + ONEMAP_RENDER_QUEUE`` jobs are admitted; the next one
  is refused at once with ServerBusy (503, ``Retry-After``), so a burst cannot pile up work
  nobody waits for.
- **Time budget**: a job over its time limit is cancelled. A running job cannot be cancelled
  politely, so the worker is killed and replaced; the request gets ServerBusy (503).
- **Client gone**: ``DisconnectWatch`` (ASGI middleware on the heavy paths) notices
  ``http.disconnect`` and sets the request's ``client_gone`` event; whoever waits for the job
  (an async route, or a pygeoapi provider in a thread) kills it the same way.
- **Over the memory cap**: MemoryError (numpy) or GDAL's out-of-memory error in the worker
  becomes BudgetExceeded (400: ask less); a worker that dies outright (killed, crashed) becomes
  ServerBusy (503) and is replaced by the pool. The server itself stays healthy either way.
- **Shutdown**: ``close()`` kills the workers (the app's lifespan calls it), so stopping the
  server never waits on a render.

The pool is ``pebble.ProcessPool`` (kills a worker on timeout or ``cancel()`` and starts a new
one; an initializer per worker) over the ``forkserver`` start method: forking a fresh worker
from a clean, single-threaded server process rather than from the threaded ASGI server (GDAL
and thread locks copied mid-use could deadlock the child), with the imagery modules preloaded
so a replacement starts in milliseconds. Admission, timing and disconnects are ours, above it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import logging
import multiprocessing
import os
import re
import resource
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pebble import ProcessExpired, ProcessPool
from rasterio.errors import RasterioError
from sqlalchemy import Engine

from spatial.config import Settings
from spatial.errors import BudgetExceeded, OnemapError, ServerBusy

log = logging.getLogger(__name__)
T = TypeVar("T")
POLL_S = 0.05
RETRY_AFTER_S = 2
GDAL_CACHE_MB = 64
TASKS_PER_WORKER = 2000  # then a fresh worker: whatever a long run fragments or leaks is returned
PRELOAD = ["layers.imagery.tiles", "layers.imagery.maps", "layers.imagery.coverage",
           "layers.imagery.zonal", "layers.imagery.change", "layers.vector_render", "layers.analysis3d",
           "layers.network_layers"]  # fmt: skip
HEAVY_PATHS = re.compile(r"^/(tiles/|wmts(/|$)|ogc/processes/|api/v1/(imagery|3d)/|api/v1/network/(coverage|od-matrix)$"
                         r"|ogc/collections/[^/]+/(coverage|map)$)")  # fmt: skip
"""The doors whose work runs in the pool (feature pages and vector tiles do not: no watcher task for them)."""
CLIENT_GONE: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "onemap_client_gone", default=None
)
_POOLS: dict[int, tuple[Settings, WorkerPool]] = {}


class ClientGone(ServerBusy):
    """The client left while its job ran; the job was killed (the answer reaches nobody)."""

    def __init__(self) -> None:
        super().__init__("the client left: the request was cancelled")


def _init_worker(memory_mb: int) -> None:
    """Worker initializer: cap the address space and GDAL's block cache."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ["GDAL_CACHEMAX"] = str(min(GDAL_CACHE_MB, memory_mb // 8))


def _call(func: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    """Run in the worker: domain errors pass as they are, memory exhaustion becomes BudgetExceeded."""
    try:
        return func(*args, **kwargs)
    except MemoryError:
        raise BudgetExceeded(_memory_message()) from None
    except RasterioError as err:
        if "memory" in str(err).lower() or "alloc" in str(err).lower():
            raise BudgetExceeded(_memory_message()) from None
        raise


def _memory_message() -> str:
    return ("the request needs more memory than one render may use (ONEMAP_RENDER_MEMORY_MB): "
            "ask for a smaller bbox, a smaller image or fewer bands")  # fmt: skip


class WorkerPool:
    """A bounded pool of render processes with admission control, time limits and cancellation."""

    def __init__(self, *, workers: int, memory_mb: int, queue: int, timeout_s: float) -> None:
        self.workers = workers
        self.memory_mb = memory_mb
        self.capacity = workers + queue
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._pool: ProcessPool | None = None
        self._admitted = 0
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerPool:
        return cls(workers=settings.render_workers, memory_mb=settings.render_memory_mb,
                   queue=settings.render_queue, timeout_s=settings.render_timeout_s)  # fmt: skip

    # ---------------------------------------------------------------- introspection
    def busy(self) -> int:
        """Jobs admitted and not finished (running or waiting for a worker)."""
        return self._admitted

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (none before the first job)."""
        pool = self._pool
        if pool is None:
            return []
        try:
            workers = pool._pool_manager.worker_manager.workers  # pebble keeps them by pid
        except AttributeError:  # another pebble release: introspection only, never fatal
            return []
        return [pid for pid, process in list(workers.items()) if process.is_alive()]

    # ---------------------------------------------------------------- running jobs
    def submit(
        self, func: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        """Admit a job or refuse it with ServerBusy (the pool is full or shutting down)."""
        with self._lock:
            if self._closed:
                raise ServerBusy("the server is shutting down: try again shortly", retry_after=RETRY_AFTER_S)
            if self._admitted >= self.capacity:
                raise ServerBusy(
                    f"all {self.workers} render workers are busy and {self.capacity - self.workers} "
                    "requests are waiting: try again shortly (ONEMAP_RENDER_WORKERS, ONEMAP_RENDER_QUEUE)",
                    retry_after=RETRY_AFTER_S,
                )
            pool = self._ensure_pool()
            self._admitted += 1
        try:
            future = pool.schedule(_call, args=(func, args, kwargs), timeout=timeout or self.timeout_s)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    def _release(self, _future: object) -> None:
        with self._lock:
            self._admitted -= 1

    def _ensure_pool(self) -> ProcessPool:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            self._pool = ProcessPool(max_workers=self.workers, max_tasks=TASKS_PER_WORKER, initializer=_init_worker,
                                     initargs=(self.memory_mb,), context=context)  # fmt: skip
        return self._pool

    async def run(self, func: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
        """Run a job from async code; killed when the client leaves (see ``DisconnectWatch``)."""
        gone = CLIENT_GONE.get()
        future = self.submit(func, *args, timeout=timeout, **kwargs)
        deadline = self._deadline(timeout)
        waiter = asyncio.wrap_future(future)
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=POLL_S)
                if done:
                    return self._outcome(future, timeout)
                self._check(future, gone, deadline)
        except asyncio.CancelledError:  # the server cancels the request (shutdown): so is the job
            future.cancel()
            raise

    def run_sync(self, func: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
        """Run a job from a worker thread (pygeoapi providers, processes); same rules as ``run``."""
        gone = CLIENT_GONE.get()
        future = self.submit(func, *args, timeout=timeout, **kwargs)
        deadline = self._deadline(timeout)
        while not future.done():
            concurrent.futures.wait([future], timeout=POLL_S)
            if not future.done():
                self._check(future, gone, deadline)
        return self._outcome(future, timeout)

    def _deadline(self, timeout: float | None) -> float:
        """When to give up on a job that has not even started (time in the queue + its budget)."""
        return time.monotonic() + 2 * (timeout or self.timeout_s) + 5

    def _check(self, future: concurrent.futures.Future[Any], gone: threading.Event | None, deadline: float) -> None:
        """Kill the job of a client that left, or one stuck past the deadline."""
        if gone is not None and gone.is_set():
            future.cancel()
            raise ClientGone()
        if time.monotonic() > deadline:
            future.cancel()
            raise ServerBusy("the server is too busy to start this request in time: try again later",
                             retry_after=RETRY_AFTER_S)  # fmt: skip

    def _outcome(self, future: concurrent.futures.Future[T], timeout: float | None) -> T:
        try:
            return future.result()
        except OnemapError:
            raise
        except concurrent.futures.TimeoutError:
            limit = timeout or self.timeout_s
            raise ServerBusy(
                f"the request did not finish within its time budget of {limit:g} s and was stopped: "
                "ask for less (a smaller bbox or image), or try again later", retry_after=RETRY_AFTER_S,
            ) from None
        except (ProcessExpired, concurrent.futures.CancelledError) as err:
            log.warning("render worker died: %s", err)
            raise ServerBusy("the render worker stopped (over its memory cap, or killed): ask for less or "
                             "try again", retry_after=RETRY_AFTER_S) from None  # fmt: skip

    def close(self) -> None:
        """Refuse new jobs, kill the workers (jobs still running get no answer), free the pool."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=5)


def run_at(settings: Settings, engine: Engine, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``func(url, *args, **kwargs)`` in a render worker, from a thread, within ``process_timeout_s``:
    the database URL travels to the worker, which opens its own small engine (``shared_engine``)."""
    url = engine.url.render_as_string(hide_password=False)
    return pool_of(settings).run_sync(func, url, *args, timeout=settings.process_timeout_s, **kwargs)


def pool_of(settings: Settings) -> WorkerPool:
    """The worker pool of the app built for ``settings`` (made on first use; for providers)."""
    entry = _POOLS.get(id(settings))
    if entry is None or entry[0] is not settings:
        register(settings, WorkerPool.from_settings(settings))
        entry = _POOLS[id(settings)]
    return entry[1]


def register(settings: Settings, pool: WorkerPool) -> None:
    """Make ``pool`` the one ``pool_of(settings)`` answers (create_app does this); the entry
    holds ``settings`` itself, so its id cannot be reused by another object meanwhile."""
    _POOLS[id(settings)] = (settings, pool)


def unregister(settings: Settings) -> None:
    _POOLS.pop(id(settings), None)


class DisconnectWatch:
    """ASGI middleware: on the heavy paths, notice a client that leaves mid-request.

    It is the only reader of the server's ``receive`` channel for those requests: it reads the
    first message at once and further body messages only when the app asks for them (so body
    limits still see a stream, buffered one chunk at most); once the body is complete (at once
    for a GET) it keeps listening, and ``http.disconnect`` sets the request's
    ``CLIENT_GONE`` event, which ``WorkerPool.run``/``run_sync`` watch while a job runs. The
    event is a context variable, so it reaches the worker threads that copy the context.
    """

    def __init__(self, app: Any, paths: re.Pattern[str] = HEAVY_PATHS) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.paths.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        gone = threading.Event()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        demand = asyncio.Event()

        async def pump() -> None:
            body_done, first = False, True
            while True:
                if not (body_done or first):  # a body is read as the app asks: one chunk ahead at most
                    await demand.wait()
                    demand.clear()
                first = False
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    await queue.put(message)
                    return
                body_done = body_done or not message.get("more_body", False)
                await queue.put(message)

        async def watched_receive() -> dict[str, Any]:
            if queue.empty():
                demand.set()
            return await queue.get()

        task = asyncio.create_task(pump())
        token = CLIENT_GONE.set(gone)
        try:
            await self.app(scope, watched_receive, send)
        finally:
            CLIENT_GONE.reset(token)
            task.cancel()
