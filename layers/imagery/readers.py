"""Open rio-tiler Readers on stored COGs: kept per thread and per file, reopened when the file changes.

A remote scene's file is a ``layers.imagery.remote.RemoteCOG`` (GDAL reads it by range
requests; its version is its ETag and size from the catalog, so no request checks it); a read
that fails on it is a 503 (``RemoteImageryUnavailable``).

GDAL dataset handles are not thread-safe, so each worker thread keeps its own. For a tile at
zoom z the Reader is opened on the overview whose pixels best match that zoom, so the warp
reads a few hundred pixels rather than decimating the full-resolution image.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import morecantile
import rasterio
from rasterio.io import DatasetReader
from rasterio.warp import calculate_default_transform
from rio_tiler.io import Reader

from layers.imagery.remote import remote_reads
from spatial.errors import NotFound

MAX_OPEN_PER_THREAD = 16  # (file, resolution level) pairs per thread
GDAL_ENV = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR"}
WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")

_local = threading.local()
Version = tuple[int, int, int]


class ImageryFileMissing(NotFound):
    """A catalogued scene file is gone (e.g. replaced by a newer ingest a moment ago)."""


@dataclass
class _OpenImage:
    """A Reader on one resolution level of a file, with what picking a level needs."""

    version: Version
    reader: Reader
    mercator_res: float  # full-resolution pixel size in EPSG:3857 metres
    factors: list[int]  # overview decimation factors


@remote_reads
def open_reader(path: Path, zoom: int | None = None) -> Reader:
    """A Reader kept open for this thread; for ``zoom``, on the overview that suits that zoom."""
    full = _open(path, None)
    level = None if zoom is None else _overview_level(full, zoom)
    return full.reader if level is None else _open(path, level).reader


@remote_reads
def open_level(path: Path, level: int | None) -> Reader:
    """A Reader kept open for this thread on one overview level (None: full resolution)."""
    return _open(path, level).reader


def _overview_level(full: _OpenImage, zoom: int) -> int | None:
    """The coarsest overview still at least as fine as the tile's pixels (None: full resolution)."""
    tile_res = WEB_MERCATOR.matrix(zoom).cellSize
    level = None
    for index, factor in enumerate(full.factors):
        if full.mercator_res * factor <= tile_res * 1.001:
            level = index
    return level


def _open(path: Path, level: int | None) -> _OpenImage:
    version = _version(path)
    cache: OrderedDict[tuple[Path, int | None], _OpenImage] = _thread_cache()
    hit = cache.get((path, level))
    if hit is not None and hit.version == version:
        cache.move_to_end((path, level))
        return hit
    if hit is not None:
        hit.reader.dataset.close()
    with rasterio.Env(**GDAL_ENV):  # no directory listing (a request per open for a remote scene)
        dataset = rasterio.open(path) if level is None else rasterio.open(path, overview_level=level)
    image = _OpenImage(
        version, Reader(str(path), dataset=dataset), _mercator_res(dataset), dataset.overviews(1)
    )
    cache[(path, level)] = image
    while len(cache) > MAX_OPEN_PER_THREAD:
        _, oldest = cache.popitem(last=False)
        oldest.reader.dataset.close()
    return image


def _version(path: Path) -> Version:
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ImageryFileMissing(f"the imagery file {path.name} is missing") from None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _mercator_res(dataset: DatasetReader) -> float:
    transform, _, _ = calculate_default_transform(
        dataset.crs, WEB_MERCATOR.rasterio_crs, dataset.width, dataset.height, *dataset.bounds
    )
    return abs(transform.a)


def _thread_cache() -> OrderedDict[tuple[Path, int | None], _OpenImage]:
    cache = getattr(_local, "images", None)
    if cache is None:
        cache = _local.images = OrderedDict()
    return cache
