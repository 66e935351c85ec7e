"""3D Tiles 1.1 tilesets of LoD1 buildings, built from PostGIS and kept in step with the layer's history.

Layout: a quadtree over the extent of the buildings' representative points (PostGIS
``ST_PointOnSurface``); a cell holding more than ``MAX_PER_TILE`` buildings splits in four, so
every leaf holds at most that many (cells at ``MAX_DEPTH`` excepted) and each building is in
exactly one leaf: the one its representative point falls in. Only leaves have content (one
glb each, ``t/r<quadrant digits>.glb``, in an east-north-up frame whose ECEF ``transform`` the
leaf carries); inner tiles group them with ``refine: ADD``. Bounding volumes are regions
(radians, metres) of the footprints and heights actually in the tile, a parent's the union of
its children's. Geometric error: 0 at leaves, a tenth of the cell's width above.

Storage: ``<var_dir>/3dtiles/<layer>/<layer version>/`` holds tileset.json, the glbs and
state.json (the quadtree, which buildings each leaf holds, and the layer history mark the
files reflect). A new layer version (an upload-replace, a reload) is built anew beside the
old one, then the old one is removed.

Incremental updates are lazy: every request for the tileset or a tile compares the layer's
history (``audit.feature_change``, written in the same transaction as every feature edit)
with the mark in state.json; changed features are re-read, and only the leaves holding
their old and new positions are rewritten, then tileset.json (whose bounding volumes of
those leaves' ancestors may change). A moved building thus leaves its old tile and appears in
the one its new position falls in. A building moving outside the quadtree's extent, a
whole-layer change or a history row committed out of order rebuilds the whole tileset.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import shapely
from sqlalchemy import Engine

from layers.catalog import find_layer
from layers.tiles3d.ground import dem_layer, ground_levels
from layers.tiles3d.source import (
    Rows,
    Source,
    changed_since,
    history_mark,
    read_all,
    read_ids,
    source_of,
)
from spatial.config import Settings
from spatial.tiles3d.mesh import enu_to_ecef, tile_glb

MAX_PER_TILE = 2_000
MAX_DEPTH = 16
METRES_PER_DEGREE = 111_320.0
STATE = "state.json"
MARK = "mark.json"  # the small part of the state every request reads: history mark, counts
TILESET = "tileset.json"


@dataclass(frozen=True)
class TilesetInfo:
    """A finished tileset: where it is, for which layer version and history mark, what it holds."""

    layer_id: str
    version: int
    mark: int
    directory: Path
    buildings: int
    tiles: int
    rewritten: tuple[str, ...]  # the glbs written by the call that returned this (all of them after a build)
    seconds: float

    @property
    def tileset_version(self) -> str:
        return f"{self.version}.{self.mark}"


def layer_root(settings: Settings, layer_id: str) -> Path:
    return settings.var_dir / "3dtiles" / layer_id


def tile_name(key: str) -> str:
    return f"t/r{key}.glb"


# --------------------------------------------------------------------------- quadtree


def _split(cell: tuple[float, float, float, float], lon: np.ndarray, lat: np.ndarray, index: np.ndarray,
           key: str, leaves: dict[str, np.ndarray]) -> None:  # fmt: skip
    if len(index) <= MAX_PER_TILE or len(key) >= MAX_DEPTH:
        leaves[key] = index
        return
    for quadrant, child in enumerate(_children(cell)):
        inside = _quadrant_of(cell, lon[index], lat[index]) == quadrant
        _split(child, lon, lat, index[inside], key + str(quadrant), leaves)


def _children(cell: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    w, s, e, n = cell
    mx, my = (w + e) / 2, (s + n) / 2
    return [(w, s, mx, my), (mx, s, e, my), (w, my, mx, n), (mx, my, e, n)]


def _quadrant_of(cell: tuple[float, float, float, float], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    w, s, e, n = cell
    return (lon >= (w + e) / 2).astype(int) + 2 * (lat >= (s + n) / 2).astype(int)


def _cell(root: tuple[float, float, float, float], key: str) -> tuple[float, float, float, float]:
    cell = root
    for digit in key:
        cell = _children(cell)[int(digit)]
    return cell


def _leaf_of(root: tuple[float, float, float, float], leaves: dict[str, Any], lon: float, lat: float) -> str | None:
    """The leaf whose cell holds the point; None outside the root cell."""
    w, s, e, n = root
    if not (w <= lon <= e and s <= lat <= n):
        return None
    key, cell = "", root
    while key not in leaves:
        quadrant = int(_quadrant_of(cell, np.array([lon]), np.array([lat]))[0])
        key, cell = key + str(quadrant), _children(cell)[quadrant]
    return key


def _root_cell(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float]:
    """The points' extent, widened by a tenth (at least ~100 m) so small moves stay inside."""
    if not len(lon):
        return (0.0, 0.0, 0.001, 0.001)
    w, e, s, n = float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max())
    pad_x, pad_y = max((e - w) / 10, 0.001), max((n - s) / 10, 0.001)
    return (w - pad_x, s - pad_y, e + pad_x, n + pad_y)


# --------------------------------------------------------------------------- tiles


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_bytes(data)
    os.replace(partial, path)


def _write_leaf(directory: Path, key: str, rows: Rows, index: np.ndarray, ground: np.ndarray) -> dict[str, Any]:
    """Write one leaf's glb; its state (ids, region, origin)."""
    buildings = rows.take(index, ground)
    bounds = shapely.bounds(buildings.footprints)
    w, s = float(np.nanmin(bounds[:, 0])), float(np.nanmin(bounds[:, 1]))
    e, n = float(np.nanmax(bounds[:, 2])), float(np.nanmax(bounds[:, 3]))
    origin = ((w + e) / 2, (s + n) / 2)
    _write(directory / tile_name(key), tile_glb(buildings, origin))
    low = float(buildings.ground_m.min())
    high = float((buildings.ground_m + buildings.height_m).max())
    region = [math.radians(w), math.radians(s), math.radians(e), math.radians(n), low, high]
    levels = [float(g) for g in buildings.ground_m] if buildings.ground_m.any() else []  # [] : all on 0 m
    return {"ids": buildings.ids, "ground": levels, "region": region,
            "origin": list(origin)}  # fmt: skip


def _empty_leaf() -> dict[str, Any]:
    return {"ids": [], "ground": [], "region": None, "origin": None}


# --------------------------------------------------------------------------- build


def build_tileset(engine: Engine, layer_id: str, *, settings: Settings) -> TilesetInfo:
    """Build the layer's whole tileset from PostGIS (NotFound when the layer has no 3D model)."""
    source = source_of(find_layer(engine, layer_id), layer_id)
    with _locked(settings, layer_id):
        return _build(engine, settings, source)


def _build(engine: Engine, settings: Settings, source: Source) -> TilesetInfo:
    started = time.perf_counter()
    last, count = history_mark(engine, source)
    rows = read_all(engine, source)
    dem = dem_layer(engine)
    ground = ground_levels(engine, dem, rows.lon, rows.lat)
    root = _root_cell(rows.lon, rows.lat)
    split: dict[str, np.ndarray] = {}
    _split(root, rows.lon, rows.lat, np.arange(len(rows.ids)), "", split)
    top = layer_root(settings, source.layer_id)
    partial = top / f".build-{source.version}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    leaves = {
        key: _write_leaf(partial, key, rows, index, ground[index]) if len(index) else _empty_leaf()
        for key, index in split.items()
    }
    state = {"layer": source.layer_id, "version": source.version, "mark": last, "count": count, "dem": dem,
             "root": list(root), "leaves": leaves}  # fmt: skip
    _write(partial / TILESET, _tileset_json(state))
    _write(partial / STATE, orjson.dumps(state))
    _write(partial / MARK, _mark(state))
    final = top / str(source.version)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    for old in top.iterdir():
        if old.is_dir() and old.name != final.name and not old.name.startswith(".build-"):
            shutil.rmtree(old, ignore_errors=True)
    written = tuple(tile_name(k) for k, leaf in leaves.items() if leaf["ids"])
    return TilesetInfo(source.layer_id, source.version, last, final, len(rows.ids), len(written), written,
                       time.perf_counter() - started)  # fmt: skip


# --------------------------------------------------------------------------- incremental


def update_tileset(
    engine: Engine, layer_id: str, changed_feature_ids: list[str], *, settings: Settings
) -> TilesetInfo:
    """Rewrite only the tiles that held or now hold the changed features (a build when none exists)."""
    source = source_of(find_layer(engine, layer_id), layer_id)
    with _locked(settings, layer_id):
        state = _state(settings, source)
        if state is None:
            return _build(engine, settings, source)
        last, count = history_mark(engine, source)
        return _update(engine, settings, source, state, changed_feature_ids, last, count)


def _update(
    engine: Engine, settings: Settings, source: Source, state: dict[str, Any], changed: list[str],
    last: int, count: int,
) -> TilesetInfo:
    started = time.perf_counter()
    directory = layer_root(settings, source.layer_id) / str(source.version)
    leaves: dict[str, dict[str, Any]] = state["leaves"]
    root = tuple(state["root"])
    wanted = set(changed)
    holder = {fid: key for key, leaf in leaves.items() for fid in leaf["ids"] if fid in wanted}
    current = read_ids(engine, source, sorted(wanted))
    touched = set(holder.values())
    moved_to: dict[str, str] = {}
    for fid, lon, lat in zip(current.ids, current.lon.tolist(), current.lat.tolist(), strict=True):
        key = _leaf_of(root, leaves, lon, lat)
        if key is None:  # outside the quadtree: lay it out anew
            return _build(engine, settings, source)
        moved_to[fid] = key
        touched.add(key)
    for key in sorted(touched):
        ground_of = dict(zip(leaves[key]["ids"], leaves[key]["ground"] or [0.0] * len(leaves[key]["ids"]), strict=True))
        keep = [fid for fid in leaves[key]["ids"] if fid not in wanted]
        keep += [fid for fid, k in moved_to.items() if k == key]
        rows = read_ids(engine, source, keep) if keep else None
        if rows is None or not rows.ids:
            leaves[key] = _empty_leaf()
            (directory / tile_name(key)).unlink(missing_ok=True)
            continue
        missing = [i for i, fid in enumerate(rows.ids) if fid not in ground_of or fid in wanted]
        ground = np.array([ground_of.get(fid, 0.0) for fid in rows.ids])
        if missing:
            index = np.array(missing)
            ground[index] = ground_levels(engine, state.get("dem"), rows.lon[index], rows.lat[index])
        leaves[key] = _write_leaf(directory, key, rows, np.arange(len(rows.ids)), ground)
    state.update(mark=last, count=count)
    _write(directory / TILESET, _tileset_json(state))
    _write(directory / STATE, orjson.dumps(state))
    _write(directory / MARK, _mark(state))
    written = tuple(tile_name(k) for k in sorted(touched) if leaves[k]["ids"])
    return TilesetInfo(source.layer_id, source.version, last, directory, sum(len(v["ids"]) for v in leaves.values()),
                       sum(1 for v in leaves.values() if v["ids"]), written, time.perf_counter() - started)  # fmt: skip


def ensure_tileset(engine: Engine, layer_id: str, *, settings: Settings) -> TilesetInfo:
    """The layer's tileset as of its current version and history: built, updated or as it was."""
    source = source_of(find_layer(engine, layer_id), layer_id)
    current = _current(engine, settings, source)  # the common case, without waiting for the lock
    if current is not None:
        return current
    with _locked(settings, layer_id):
        current = _current(engine, settings, source)  # another process may have just done it
        if current is not None:
            return current
        state = _state(settings, source)
        if state is None:
            return _build(engine, settings, source)
        last, count = history_mark(engine, source)
        changed, rows_after = changed_since(engine, source, state["mark"])
        if None in changed or state["count"] + rows_after != count:  # whole-layer change, or rows out of order
            return _build(engine, settings, source)
        ids = [fid for fid in changed if fid is not None]
        return _update(engine, settings, source, state, ids, last, count)


def _current(engine: Engine, settings: Settings, source: Source) -> TilesetInfo | None:
    """The tileset when its files reflect the layer's version and history; None when they do not."""
    directory = layer_root(settings, source.layer_id) / str(source.version)
    try:
        mark = orjson.loads((directory / MARK).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    last, count = history_mark(engine, source)
    if (last, count) != (mark["mark"], mark["count"]):
        return None
    return TilesetInfo(source.layer_id, source.version, last, directory, mark["buildings"], mark["tiles"], (), 0.0)


def _mark(state: dict[str, Any]) -> bytes:
    leaves = state["leaves"].values()
    return orjson.dumps({"mark": state["mark"], "count": state["count"], "buildings": sum(len(v["ids"]) for v in leaves),
                         "tiles": sum(1 for v in leaves if v["ids"])})  # fmt: skip


def _state(settings: Settings, source: Source) -> dict[str, Any] | None:
    path = layer_root(settings, source.layer_id) / str(source.version) / STATE
    try:
        state: dict[str, Any] = orjson.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None
    return state


@contextmanager
def _locked(settings: Settings, layer_id: str) -> Iterator[None]:
    """One builder or updater of a layer's tileset at a time, across the server's processes."""
    top = layer_root(settings, layer_id)
    top.mkdir(parents=True, exist_ok=True)
    with open(top / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --------------------------------------------------------------------------- tileset.json


def _tileset_json(state: dict[str, Any]) -> bytes:
    root_cell = tuple(state["root"])
    leaves: dict[str, dict[str, Any]] = state["leaves"]
    full = {key for key, leaf in leaves.items() if leaf["ids"]}
    inner = {key[:i] for key in full for i in range(len(key))}
    width_m = (root_cell[2] - root_cell[0]) * METRES_PER_DEGREE * math.cos(math.radians((root_cell[1] + root_cell[3]) / 2))

    def node(key: str) -> dict[str, Any] | None:
        if key in full:
            leaf = leaves[key]
            return {"boundingVolume": {"region": leaf["region"]}, "geometricError": 0.0,
                    "transform": enu_to_ecef(*leaf["origin"]), "content": {"uri": tile_name(key)}}  # fmt: skip
        if key not in inner:
            return None
        children = [c for c in (node(key + str(q)) for q in range(4)) if c is not None]
        regions = np.array([c["boundingVolume"]["region"] for c in children])
        region = [float(regions[:, 0].min()), float(regions[:, 1].min()), float(regions[:, 2].max()),
                  float(regions[:, 3].max()), float(regions[:, 4].min()), float(regions[:, 5].max())]  # fmt: skip
        error = max(width_m / 2 ** len(key) / 10, 1.0)
        return {"boundingVolume": {"region": region}, "geometricError": error, "children": children}

    root = node("")
    if root is None:  # no building: an empty root over the cell
        w, s, e, n = (math.radians(v) for v in root_cell)
        root = {"boundingVolume": {"region": [w, s, e, n, 0.0, 1.0]}, "geometricError": 0.0}
    root["refine"] = "ADD"
    document = {
        "asset": {"version": "1.1", "tilesetVersion": f"{state['version']}.{state['mark']}",
                  "generator": "onemap tiles3d"},  # fmt: skip
        "geometricError": max(width_m / 5, 1.0),
        "root": root,
    }
    return orjson.dumps(document)


# --------------------------------------------------------------------------- serving


def tile_path(info: TilesetInfo, path: str) -> Path | None:
    """The file of ``tileset.json`` or ``t/r<digits>.glb`` in the tileset; None for anything else."""
    if path == TILESET:
        return info.directory / TILESET
    if path.startswith("t/r") and path.endswith(".glb") and set(path[3:-4]) <= set("0123") and len(path) < 64:
        found = info.directory / path
        return found if found.is_file() else None
    return None
