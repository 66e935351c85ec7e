"""Scenes of an imagery layer: the rows of ``imagery.scene``, read and written.

A layer published before scenes existed (or written directly into the catalog, like the demo
city's) has no scene rows; it is read as one scene made from its catalog row, and the first
scene added to it records that file as a scene of its own (``legacy_scene``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapely
from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Connection, delete, select, text
from sqlalchemy.dialects.postgresql import insert

from layers.imagery.remote import RemoteCOG, scene_location
from spatial.errors import InvalidInput
from spatial.imagery.models import Scene as SceneRow

SCENE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
SCENE_COLUMNS = (
    "scene_id, path, acquired, sensor, cloud_percent, quality, crs, resolution, "
    "resolution_unit, band_count, bands, size_bytes, added_at, url, etag, "
    "ST_AsBinary(footprint) AS footprint"
)
LATEST_FIRST = "acquired DESC NULLS LAST, added_at DESC, id DESC"


@dataclass(frozen=True)
class Scene:
    """One scene of a layer as readers need it: its file, time and lon/lat footprint.

    ``path`` is a local file, or a ``RemoteCOG`` (a URL read by range requests) for a remote scene.
    """

    scene_id: str
    path: Path
    acquired: dt.datetime | None
    footprint: BaseGeometry = field(compare=False, repr=False)
    sensor: str | None = None
    cloud_percent: float | None = None
    quality: str = ""
    crs: str = ""
    resolution: float | None = None
    resolution_unit: str = ""
    band_count: int | None = None
    bands: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)
    size_bytes: int | None = None
    added_at: dt.datetime | None = None

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """The footprint's lon/lat bounds."""
        return tuple(self.footprint.bounds)

    @property
    def url(self) -> str | None:
        """The URL of a remote scene (None for a file under the imagery folder)."""
        return self.path.url if isinstance(self.path, RemoteCOG) else None

    @property
    def version(self) -> str:
        """What a cache of this scene's pixels keys on: its file and the content it had when catalogued.

        Remote: URL and ETag (else size); local: path, size and the time it was catalogued.
        """
        if isinstance(self.path, RemoteCOG):
            return f"{self.path.url}#{self.path.version}"
        added = self.added_at.isoformat() if self.added_at else ""
        return f"{self.path}#{self.size_bytes or 0}@{added}"

    def band_names(self) -> list[str]:
        """Band names as described at ingest ('b<i>' where unknown)."""
        names = [str(b.get("name") or f"b{b.get('index')}") for b in self.bands]
        return names or [f"b{i}" for i in range(1, (self.band_count or 0) + 1)]

    def as_json(self) -> dict[str, Any]:
        """What the scene list of an API shows."""
        return {
            "id": self.scene_id,
            "acquired": _iso(self.acquired),
            "sensor": self.sensor,
            "cloud_percent": self.cloud_percent,
            "quality": self.quality,
            "crs": self.crs,
            "resolution": self.resolution,
            "resolution_unit": self.resolution_unit,
            "bands": self.band_names(),
            "bbox": list(self.bbox),
            "size_bytes": self.size_bytes,
            "remote": self.url is not None,
        }


@dataclass
class SceneRecord:
    """A converted COG about to be catalogued as a scene."""

    scene_id: str
    path: Path
    acquired: dt.datetime | None
    footprint: Polygon
    attributes: dict[str, Any]
    sensor: str | None = None
    cloud_percent: float | None = None
    quality: str = ""


def check_scene_id(scene_id: str) -> str:
    """``scene_id`` when it is a valid scene name; InvalidInput otherwise."""
    if not SCENE_ID.fullmatch(scene_id):
        raise InvalidInput(
            f"scene id {scene_id!r} is not allowed: use 1-63 lowercase letters, digits, '_' "
            "or '-', starting with a letter or digit"
        )
    return scene_id


def check_cloud(cloud_percent: float | None) -> float | None:
    """A cloud cover in percent (0–100) or None; InvalidInput otherwise."""
    if cloud_percent is None:
        return None
    if not 0.0 <= float(cloud_percent) <= 100.0:
        raise InvalidInput(f"cloud cover {cloud_percent} is not a percentage between 0 and 100")
    return float(cloud_percent)


def read_scenes(conn: Connection, layer: Mapping[str, Any]) -> tuple[Scene, ...]:
    """The layer's scenes, latest first; a layer without scene rows is one scene of its own."""
    rows = conn.execute(
        text(f"SELECT {SCENE_COLUMNS} FROM imagery.scene WHERE layer_id = :id ORDER BY {LATEST_FIRST}"),
        {"id": layer["id"]},
    ).mappings()
    scenes = tuple(_scene(dict(row)) for row in rows)
    if scenes or not layer.get("storage_path"):
        return scenes
    return (legacy_scene(layer),)


def legacy_scene(layer: Mapping[str, Any]) -> Scene:
    """The one scene of a layer that has no scene rows, from its catalog row."""
    attributes = dict(layer.get("attributes") or {})
    path = scene_location(layer["storage_path"], size=attributes.get("size_bytes"))
    footprint = layer.get("footprint")
    geometry = shapely.from_wkb(footprint) if footprint else shapely.box(-180, -90, 180, 90)
    resolution = attributes.get("resolution") or [None]
    return Scene(
        scene_id=scene_slug(path.stem),
        path=path,
        acquired=layer.get("time_start"),
        footprint=geometry,
        crs=str(attributes.get("crs") or ""),
        resolution=resolution[0],
        resolution_unit=str(attributes.get("resolution_unit") or ""),
        band_count=len(attributes["bands"]) if attributes.get("bands") else None,
        bands=tuple(attributes.get("bands") or ()),
        size_bytes=attributes.get("size_bytes"),
    )


def scene_slug(text_: str) -> str:
    """A scene id from any name: 'LC08 B4.TIF' stem → 'lc08_b4'."""
    slug = re.sub(r"[^a-z0-9_-]+", "_", text_.lower()).strip("_-")[:63]
    return slug or "scene"


def _scene(row: Mapping[str, Any]) -> Scene:
    return Scene(
        scene_id=row["scene_id"],
        path=scene_location(row["path"], row["url"], row["etag"], row["size_bytes"]),
        acquired=row["acquired"],
        footprint=shapely.from_wkb(row["footprint"]),
        sensor=row["sensor"],
        cloud_percent=row["cloud_percent"],
        quality=row["quality"],
        crs=row["crs"],
        resolution=row["resolution"],
        resolution_unit=row["resolution_unit"],
        band_count=row["band_count"],
        bands=tuple(row["bands"] or ()),
        size_bytes=row["size_bytes"],
        added_at=row["added_at"],
    )


def count_scene_rows(conn: Connection, layer_id: str) -> int:
    """How many scene rows the layer has (0 for a layer from before scenes)."""
    query = text("SELECT count(*) FROM imagery.scene WHERE layer_id = :id")
    return int(conn.execute(query, {"id": layer_id}).scalar_one())


def scene_paths(conn: Connection, layer_id: str) -> dict[str, Path]:
    """scene id → file of the layer's scene rows."""
    query = select(SceneRow.scene_id, SceneRow.path, SceneRow.url, SceneRow.etag, SceneRow.size_bytes)
    rows = conn.execute(query.where(SceneRow.layer_id == layer_id))
    return {row.scene_id: scene_location(row.path, row.url, row.etag, row.size_bytes) for row in rows}


def upsert_scene(conn: Connection, layer_id: str, record: SceneRecord) -> None:
    """Insert the scene row, or replace the row of the same scene id."""
    attributes = record.attributes
    values = {
        "layer_id": layer_id,
        "scene_id": record.scene_id,
        "acquired": record.acquired,
        "sensor": record.sensor,
        "cloud_percent": record.cloud_percent,
        "quality": record.quality,
        "crs": attributes["crs"],
        "resolution": float(attributes["resolution"][0]),
        "resolution_unit": str(attributes["resolution_unit"] or ""),
        "band_count": len(attributes["bands"]),
        "bands": attributes["bands"],
        "footprint": from_shape(_multi(record.footprint), srid=4326),
        "path": str(record.path),
        "size_bytes": int(attributes.get("size_bytes") or record.path.stat().st_size),
        "url": record.path.url if isinstance(record.path, RemoteCOG) else None,
        "etag": record.path.etag or None if isinstance(record.path, RemoteCOG) else None,
        "attributes": attributes,
    }
    stmt = insert(SceneRow).values(**values)
    changes = {k: v for k, v in values.items() if k not in ("layer_id", "scene_id")}
    changes["added_at"] = dt.datetime.now(dt.UTC)
    conn.execute(
        stmt.on_conflict_do_update(constraint="uq_scene_layer_scene", set_=changes)
    )


def delete_other_scenes(conn: Connection, layer_id: str, keep: str) -> list[Path]:
    """Remove every scene row of the layer but ``keep``; the files they named."""
    rows = conn.execute(
        delete(SceneRow)
        .where(SceneRow.layer_id == layer_id, SceneRow.scene_id != keep)
        .returning(SceneRow.path, SceneRow.url, SceneRow.etag, SceneRow.size_bytes)
    )
    return [scene_location(row.path, row.url, row.etag, row.size_bytes) for row in rows]


SUMMARY_SQL = f"""
UPDATE catalog.layer l SET
    extent = s.extent, time_start = s.first_time, time_end = s.last_time,
    storage_path = s.latest_path, feature_count = NULL,
    attributes = s.latest_attributes || jsonb_build_object('scene_count', s.scene_count)
FROM (
    SELECT ST_Union(footprint) AS extent, min(acquired) AS first_time, max(acquired) AS last_time,
           count(*) AS scene_count,
           (array_agg(path ORDER BY {LATEST_FIRST}))[1] AS latest_path,
           (array_agg(attributes ORDER BY {LATEST_FIRST}))[1] AS latest_attributes
    FROM imagery.scene WHERE layer_id = :id
) s
WHERE l.id = :id AND s.scene_count > 0
"""


def refresh_summary(conn: Connection, layer_id: str) -> None:
    """The layer row from its scenes: extent (union of footprints), time range, latest file."""
    conn.execute(text(SUMMARY_SQL), {"id": layer_id})


def _multi(footprint: BaseGeometry) -> MultiPolygon:
    if isinstance(footprint, MultiPolygon):
        return footprint
    return MultiPolygon([footprint])


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
