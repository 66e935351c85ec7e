"""LoD1 building meshes and their glb tile content (glTF 2.0 with EXT_mesh_features and EXT_structural_metadata).

A building is its footprint extruded from its ground level to ground + height: one roof (the
footprint triangulated by mapbox-earcut) and one quad per footprint edge (the walls); the floor
is left out (never seen from above ground). Coordinates go lon/lat/height (EPSG:4979) → ECEF
(EPSG:4978, pyproj) → the tile's local east-north-up frame, whose ECEF transform the tileset
gives (``enu_to_ecef``). glTF is y-up and 3D Tiles z-up: the spec rotates glTF content by +90°
about x, so an ENU point (e, n, u) is written as glTF (e, u, -n).

Every vertex carries ``_FEATURE_ID_0``: the building's row in the tile's property table
(EXT_mesh_features), whose columns are the building's attributes (EXT_structural_metadata).
The glb is written by pygltflib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mapbox_earcut
import numpy as np
import pygltflib
import shapely
from pyproj import Transformer

Array = np.ndarray
_TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
PROPERTY_CLASS = "building"
FLOORS_NO_DATA = -1
SCHEMA: dict[str, Any] = {
    "id": "onemap_buildings",
    "classes": {
        PROPERTY_CLASS: {
            "name": "LoD1 building",
            "properties": {
                "id": {"type": "STRING", "description": "the feature id in the 2D layer"},
                "height_m": {"type": "SCALAR", "componentType": "FLOAT32", "description": "extruded height"},
                "ground_m": {"type": "SCALAR", "componentType": "FLOAT32", "description": "ground level (DEM or 0)"},
                "floors": {"type": "SCALAR", "componentType": "INT32", "noData": FLOORS_NO_DATA},
                "use": {"type": "STRING"},
                "name": {"type": "STRING"},
            },
        }
    },
}


@dataclass
class Buildings:
    """The buildings of one tile: footprints (lon/lat polygons) and what the property table holds."""

    footprints: Array  # shapely Polygon/MultiPolygon per building, CRS84
    height_m: Array  # float64
    ground_m: Array  # float64
    floors: Array  # int64, FLOORS_NO_DATA where unknown
    ids: list[str]
    use: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def ecef(lon: Array, lat: Array, height: Array) -> Array:
    """(n, 3) ECEF metres of lon/lat degrees and ellipsoidal heights."""
    x, y, z = _TO_ECEF.transform(lon, lat, height)
    return np.column_stack([x, y, z])


def enu_rotation(lon: float, lat: float) -> Array:
    """Rows: the east, north and up unit vectors at (lon, lat) in ECEF."""
    lam, phi = np.radians(lon), np.radians(lat)
    return np.array([
        [-np.sin(lam), np.cos(lam), 0.0],
        [-np.sin(phi) * np.cos(lam), -np.sin(phi) * np.sin(lam), np.cos(phi)],
        [np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)],
    ])  # fmt: skip


def enu_to_ecef(lon: float, lat: float, height: float = 0.0) -> list[float]:
    """The 4×4 column-major transform from the ENU frame at (lon, lat, height) to ECEF (a tile's ``transform``)."""
    rotation = enu_rotation(lon, lat)
    origin = np.array(_TO_ECEF.transform(lon, lat, height))
    matrix = np.eye(4)
    matrix[:3, :3] = rotation.T  # columns: east, north, up
    matrix[:3, 3] = origin
    return [float(v) for v in matrix.T.reshape(-1)]


@dataclass
class Mesh:
    positions: Array  # (n, 3) float32, glTF y-up
    normals: Array  # (n, 3) float32
    feature_ids: Array  # (n,) float32
    indices: Array  # (m,) uint32


def extrude(buildings: Buildings, origin: tuple[float, float]) -> Mesh:
    """Walls and roofs of every building, in the ENU frame at ``origin`` (lon, lat, height 0)."""
    parts, owner = shapely.get_parts(shapely.orient_polygons(buildings.footprints), return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    building_of = owner[ring_part[ring_of]]
    base = buildings.ground_m[building_of]
    top = base + buildings.height_m[building_of]
    rotation = enu_rotation(*origin)
    centre = np.array(_TO_ECEF.transform(origin[0], origin[1], 0.0))
    low = (ecef(coords[:, 0], coords[:, 1], base) - centre) @ rotation.T
    high = (ecef(coords[:, 0], coords[:, 1], top) - centre) @ rotation.T
    walls = _walls(low, high, ring_of, building_of)
    roofs = _roofs(high, ring_of, ring_part, building_of)
    meshes = [m for m in (walls, roofs) if len(m.indices)]
    if not meshes:
        return Mesh(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32), np.zeros(0, np.float32),
                    np.zeros(0, np.uint32))  # fmt: skip
    return _concatenate(meshes)


def _walls(low: Array, high: Array, ring_of: Array, building_of: Array) -> Mesh:
    """One quad (two triangles, own vertices for flat normals) per ring edge."""
    start = np.flatnonzero(ring_of[:-1] == ring_of[1:])  # an edge from point i to i + 1 of the same ring
    a0, b0, b1, a1 = low[start], low[start + 1], high[start + 1], high[start]
    edge = b0[:, :2] - a0[:, :2]
    length = np.hypot(edge[:, 0], edge[:, 1])
    keep = length > 1e-6
    start, a0, b0, b1, a1, edge, length = (v[keep] for v in (start, a0, b0, b1, a1, edge, length))
    normal = np.column_stack([edge[:, 1] / length, -edge[:, 0] / length, np.zeros(len(start))])
    n = len(start)
    positions = np.stack([a0, b0, b1, a1], axis=1).reshape(-1, 3)
    normals = np.repeat(normal, 4, axis=0)
    fids = np.repeat(building_of[start], 4).astype(np.float32)
    quad = np.array([0, 1, 2, 0, 2, 3], dtype=np.uint32)
    indices = (quad[None, :] + 4 * np.arange(n, dtype=np.uint32)[:, None]).reshape(-1)
    return Mesh(_y_up(positions), _y_up(normals), fids, indices)


def _roofs(high: Array, ring_of: Array, ring_part: Array, building_of: Array) -> Mesh:
    """Each footprint part triangulated by earcut (holes included) at roof height."""
    closing = np.ones(len(ring_of), dtype=bool)
    closing[:-1] = ring_of[:-1] != ring_of[1:]  # the repeated last point of each ring
    open_index = np.flatnonzero(~closing)
    vertices = high[open_index]
    rings = ring_of[open_index]
    parts = ring_part[rings]
    fids = building_of[open_index].astype(np.float32)
    bounds = np.flatnonzero(np.diff(parts)) + 1
    part_starts = np.concatenate([[0], bounds])
    part_ends = np.concatenate([bounds, [len(parts)]])
    triangles = []
    for start, end in zip(part_starts.tolist(), part_ends.tolist(), strict=True):
        ring_ends = np.flatnonzero(np.diff(rings[start:end])) + 1
        ends = np.concatenate([ring_ends, [end - start]]).astype(np.uint32)
        found = mapbox_earcut.triangulate_float64(vertices[start:end, :2], ends)
        triangles.append(found.astype(np.uint32) + start)
    indices = np.concatenate(triangles) if triangles else np.zeros(0, np.uint32)
    normals = np.zeros_like(vertices)
    normals[:, 2] = 1.0
    return Mesh(_y_up(vertices), _y_up(normals), fids, indices.astype(np.uint32))


def _y_up(enu: Array) -> Array:
    """ENU (e, n, u) as glTF's y-up (e, u, -n)."""
    return np.column_stack([enu[:, 0], enu[:, 2], -enu[:, 1]]).astype(np.float32)


def _concatenate(meshes: list[Mesh]) -> Mesh:
    offsets = np.cumsum([0] + [len(m.positions) for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.positions for m in meshes]),
        np.concatenate([m.normals for m in meshes]),
        np.concatenate([m.feature_ids for m in meshes]),
        np.concatenate([m.indices + np.uint32(o) for m, o in zip(meshes, offsets, strict=True)]),
    )


class _Blob:
    """The glb's one binary buffer, each view aligned to 8 bytes (EXT_structural_metadata asks for it)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.length = 0
        self.views: list[pygltflib.BufferView] = []

    def add(self, data: bytes, target: int | None = None, stride: int | None = None) -> int:
        pad = (-self.length) % 8
        if pad:
            self.chunks.append(b"\0" * pad)
            self.length += pad
        self.views.append(pygltflib.BufferView(buffer=0, byteOffset=self.length, byteLength=len(data),
                                               target=target, byteStride=stride))  # fmt: skip
        self.chunks.append(data)
        self.length += len(data)
        return len(self.views) - 1

    def data(self) -> bytes:
        pad = (-self.length) % 8
        return b"".join(self.chunks) + b"\0" * pad


def _strings(blob: _Blob, values: list[str]) -> dict[str, Any]:
    encoded = [value.encode() for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.uint32)
    offsets[1:] = np.cumsum([len(e) for e in encoded])
    return {
        "values": blob.add(b"".join(encoded)),
        "stringOffsets": blob.add(offsets.tobytes()),
        "stringOffsetType": "UINT32",
    }


def tile_glb(buildings: Buildings, origin: tuple[float, float]) -> bytes:
    """The glb of one tile: every building's mesh, its feature ids and its property table row."""
    mesh = extrude(buildings, origin)
    blob = _Blob()
    accessors = []
    f32, u32 = pygltflib.FLOAT, pygltflib.UNSIGNED_INT

    def accessor(view: int, component: int, count: int, kind: str, values: Array | None = None) -> int:
        found = pygltflib.Accessor(bufferView=view, componentType=component, count=count, type=kind)
        if values is not None and len(values):
            found.min = [float(v) for v in values.min(axis=0)]
            found.max = [float(v) for v in values.max(axis=0)]
        accessors.append(found)
        return len(accessors) - 1

    n = len(mesh.positions)
    position = accessor(blob.add(mesh.positions.tobytes(), pygltflib.ARRAY_BUFFER), f32, n, "VEC3", mesh.positions)
    normal = accessor(blob.add(mesh.normals.tobytes(), pygltflib.ARRAY_BUFFER), f32, n, "VEC3")
    feature = accessor(blob.add(mesh.feature_ids.tobytes(), pygltflib.ARRAY_BUFFER), f32, n, "SCALAR")
    index = accessor(blob.add(mesh.indices.tobytes(), pygltflib.ELEMENT_ARRAY_BUFFER), u32, len(mesh.indices), "SCALAR")
    properties = {
        "height_m": {"values": blob.add(buildings.height_m.astype(np.float32).tobytes())},
        "ground_m": {"values": blob.add(buildings.ground_m.astype(np.float32).tobytes())},
        "floors": {"values": blob.add(buildings.floors.astype(np.int32).tobytes())},
    }
    for name, values in (("id", buildings.ids), ("use", buildings.use), ("name", buildings.name)):
        if any(values):  # a column of empty strings is left out (a buffer view may not be empty)
            properties[name] = _strings(blob, values)
    primitive = pygltflib.Primitive(
        attributes=pygltflib.Attributes(POSITION=position, NORMAL=normal, _FEATURE_ID_0=feature),
        indices=index, material=0, mode=pygltflib.TRIANGLES,
        extensions={"EXT_mesh_features": {"featureIds": [
            {"featureCount": len(buildings), "attribute": 0, "propertyTable": 0}
        ]}},
    )  # fmt: skip
    data = blob.data()
    gltf = pygltflib.GLTF2(
        asset=pygltflib.Asset(version="2.0", generator="onemap tiles3d"),
        scene=0,
        scenes=[pygltflib.Scene(nodes=[0])],
        nodes=[pygltflib.Node(mesh=0)],
        meshes=[pygltflib.Mesh(primitives=[primitive])],
        materials=[pygltflib.Material(
            pbrMetallicRoughness=pygltflib.PbrMetallicRoughness(
                baseColorFactor=[0.85, 0.83, 0.78, 1.0], metallicFactor=0.0, roughnessFactor=0.9
            ),
        )],
        accessors=accessors,
        bufferViews=blob.views,
        buffers=[pygltflib.Buffer(byteLength=len(data))],
        extensionsUsed=["EXT_mesh_features", "EXT_structural_metadata"],
        extensions={"EXT_structural_metadata": {
            "schema": SCHEMA,
            "propertyTables": [{"class": PROPERTY_CLASS, "count": len(buildings), "properties": properties}],
        }},
    )  # fmt: skip
    gltf.set_binary_blob(data)
    return b"".join(gltf.save_to_bytes())
