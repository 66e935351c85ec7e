"""Where imagery lives (``imagery_dir/<layer>/<scene>.tif``) and the catalog rows that point at it."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Polygon
from sqlalchemy import Connection, Engine, select, text, update

from spatial.config import Settings
from spatial.errors import Conflict, InvalidInput, NotFound
from spatial.models import Department, Layer


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


def layer_dir(settings: Settings, layer_id: str) -> Path:
    """Folder holding a layer's scenes."""
    return settings.imagery_dir / layer_id


def scene_name(source: Path) -> str:
    """A file-system-safe scene name from the input file's name: 'LC08 B4.TIF' → 'lc08_b4'."""
    stem = re.sub(r"[^a-z0-9_-]+", "_", source.stem.lower()).strip("_-")
    return stem or "scene"


def check_department(conn: Connection, code: str) -> None:
    """InvalidInput unless the department exists (checked before any slow work)."""
    if conn.execute(select(Department.code).where(Department.code == code)).first() is None:
        raise InvalidInput(
            f"department {code!r} does not exist; create it first or pass --department"
        )


def previous_path(conn: Connection, layer_id: str) -> Path | None:
    """The stored file of an existing imagery layer; Conflict if the id names another kind of layer."""
    row = conn.execute(select(Layer.kind, Layer.storage_path).where(Layer.id == layer_id)).first()
    if row is None:
        return None
    if row.kind != "imagery":
        raise Conflict(
            f"layer {layer_id!r} already exists as a {row.kind} layer; choose another name"
        )
    return Path(row.storage_path) if row.storage_path else None


def record_scene(
    conn: Connection,
    layer_id: str,
    *,
    extent: Polygon,
    attributes: dict[str, Any],
    acquired: dt.datetime | None,
) -> None:
    """Set the extent (lon/lat footprint), raster attributes and acquisition time of a layer row."""
    conn.execute(
        update(Layer)
        .where(Layer.id == layer_id)
        .values(
            extent=from_shape(extent, srid=4326),
            attributes=attributes,
            time_start=acquired,
            time_end=acquired,
            feature_count=None,
        )
    )


def imagery_source(engine: Engine, layer_id: str) -> ImagerySource:
    """The imagery layer ``layer_id``; NotFound if the catalog has no such imagery layer."""
    query = text(
        "SELECT id, title_zh, title_en, storage_path, attributes, department_code, visibility, "
        "CASE WHEN extent IS NULL THEN NULL "
        "ELSE ARRAY[ST_XMin(extent), ST_YMin(extent), ST_XMax(extent), ST_YMax(extent)] END AS bbox "
        "FROM catalog.layer WHERE id = :id AND kind = 'imagery' AND storage_path IS NOT NULL"
    )
    with engine.connect() as conn:
        row = conn.execute(query, {"id": layer_id}).mappings().first()
    if row is None:
        raise NotFound(f"no imagery layer named {layer_id!r}")
    return ImagerySource(
        layer_id=row["id"],
        path=Path(row["storage_path"]),
        title_zh=row["title_zh"],
        title_en=row["title_en"],
        bbox=tuple(row["bbox"]) if row["bbox"] else None,
        attributes=dict(row["attributes"] or {}),
        department_code=row["department_code"],
        visibility=row["visibility"],
    )


class SourceCache:
    """Catalog look-ups of imagery layers kept for ``ttl`` seconds, so tiles skip the database."""

    max_entries = 256

    def __init__(self, engine: Engine, *, ttl: float = 2.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, ImagerySource]] = {}

    def get(self, layer_id: str) -> ImagerySource:
        """The layer's source, from cache when fresh; raises NotFound like ``imagery_source``."""
        entry = self._entries.get(layer_id)
        if entry is not None and time.monotonic() - entry[0] <= self.ttl:
            return entry[1]
        source = imagery_source(self.engine, layer_id)
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[layer_id] = (time.monotonic(), source)
        return source

    def forget(self, layer_id: str) -> None:
        """Drop a cached entry (e.g. after its file was replaced or removed)."""
        with self._lock:
            self._entries.pop(layer_id, None)
