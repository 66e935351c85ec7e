"""Where imagery lives (``imagery_dir/<layer>/<scene>.tif``) and the catalog rows that point at it.

A layer's scenes (``layers.imagery.scenes``) come with its source, so tile, point and
statistics readers get everything from one look-up (kept for a few seconds by ``SourceCache``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, text

from layers.imagery.remote import scene_location
from layers.imagery.scenes import (
    Scene,
    SceneRecord,
    delete_other_scenes,
    read_scenes,
    refresh_summary,
    scene_slug,
    upsert_scene,
)
from spatial.config import Settings
from spatial.errors import Conflict, InvalidInput, NotFound
from spatial.models import Department


@dataclass(frozen=True)
class ImagerySource:
    """An imagery layer as the tile and coverage readers need it."""

    layer_id: str
    path: Path
    title_zh: str
    title_en: str
    bbox: tuple[float, float, float, float] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    department_code: str = ""
    visibility: str = "public"
    scenes: tuple[Scene, ...] = ()


def layer_dir(settings: Settings, layer_id: str) -> Path:
    """Folder holding a layer's scenes."""
    return settings.imagery_dir / layer_id


def scene_name(source: Path) -> str:
    """A file-system-safe scene name from the input file's name: 'LC08 B4.TIF' → 'lc08_b4'."""
    return scene_slug(source.stem)


def check_department(conn: Connection, code: str) -> None:
    """InvalidInput unless the department exists (checked before any slow work)."""
    if conn.execute(select(Department.code).where(Department.code == code)).first() is None:
        raise InvalidInput(
            f"department {code!r} does not exist; create it first or pass --department"
        )


def existing_layer(conn: Connection, layer_id: str) -> dict[str, Any] | None:
    """The catalog row of an imagery layer (None if absent); Conflict if the id names another kind."""
    row = conn.execute(
        text(
            "SELECT id, kind, storage_path, time_start, attributes, department_code, title_zh, "
            "title_en, visibility, description, "
            "EXISTS (SELECT 1 FROM imagery.scene s WHERE s.layer_id = l.id) AS has_scenes "
            "FROM catalog.layer l WHERE id = :id"
        ),
        {"id": layer_id},
    ).mappings().first()
    if row is None:
        return None
    if row["kind"] != "imagery":
        raise Conflict(
            f"layer {layer_id!r} already exists as a {row['kind']} layer; choose another name"
        )
    return dict(row)


def record_scene(
    conn: Connection, layer_id: str, record: SceneRecord, *, replace: bool = False
) -> list[Path]:
    """Catalogue a scene (and, with ``replace``, drop the others); the files no longer named."""
    upsert_scene(conn, layer_id, record)
    dropped = delete_other_scenes(conn, layer_id, record.scene_id) if replace else []
    refresh_summary(conn, layer_id)
    return dropped


def imagery_source(engine: Engine, layer_id: str) -> ImagerySource:
    """The imagery layer ``layer_id``; NotFound if the catalog has no such imagery layer."""
    query = text(
        "SELECT id, title_zh, title_en, storage_path, attributes, department_code, visibility, "
        "time_start, ST_AsBinary(extent) AS footprint, "
        "CASE WHEN extent IS NULL THEN NULL "
        "ELSE ARRAY[ST_XMin(extent), ST_YMin(extent), ST_XMax(extent), ST_YMax(extent)] END AS bbox "
        "FROM catalog.layer WHERE id = :id AND kind = 'imagery' AND storage_path IS NOT NULL"
    )
    with engine.connect() as conn:
        row = conn.execute(query, {"id": layer_id}).mappings().first()
        scenes = read_scenes(conn, dict(row)) if row is not None else ()
    if row is None:
        raise NotFound(f"no imagery layer named {layer_id!r}")
    return ImagerySource(
        layer_id=row["id"],
        path=scene_location(row["storage_path"]),
        title_zh=row["title_zh"],
        title_en=row["title_en"],
        bbox=tuple(row["bbox"]) if row["bbox"] else None,
        attributes=dict(row["attributes"] or {}),
        department_code=row["department_code"],
        visibility=row["visibility"],
        scenes=scenes,
    )


class SourceCache:
    """Catalog look-ups of imagery layers, so tiles skip the database.

    An entry is kept while the layer's version (``layers.tile_cache``: it moves when a scene is
    added, changed or removed, or the layer re-published) stays the one it was read under; when
    the version is not known, for ``ttl`` seconds. A tile filed under a version is thus drawn from
    that version's scenes or newer, never older.
    """

    max_entries = 256

    def __init__(self, engine: Engine, *, ttl: float = 2.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, int | None, ImagerySource]] = {}

    def get(self, layer_id: str, version: int | None = None) -> ImagerySource:
        """The layer's source, from cache when still current; raises NotFound like ``imagery_source``."""
        entry = self._entries.get(layer_id)
        if entry is not None:
            read_at, read_version, source = entry
            if version is not None and read_version == version:
                return source
            if version is None and time.monotonic() - read_at <= self.ttl:
                return source
        source = imagery_source(self.engine, layer_id)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[layer_id] = (time.monotonic(), version, source)
        return source

    def forget(self, layer_id: str) -> None:
        """Drop a cached entry (e.g. after its file was replaced or removed)."""
        with self._lock:
            self._entries.pop(layer_id, None)
