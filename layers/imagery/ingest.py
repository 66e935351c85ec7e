"""Add a scene to an imagery layer: check the file, convert it to a COG, validate, swap it in, catalog it.

The whole journey either completes or leaves the previous file and catalog rows as they were:
the COG is written under a temporary name next to its final place, validated, then renamed
over the old file inside the catalog transaction (and renamed back if the transaction fails).
``add_scene`` adds (or replaces) one scene of a layer; ``add_imagery`` makes a layer of exactly
one scene, as before layers had several; ``add_remote_scene`` catalogues a COG behind a URL
(read in place by range requests, ``layers.imagery.remote``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rasterio
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import Polygon, box
from sqlalchemy import Engine, text

from layers.catalog import LayerSpec, register_layer
from layers.imagery.cog import check_cog, write_cog
from layers.imagery.describe import describe, footprint
from layers.imagery.readers import GDAL_ENV
from layers.imagery.remote import RemoteCOG, check_url
from layers.imagery.remote_check import RemoteObject, probe
from layers.imagery.scenes import (
    SceneRecord,
    check_cloud,
    check_scene_id,
    count_scene_rows,
    refresh_summary,
    scene_paths,
    scene_slug,
    upsert_scene,
)
from layers.imagery.source import check_pixels_readable, check_source, first_line, open_source
from layers.imagery.store import (
    check_department,
    existing_layer,
    layer_dir,
    record_scene,
    scene_name,
)
from spatial.config import Settings
from spatial.errors import InvalidInput, NotFound
from spatial.extent import ExtentRule
from spatial.params import parse_instant

DEFAULT_DEPARTMENT = "planning"
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
    scene_id: str = ""
    scene_count: int = 1

    def describe(self) -> str:
        """One line for people."""
        verb = "updated" if self.replaced else "added"
        return (
            f"imagery layer {self.layer_id} {verb} (scene {self.scene_id}, {self.scene_count} "
            f"scene(s)): {self.width}×{self.height} px, {self.band_count} "
            f"{self.dtype} band(s), {self.crs}, {self.resolution[0]:g} {self.resolution_unit}/px, overviews "
            f"{self.overviews or 'none'}, {self.size_bytes / 1e6:.1f} MB {self.compression} COG "
            f"at {self.storage_path} ({self.seconds:.1f} s)"
        )


def parse_acquired(value: str) -> dt.datetime:
    """An ISO 8601 date or date-time as an aware UTC datetime (naive values are taken as UTC)."""
    return parse_instant(value, name="acquisition time").astimezone(dt.UTC)


def add_imagery(
    engine: Engine,
    settings: Settings,
    path: Path | str,
    *,
    name: str,
    department: str = DEFAULT_DEPARTMENT,
    title_zh: str | None = None,
    title_en: str | None = None,
    visibility: str = "public",
    acquired: dt.datetime | None = None,
    description: str = "",
    compression: str = "deflate",
    progress: Progress | None = None,
) -> ImageryReport:
    """Publish the raster at ``path`` as imagery layer ``name``, replacing all its scenes."""
    return add_scene(
        engine, settings, path, layer=name, department=department, title_zh=title_zh,
        title_en=title_en, visibility=visibility, acquired=acquired, description=description,
        compression=compression, progress=progress, replace=True,
    )  # fmt: skip


def add_scene(
    engine: Engine,
    settings: Settings,
    path: Path | str,
    *,
    layer: str,
    acquired: dt.datetime | None = None,
    sensor: str | None = None,
    cloud_percent: float | None = None,
    quality: str = "",
    scene_id: str | None = None,
    department: str | None = None,
    title_zh: str | None = None,
    title_en: str | None = None,
    visibility: str | None = None,
    description: str | None = None,
    compression: str = "deflate",
    replace: bool = False,
    progress: Progress | None = None,
) -> ImageryReport:
    """Add the raster at ``path`` as a scene of imagery layer ``layer`` (created if new).

    A scene with the same id (by default from the file's name) is replaced; ``replace`` drops
    every other scene of the layer too. Catalog fields not given are kept from an existing layer.
    """
    started, source, acquired = time.monotonic(), Path(path), _as_utc(acquired)
    _notify(progress, "checking", 0.0)
    scene_id = check_scene_id(scene_id or scene_name(source))
    cloud_percent = check_cloud(cloud_percent)
    spec = LayerSpec(
        id=layer, title_zh=title_zh or "", title_en=title_en or "",
        department_code=department or "", visibility=visibility or "",
        description=description if description is not None else "",
    )  # fmt: skip
    existing, spec = _check_catalog(engine, spec)
    legacy = None if replace else _legacy_record(existing)
    folder = layer_dir(settings, layer)
    final = folder / f"{scene_id}.tif"
    with open_source(source) as dataset, _scratch_file(final) as partial:
        check_in_city(engine, settings, footprint(dataset), source.name)
        scene = _convert(dataset, partial, compression, progress)
        scene.attributes.update(acquired=_iso(acquired), source_file=source.name)
        if sensor:
            scene.attributes["sensor"] = sensor
        _notify(progress, "registering", 0.9)
        record = SceneRecord(
            scene_id,
            final,
            acquired,
            scene.extent,
            scene.attributes,
            sensor,
            cloud_percent,
            quality,
        )
        with _swapped_in(partial, final), engine.begin() as conn:
            register_layer(conn, dataclasses.replace(spec, storage_path=str(final)))
            if legacy is not None:
                upsert_scene(conn, layer, legacy)
            dropped = record_scene(conn, layer, record, replace=replace)
            scene_count = count_scene_rows(conn, layer)
    superseded = [*dropped, Path(existing["storage_path"])] if existing and replace else dropped
    _remove_superseded(superseded, final, folder)
    _notify(progress, "done", 1.0)
    report = _report(layer, final, scene, acquired, existing is not None, started)
    report.scene_id, report.scene_count = scene_id, scene_count
    return report


def add_remote_scene(
    engine: Engine,
    settings: Settings,
    url: str,
    *,
    layer: str,
    acquired: dt.datetime | None = None,
    sensor: str | None = None,
    cloud_percent: float | None = None,
    quality: str = "",
    scene_id: str | None = None,
    department: str | None = None,
    title_zh: str | None = None,
    title_en: str | None = None,
    visibility: str | None = None,
    description: str | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> ImageryReport:
    """Add the Cloud-Optimized GeoTIFF at ``url`` as a scene of imagery layer ``layer``, read in place.

    Nothing is downloaded or converted: the URL is checked (http(s) or s3 only; it answers, serves
    byte ranges and is a TIFF), the remote file validated as a COG from its headers, and its
    footprint, bands and statistics read from its overviews; size and ETag are recorded. Any
    failure is InvalidInput and nothing is catalogued. Otherwise as ``add_scene``.
    """
    started, acquired = time.monotonic(), _as_utc(acquired)
    _notify(progress, "checking", 0.0)
    url = check_url(url)
    name = RemoteCOG(url).name
    scene_id = check_scene_id(scene_id or scene_slug(Path(name).stem))
    cloud_percent = check_cloud(cloud_percent)
    spec = LayerSpec(
        id=layer, title_zh=title_zh or "", title_en=title_en or "",
        department_code=department or "", visibility=visibility or "",
        description=description if description is not None else "",
    )  # fmt: skip
    existing, spec = _check_catalog(engine, spec)
    legacy = None if replace else _legacy_record(existing)
    found = probe(url) if url.lower().startswith(("http://", "https://")) else RemoteObject(url, 0, "")
    location = RemoteCOG(url, found.etag, found.size)
    _notify(progress, "validating", 0.3)
    scene = _remote_scene(location)
    check_in_city(engine, settings, scene.extent, name)
    scene.attributes.update(acquired=_iso(acquired), source_url=url, etag=found.etag,
                            last_modified=found.last_modified)  # fmt: skip
    if sensor:
        scene.attributes["sensor"] = sensor
    _notify(progress, "registering", 0.9)
    record = SceneRecord(scene_id, location, acquired, scene.extent, scene.attributes, sensor, cloud_percent, quality)
    with engine.begin() as conn:
        register_layer(conn, dataclasses.replace(spec, storage_path=str(location)))
        if legacy is not None:
            upsert_scene(conn, layer, legacy)
        before = scene_paths(conn, layer).get(scene_id)
        dropped = record_scene(conn, layer, record, replace=replace)
        scene_count = count_scene_rows(conn, layer)
    superseded = [*dropped, *([before] if before is not None else [])]
    if existing and replace:
        superseded.append(Path(existing["storage_path"]))
    _remove_superseded(superseded, Path(), layer_dir(settings, layer))
    _notify(progress, "done", 1.0)
    report = _report(layer, location, scene, acquired, existing is not None, started)
    report.scene_id, report.scene_count = scene_id, scene_count
    return report


def _remote_scene(location: RemoteCOG) -> _Scene:
    """Validate a remote COG from its headers and describe it (statistics from an overview)."""
    label = location.name
    try:
        with rasterio.Env(**GDAL_ENV):
            with rasterio.open(location) as cog:
                check_source(cog, label)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                valid, errors, warns = cog_validate(str(location), quiet=True)
            if not valid:
                raise InvalidInput(
                    f"{label} is not a Cloud-Optimized GeoTIFF, so it cannot be read in place: convert it "
                    "(rio cogeo create IN OUT) and serve that, or add the file by its path",
                    details=errors,
                )
            with rasterio.open(location) as cog:
                attributes, extent = describe(cog), footprint(cog)
    except (RasterioError, CPLE_BaseError, OSError) as err:
        raise InvalidInput(f"{label} is not a readable GeoTIFF: {first_line(err)}") from None
    attributes["size_bytes"] = location.size
    return _Scene(attributes, extent, list(warns))


def check_in_city(engine: Engine, settings: Settings, scene: Polygon, label: str) -> None:
    """Refuse a scene whose lon/lat footprint misses the city's extent (none is refused without a city).

    The same extent as every vector write (ONEMAP_CITY_EXTENT, else the divisions plus a margin);
    a scene need only overlap it, as scenes are cut without regard to city limits.
    """
    with engine.connect() as conn:
        city = ExtentRule.from_settings(settings).resolve(conn)
    if city is None or scene.intersects(box(city.minx, city.miny, city.maxx, city.maxy)):
        return
    where = ",".join(f"{v:.4f}" for v in scene.bounds)
    raise InvalidInput(
        f"{label} lies at lon/lat {where}, outside the city's extent {city.describe()}: "
        "a scene must overlap the city (ONEMAP_CITY_EXTENT sets the extent when the divisions do not)"
    )


def remove_scene(engine: Engine, settings: Settings, layer: str, scene_id: str) -> int:
    """Remove one scene of a layer (never its last); how many scenes are left."""
    with engine.begin() as conn:
        conn.execute(text("SELECT 1 FROM catalog.layer WHERE id = :id FOR UPDATE"), {"id": layer})
        paths = scene_paths(conn, layer)
        if scene_id not in paths:
            raise NotFound(f"layer {layer!r} has no scene {scene_id!r}")
        if len(paths) == 1:
            raise InvalidInput(
                f"scene {scene_id!r} is the last scene of layer {layer!r}: remove the layer instead"
            )
        conn.execute(
            text("DELETE FROM imagery.scene WHERE layer_id = :id AND scene_id = :scene"),
            {"id": layer, "scene": scene_id},
        )
        refresh_summary(conn, layer)
    _remove_superseded([paths[scene_id]], Path(), layer_dir(settings, layer))
    return len(paths) - 1


@dataclass
class _Scene:
    """A converted, validated COG before it is catalogued."""

    attributes: dict[str, Any]
    extent: Polygon
    warnings: list[str]


def _check_catalog(engine: Engine, given: LayerSpec) -> tuple[dict[str, Any] | None, LayerSpec]:
    """Fail fast on a bad name, department or clash; the existing row and the entry to write.

    Fields left empty in ``given`` are taken from the existing layer, or defaulted for a new one.
    """
    LayerSpec(id=given.id, title_zh="", title_en="", department_code="").validate()
    with engine.connect() as conn:
        existing = existing_layer(conn, given.id)
        kept = existing or {}
        spec = LayerSpec(
            id=given.id,
            title_zh=given.title_zh or kept.get("title_zh") or given.id,
            title_en=given.title_en or kept.get("title_en") or given.title_zh or given.id,
            department_code=given.department_code
            or kept.get("department_code")
            or DEFAULT_DEPARTMENT,
            kind="imagery",
            visibility=given.visibility or kept.get("visibility") or "public",
            description=given.description or kept.get("description") or "",
            keywords=["imagery", "影像"],
        )
        spec.validate()
        check_department(conn, spec.department_code)
    return existing, spec


def _legacy_record(existing: dict[str, Any] | None) -> SceneRecord | None:
    """A scene row for the file of a layer from before scenes, so adding a scene keeps it."""
    if existing is None or existing.get("has_scenes") or not existing.get("storage_path"):
        return None
    path = Path(existing["storage_path"])
    if not path.is_file():
        return None
    with rasterio.open(path) as cog:
        attributes = dict(existing.get("attributes") or {}) | describe(cog)
        extent = footprint(cog)
    attributes["size_bytes"] = path.stat().st_size
    return SceneRecord(scene_slug(path.stem), path, existing.get("time_start"), extent, attributes)


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


def _remove_superseded(paths: list[Path], final: Path, folder: Path) -> None:
    """Delete files of scenes no longer catalogued, only inside the layer's own folder."""
    for path in paths:
        if path != final and path.parent == folder:
            path.unlink(missing_ok=True)


def _notify(progress: Progress | None, stage: str, fraction: float) -> None:
    if progress is not None:
        progress(stage, fraction)


def _as_utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None
