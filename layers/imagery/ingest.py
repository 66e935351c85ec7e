"""Add an imagery layer: check the file, convert it to a COG, validate, swap it in, catalog it.

The whole journey either completes or leaves the previous file and catalog row as they were:
the COG is written under a temporary name next to its final place, validated, then renamed
over the old file inside the catalog transaction (and renamed back if the transaction fails).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import rasterio
from rasterio.io import DatasetReader
from shapely.geometry import Polygon
from sqlalchemy import Engine

from layers.catalog import LayerSpec, register_layer
from layers.imagery.cog import check_cog, write_cog
from layers.imagery.describe import describe, footprint
from layers.imagery.source import check_pixels_readable, open_source
from layers.imagery.store import (
    check_department,
    layer_dir,
    previous_path,
    record_scene,
    scene_name,
)
from spatial.config import Settings
from spatial.errors import InvalidInput

Progress = Callable[[str, float], None]
"""Called with a stage name ('checking', 'converting', 'validating', 'registering', 'done') and 0–1."""


@dataclass
class ImageryReport:
    """What an ingest produced, for the CLI, an HTTP upload response or a notebook."""

    layer_id: str
    storage_path: Path
    crs: str
    width: int
    height: int
    resolution: tuple[float, float]
    resolution_unit: str
    band_count: int
    dtype: str
    overviews: list[int]
    bbox: tuple[float, float, float, float]
    size_bytes: int
    compression: str
    acquired: dt.datetime | None
    replaced: bool
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for people."""
        verb = "replaced" if self.replaced else "added"
        return (
            f"imagery layer {self.layer_id} {verb}: {self.width}×{self.height} px, {self.band_count} "
            f"{self.dtype} band(s), {self.crs}, {self.resolution[0]:g} {self.resolution_unit}/px, overviews "
            f"{self.overviews or 'none'}, {self.size_bytes / 1e6:.1f} MB {self.compression} COG "
            f"at {self.storage_path} ({self.seconds:.1f} s)"
        )


def parse_acquired(value: str) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime (naive values are taken as UTC)."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"acquisition time {value!r} is not ISO 8601 (e.g. 2024-05-01T10:30:00Z)"
        ) from None
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def add_imagery(
    engine: Engine,
    settings: Settings,
    path: Path | str,
    *,
    name: str,
    department: str = "planning",
    title_zh: str | None = None,
    title_en: str | None = None,
    visibility: str = "public",
    acquired: dt.datetime | None = None,
    description: str = "",
    compression: str = "deflate",
    progress: Progress | None = None,
) -> ImageryReport:
    """Publish the raster at ``path`` as imagery layer ``name`` (replacing it if it exists)."""
    started, source, acquired = time.monotonic(), Path(path), _as_utc(acquired)
    spec = LayerSpec(
        id=name,
        title_zh=title_zh or name,
        title_en=title_en or name,
        department_code=department,
        kind="imagery",
        visibility=visibility,
        description=description,
        keywords=["imagery", "影像"],
    )
    _notify(progress, "checking", 0.0)
    previous = _check_catalog(engine, spec)
    final = layer_dir(settings, name) / f"{scene_name(source)}.tif"
    with open_source(source) as dataset, _scratch_file(final) as partial:
        scene = _convert(dataset, partial, compression, progress)
        scene.attributes.update(acquired=_iso(acquired), source_file=source.name)
        _notify(progress, "registering", 0.9)
        with _swapped_in(partial, final), engine.begin() as conn:
            register_layer(conn, replace(spec, storage_path=str(final)))
            record_scene(
                conn, name, extent=scene.extent, attributes=scene.attributes, acquired=acquired
            )
    _remove_superseded(previous, final)
    _notify(progress, "done", 1.0)
    return _report(spec.id, final, scene, acquired, previous is not None, started)


@dataclass
class _Scene:
    """A converted, validated COG before it is catalogued."""

    attributes: dict[str, Any]
    extent: Polygon
    warnings: list[str]


def _check_catalog(engine: Engine, spec: LayerSpec) -> Path | None:
    """Fail fast on a bad name, department or clash; return the layer's current file, if any."""
    spec.validate()
    with engine.connect() as conn:
        check_department(conn, spec.department_code)
        return previous_path(conn, spec.id)


def _convert(
    dataset: DatasetReader, partial: Path, compression: str, progress: Progress | None
) -> _Scene:
    """Write ``dataset`` as a COG at ``partial``, validate it and describe it for the catalog."""
    check_pixels_readable(dataset, Path(dataset.name).name)
    _notify(progress, "converting", 0.1)
    write_cog(dataset, partial, compression=compression)
    _notify(progress, "validating", 0.8)
    cog_warnings = check_cog(partial)
    with rasterio.open(partial) as cog:
        attributes, extent = describe(cog), footprint(cog)
    attributes["size_bytes"] = partial.stat().st_size
    return _Scene(attributes, extent, cog_warnings)


def _report(
    name: str,
    final: Path,
    scene: _Scene,
    acquired: dt.datetime | None,
    replaced: bool,
    started: float,
) -> ImageryReport:
    attributes, bands = scene.attributes, scene.attributes["bands"]
    return ImageryReport(
        layer_id=name,
        storage_path=final,
        crs=attributes["crs"],
        width=attributes["width"],
        height=attributes["height"],
        resolution=tuple(attributes["resolution"]),
        resolution_unit=attributes["resolution_unit"],
        band_count=len(bands),
        dtype=bands[0]["dtype"],
        overviews=attributes["overviews"],
        bbox=scene.extent.bounds,
        size_bytes=attributes["size_bytes"],
        compression=attributes["compression"],
        acquired=acquired,
        replaced=replaced,
        seconds=time.monotonic() - started,
        warnings=scene.warnings,
    )


@contextmanager
def _scratch_file(final: Path) -> Iterator[Path]:
    """A temporary path beside ``final`` (same file system, so the rename is atomic); removed after."""
    folder = final.parent
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{final.stem}.{uuid.uuid4().hex[:8]}.partial.tif"
    try:
        yield partial
    finally:
        partial.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()


@contextmanager
def _swapped_in(partial: Path, final: Path) -> Iterator[None]:
    """Move ``partial`` onto ``final``; put the previous file back if the block fails."""
    backup = final.with_name(f".{final.name}.previous") if final.exists() else None
    if backup is not None:
        os.replace(final, backup)
    os.replace(partial, final)
    try:
        yield
    except BaseException:
        if backup is not None:
            os.replace(backup, final)
        else:
            final.unlink(missing_ok=True)
        raise
    if backup is not None:
        backup.unlink(missing_ok=True)


def _remove_superseded(previous: Path | None, final: Path) -> None:
    """Delete the layer's former scene file when the new one has another name (one scene per layer)."""
    if previous is not None and previous != final and previous.parent == final.parent:
        previous.unlink(missing_ok=True)


def _notify(progress: Progress | None, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, fraction)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
