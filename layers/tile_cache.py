"""Rendered tiles kept between requests: one interface, a disk and a Redis backend, and layer versions.

A tile is kept under a key naming everything it was drawn from: the layer, the layer's
**version**, the kind (``mvt``, ``xyz``, ``wmts``, ``3d``), then the tile matrix set, z/x/y, the
format and the normalised style. The version (``catalog.layer_version``, migration 0012) moves
whenever a feature history row, the catalog row or an imagery scene of the layer is written,
so an edit, upload, rollback, re-publish or scene change makes every kept tile of the layer
unreachable at once: stale tiles are never read, only swept later (``purge_old_versions``).

``LayerVersions`` keeps the versions of one database in process memory: a thread LISTENs on
``onemap_layer_version`` (the triggers' NOTIFY, sent on commit) and re-reads the small table at
least every second. When it cannot (no migration, the database away) versions are unknown
(None) and callers serve uncached: a tile is never served from a cache the process cannot
prove current.

Backends (``Settings.tile_cache``): ``disk`` (files under ``tile_cache_path``, written to a
temporary file and renamed so concurrent processes never read half a tile, bounded by
``tile_cache_max_mb`` with the least recently used dropped first), ``redis://…`` (shared by all
API processes; when Redis is down tiles are served uncached and this is logged once), ``off``.
Access checks run before any cache look-up: the cache knows no callers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, text

from spatial.config import Settings
from spatial.db import libpq_url

log = logging.getLogger(__name__)
CHANNEL = "onemap_layer_version"
POLL_S = 1.0
MAX_RETRY_S = 30.0
STALE_AFTER_S = 3.0
"""Versions not confirmed by the database for this long are unknown (tiles served uncached)."""
VERSIONS_SQL = "SELECT layer_id, version FROM catalog.layer_version"
VERSION_OF = text("SELECT version FROM catalog.layer_version WHERE layer_id = :layer")
REDIS_TTL_S = 24 * 3600  # old versions are never read again: they expire (or Redis evicts them, allkeys-lru)
REDIS_PREFIX = "onemap:tile:"
REDIS_RETRY_S = 2.0
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


# ---------------------------------------------------------------------------------------- keys
@dataclass(frozen=True)
class TileKey:
    """What a tile was drawn from; ``text`` is the cache key, ``etag`` the strong HTTP validator."""

    kind: str
    layer: str
    version: int
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        return "/".join((self.layer, str(self.version), self.kind, *self.parts))

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.text.encode()).hexdigest()[:32] + '"'


def mvt_key(layer: str, version: int, matrix_set: str, z: int, x: int, y: int) -> TileKey:
    """The key of an OGC API vector tile (``/ogc/collections/{layer}/tiles/{set}/{z}/{y}/{x}``)."""
    return TileKey("mvt", layer, version, (matrix_set, str(z), str(x), str(y), "mvt"))


def xyz_key(layer: str, version: int, z: int, x: int, y: int, image_format: str, style: object,
            when: dict[str, str | None]) -> TileKey:  # fmt: skip
    """The key of an imagery XYZ tile: address, format, the parsed style, the scene selection."""
    return TileKey("xyz", layer, version, (str(z), str(x), str(y), image_format, repr(style), style_part(when)))


def style_part(params: list[tuple[str, str]] | dict[str, str | None]) -> str:
    """Style parameters normalised for a key: sorted, empty ones dropped, names lower-cased."""
    items = params.items() if isinstance(params, dict) else params
    kept = sorted((name.lower(), value.strip()) for name, value in items if value is not None and value.strip())
    return "&".join(f"{name}={value}" for name, value in kept) or "-"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or is ``*``); weak forms compare too."""
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def cache_control(settings: Settings, public: bool) -> str:
    """Cache-Control of a tile: shared caches may keep public layers' tiles, not others'."""
    return f"{'public' if public else 'private'}, max-age={settings.tile_max_age_s}"


# ---------------------------------------------------------------------------------- versions
class LayerVersions:
    """Layer versions of one database, in process memory, kept current by LISTEN/NOTIFY and a poll."""

    def __init__(self, url: str, *, poll_s: float = POLL_S) -> None:
        self.conninfo = libpq_url(url)
        self.poll_s = poll_s
        self._versions: dict[str, int] = {}
        self._confirmed_at = float("-inf")
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._complained = False
        self._waited = False

    def get(self, layer_id: str) -> int | None:
        """The layer's version now (0: never written since versions exist); None: not known."""
        self._start()
        if time.monotonic() - self._confirmed_at > STALE_AFTER_S:
            if not self._waited:  # the first read, at start (later: never wait)
                self._waited = True
                self._ready.wait(0.5)
            if time.monotonic() - self._confirmed_at > STALE_AFTER_S:
                return None
        return self._versions.get(layer_id, 0)

    def stop(self) -> None:
        self._stop.set()

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="onemap-layer-versions", daemon=True)
                self._thread.start()

    def _apply(self, layer_id: str, version: int) -> None:
        if version > self._versions.get(layer_id, -1):
            self._versions[layer_id] = version

    def _poll(self, conn: object) -> None:
        rows = conn.execute(VERSIONS_SQL).fetchall()  # type: ignore[attr-defined]
        for layer_id, version in rows:
            self._apply(str(layer_id), int(version))
        self._confirmed_at = time.monotonic()
        self._ready.set()

    def _run(self) -> None:
        import psycopg

        failures = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5,
                                     application_name="onemap tile versions") as conn:  # fmt: skip
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._poll(conn)
                    failures = 0
                    if self._complained:
                        log.warning("layer versions are read again: tile caches are back in use")
                        self._complained = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self.poll_s):
                            layer_id, _, version = note.payload.rpartition(" ")
                            with contextlib.suppress(ValueError):
                                self._apply(layer_id, int(version))
                        self._poll(conn)
            except Exception as err:  # the database away, the migration missing: serve uncached, retry
                if not self._complained:
                    log.warning("layer versions cannot be read (%s: %s); tiles are served uncached",
                                type(err).__name__, str(err).splitlines()[0][:200] if str(err) else "")  # fmt: skip
                    self._complained = True
                failures += 1
                # retry at once at first, then back off (a dropped database is not asked every second forever)
                self._stop.wait(min(self.poll_s * 2 ** min(failures - 1, 5), MAX_RETRY_S))


_versions: dict[str, LayerVersions] = {}
_versions_lock = threading.Lock()


def layer_versions(engine: Engine) -> LayerVersions:
    """The process's one ``LayerVersions`` of ``engine``'s database."""
    url = engine.url.render_as_string(hide_password=False)
    found = _versions.get(url)
    if found is None:
        with _versions_lock:
            found = _versions.setdefault(url, LayerVersions(url))
    return found


def stop_layer_versions(engine: Engine) -> None:
    """Stop and forget ``engine``'s ``LayerVersions`` (a server's shutdown); a later use starts another."""
    with _versions_lock:
        found = _versions.pop(engine.url.render_as_string(hide_password=False), None)
    if found is not None:
        found.stop()


def version_in(conn: Connection, layer_id: str) -> int:
    """The layer's version as ``conn``'s snapshot sees it (read with the tile, so the two agree)."""
    return int(conn.execute(VERSION_OF, {"layer": layer_id}).scalar() or 0)


# ------------------------------------------------------------------------------------ backends
class TileCache(Protocol):
    """Where rendered tiles are kept. ``get`` gives None on a miss (b"" is a kept empty tile)."""

    name: str

    def get(self, key: TileKey) -> bytes | None: ...

    def put(self, key: TileKey, data: bytes) -> None: ...

    def purge(self, layer: str | None = None) -> int: ...


class NoCache:
    """``tile_cache=off``."""

    name = "off"

    def get(self, key: TileKey) -> bytes | None:
        return None

    def put(self, key: TileKey, data: bytes) -> None:
        return None

    def purge(self, layer: str | None = None) -> int:
        return 0


def _safe(name: str) -> str:
    """A layer name as one path segment (ids are slugs; anything else is escaped, never a separator)."""
    return SAFE_NAME.sub(lambda m: f"%{ord(m.group()):02x}", name) or "%"


class DiskCache:
    """Files ``<root>/<layer>/<version>/<kind>/<hash>.tile``; atomic writes, size-bounded, LRU-ish."""

    name = "disk"
    touch_after_s = 60.0
    sweep_every = 4096  # re-measure now and then: other processes write to the same folder

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self._root = str(self.root)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None
        self._puts = 0
        self._swept: dict[str, int] = {}

    def path(self, key: TileKey) -> Path:
        return Path(self._path(key))

    def _path(self, key: TileKey) -> str:
        digest = hashlib.sha256(key.text.encode()).hexdigest()
        return os.path.join(self._root, _safe(key.layer), str(key.version), key.kind, digest[:2], f"{digest}.tile")

    def get(self, key: TileKey) -> bytes | None:
        path = self._path(key)
        try:
            with open(path, "rb") as file:
                data = file.read()
                stat = os.fstat(file.fileno())
        except OSError:
            return None
        if time.time() - stat.st_mtime > self.touch_after_s:  # least recently used go first
            with contextlib.suppress(OSError):
                os.utime(path)
        return data

    def put(self, key: TileKey, data: bytes) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.parent / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, path)  # readers see the old file, the new one, or none: never half
        except OSError as err:
            log.debug("tile not kept (%s)", err)
            return
        self._sweep_versions(key)
        with self._lock:
            if self._size is None:
                self._size = self._measure()
            self._size += len(data)
            self._puts += 1
            over = self._size > self.max_bytes or self._puts % self.sweep_every == 0
        if over:
            self.evict()

    def _sweep_versions(self, key: TileKey) -> None:
        """Drop the folders of the layer's older versions (once per layer and version seen)."""
        if self._swept.get(key.layer, -1) >= key.version:
            return
        self._swept[key.layer] = key.version
        folder = self.root / _safe(key.layer)
        with contextlib.suppress(OSError):
            for entry in folder.iterdir():
                if entry.name.isdigit() and int(entry.name) < key.version:
                    shutil.rmtree(entry, ignore_errors=True)

    def _files(self) -> list[tuple[float, int, Path]]:
        found = []
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder) / name
                with contextlib.suppress(OSError):
                    stat = path.stat()
                    found.append((stat.st_mtime, stat.st_size, path))
        return found

    def _measure(self) -> int:
        return sum(size for _, size, _ in self._files())

    def evict(self) -> None:
        """Measure the folder; past the bound, delete the least recently used down to 80 % of it."""
        files = self._files()
        size = sum(s for _, s, _ in files)
        if size > self.max_bytes:
            for _, file_size, path in sorted(files):
                with contextlib.suppress(OSError):
                    path.unlink()
                    size -= file_size
                if size <= self.max_bytes * 0.8:
                    break
        with self._lock:
            self._size = size

    def purge(self, layer: str | None = None) -> int:
        """Delete the kept tiles of ``layer`` (None: all); how many files went."""
        target = self.root / _safe(layer) if layer is not None else self.root
        count = sum(1 for _, _, path in self._files() if path.is_relative_to(target)) if target.exists() else 0
        if layer is None:
            for entry in self.root.iterdir() if self.root.exists() else []:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        else:
            shutil.rmtree(target, ignore_errors=True)
        self._swept.pop(layer or "", None)
        with self._lock:
            self._size = None
        return count


class RedisCache:
    """Tiles in Redis (shared by every API process); down Redis means uncached, logged once."""

    name = "redis"

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._down_until = 0.0
        self._complained = False

    def _key(self, key: TileKey) -> str:
        return REDIS_PREFIX + key.text

    def _failed(self, err: Exception) -> None:
        self._down_until = time.monotonic() + REDIS_RETRY_S
        if not self._complained:
            log.warning("the Redis tile cache is unavailable (%s); tiles are served uncached", type(err).__name__)
            self._complained = True

    def _ok(self) -> None:
        if self._complained:
            log.warning("the Redis tile cache answers again")
            self._complained = False

    def get(self, key: TileKey) -> bytes | None:
        import redis

        if time.monotonic() < self._down_until:
            return None
        try:
            data = self.client.get(self._key(key))
        except (redis.RedisError, OSError) as err:
            self._failed(err)
            return None
        self._ok()
        return bytes(data) if data is not None else None  # type: ignore[arg-type]

    def put(self, key: TileKey, data: bytes) -> None:
        import redis

        if time.monotonic() < self._down_until:
            return
        try:
            self.client.set(self._key(key), data, ex=REDIS_TTL_S)
        except (redis.RedisError, OSError) as err:
            self._failed(err)

    def purge(self, layer: str | None = None) -> int:
        """Delete the kept tiles of ``layer`` (None: all); errors propagate (the CLI reports them)."""
        pattern = REDIS_PREFIX + "*" if layer is None else f"{REDIS_PREFIX}{_glob_escape(layer)}/*"
        count = 0
        batch: list[bytes] = []
        for name in self.client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 500:
                count += int(self.client.delete(*batch))  # type: ignore[arg-type]
                batch = []
        if batch:
            count += int(self.client.delete(*batch))  # type: ignore[arg-type]
        return count


def _glob_escape(name: str) -> str:
    return re.sub(r"([*?\[\]\\])", r"\\\1", name)


_caches: dict[tuple[str, str, int], TileCache] = {}
_by_settings: dict[int, tuple[Settings, TileCache]] = {}
_caches_lock = threading.Lock()


def tile_cache(settings: Settings) -> TileCache:
    """The process's tile cache as ``settings`` configure it (one per configuration)."""
    known = _by_settings.get(id(settings))
    if known is not None and known[0] is settings:  # the app's one Settings object: no work per request
        return known[1]
    setting = (settings.tile_cache or "disk").strip()
    key = (setting, str(settings.tile_cache_path), settings.tile_cache_max_mb)
    with _caches_lock:
        if key not in _caches:
            _caches[key] = _open(setting, settings)
        if len(_by_settings) > 64:
            _by_settings.clear()
        _by_settings[id(settings)] = (settings, _caches[key])
        return _caches[key]


def _open(setting: str, settings: Settings) -> TileCache:
    if setting.lower() == "off":
        return NoCache()
    if setting.lower() == "disk":
        return DiskCache(settings.tile_cache_path, settings.tile_cache_max_mb * 1024 * 1024)
    if setting.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(setting)
    raise ValueError(f"ONEMAP_TILE_CACHE {setting[:60]!r}: use 'disk', 'off' or a redis:// URL")


# ------------------------------------------------------------------------------- the one path
@dataclass
class Served:
    """A tile as a route answers it: its bytes (b"": empty), the key (None: uncached) and whether kept."""

    data: bytes
    key: TileKey | None
    hit: bool


def cached_tile(cache: TileCache, key: TileKey | None, render: Callable[[], Any], *, looked: bool = False) -> Served:
    """The tile kept under ``key``, or ``render()`` kept under it (``key`` None: versions unknown, uncached).

    ``render`` returns the tile's bytes, or ``(bytes, version)`` when it read the layer's version
    in its own snapshot: the tile is then kept under that version (a replica behind the primary
    never files an old tile under a new version). ``looked``: the caller already missed.
    """
    if key is not None and not looked:
        found = cache.get(key)
        if found is not None:
            return Served(found, key, True)
    drawn = render()
    data, seen = drawn if isinstance(drawn, tuple) else (drawn, None if key is None else key.version)
    if key is not None and seen is not None:
        if seen != key.version:
            key = TileKey(key.kind, key.layer, seen, key.parts)
        cache.put(key, data)
    return Served(data, key, False)
