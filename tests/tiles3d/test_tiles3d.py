"""3D Tiles of LoD1 buildings: valid glb content, every building in exactly one tile, incremental
updates after an edit through the OGC API, the read check and caching headers of the doors."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pygltflib
import pytest
from sqlalchemy import Engine, text

from layers.catalog import LayerSpec, register_layer
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.config import Settings

ROOT = Path(__file__).resolve().parents[2]
GLB_VALIDATOR = ROOT / "tools" / "validate-glb.mjs"
TILES_VALIDATOR = ROOT / "tools" / "node_modules" / ".bin" / "3d-tiles-validator"
EDITABLE = "t3d_blocks"  # a department overlay of buildings with heights: editable through OGC API Features
HIDDEN = "t3d_hidden"
BLOCKS = 5_000  # more than one tile's worth (layers.tiles3d.tileset.MAX_PER_TILE)


def _overlay(conn, name: str, visibility: str, limit: int) -> None:
    conn.execute(text(f"DROP TABLE IF EXISTS thematic.{name}"))
    conn.execute(text(
        f"CREATE TABLE thematic.{name} (id bigserial PRIMARY KEY, height_m double precision, floors integer, "
        f"use varchar(32), name text, geom geometry(Polygon, 4326) NOT NULL)"
    ))
    conn.execute(text(
        f"INSERT INTO thematic.{name} (height_m, floors, use, name, geom) "
        f"SELECT height_m, floors, use, name, geom FROM basemap.building ORDER BY id LIMIT {limit}"
    ))
    conn.execute(text(f"CREATE INDEX ON thematic.{name} USING gist (geom)"))
    register_layer(conn, LayerSpec(
        id=name, title_zh="三维测试", title_en="3D test blocks", department_code="planning",
        visibility=visibility, storage_schema="thematic", storage_table=name,
    ))


@pytest.fixture(scope="module")
def city(demo_engine: Engine, demo_server: str) -> dict[str, str]:
    """Two overlays copied from the base map's buildings (one hidden) and a planning editor's token."""
    with demo_engine.begin() as conn:
        _overlay(conn, EDITABLE, "public", BLOCKS)
        _overlay(conn, HIDDEN, "department", 50)
    issued = create_token(demo_engine, department_code="planning", role="editor", name="3d editor",
                          actor=local_operator())
    deadline = time.monotonic() + 120  # the server's OGC API sees a new layer after its catalog refresh
    while httpx.get(f"{demo_server}/ogc/collections/{EDITABLE}/items?f=json&limit=1", timeout=60).status_code != 200:
        assert time.monotonic() < deadline, f"the OGC API never listed {EDITABLE}"
        time.sleep(0.2)
    return {"Authorization": f"Bearer {issued.secret}"}


def tileset_dir(settings: Settings, layer: str) -> Path:
    versions = [p for p in (settings.var_dir / "3dtiles" / layer).iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(versions) == 1, versions
    return versions[0]


@pytest.fixture(scope="module")
def buildings_tileset(demo_server: str, demo_settings: Settings) -> Path:
    """The demo's buildings tileset, built by the first request for it."""
    response = httpx.get(f"{demo_server}/ogc/collections/buildings/3dtiles/tileset.json", timeout=300)
    assert response.status_code == 200, response.text
    return tileset_dir(demo_settings, "buildings")


def glb_ids(path: Path) -> list[str]:
    """The building ids of a glb's property table, checked against its _FEATURE_ID_0 vertex attribute."""
    gltf = pygltflib.GLTF2.load_binary(str(path))
    blob = gltf.binary_blob()
    assert blob is not None
    table = gltf.extensions["EXT_structural_metadata"]["propertyTables"][0]
    view = gltf.bufferViews[table["properties"]["id"]["values"]]
    offsets_view = gltf.bufferViews[table["properties"]["id"]["stringOffsets"]]
    values = blob[view.byteOffset:view.byteOffset + view.byteLength]
    offsets = struct.unpack(f"<{table['count'] + 1}I", blob[offsets_view.byteOffset:offsets_view.byteOffset + offsets_view.byteLength])
    ids = [values[a:b].decode() for a, b in zip(offsets, offsets[1:], strict=False)]
    primitive = gltf.meshes[0].primitives[0]
    accessor = gltf.accessors[primitive.attributes._FEATURE_ID_0]
    fview = gltf.bufferViews[accessor.bufferView]
    fids = struct.unpack(f"<{accessor.count}f", blob[fview.byteOffset:fview.byteOffset + fview.byteLength])
    assert primitive.extensions["EXT_mesh_features"]["featureIds"][0]["featureCount"] == len(ids)
    assert set(fids) <= set(range(len(ids)))
    return ids


def tiles(tileset: dict) -> Iterator[tuple[dict, dict | None]]:
    """(tile, parent) of every tile."""
    stack: list[tuple[dict, dict | None]] = [(tileset["root"], None)]
    while stack:
        tile, parent = stack.pop()
        yield tile, parent
        stack.extend((child, tile) for child in tile.get("children", []))


def check_tileset(directory: Path) -> dict:
    """3D Tiles 1.1 rules of tileset.json: errors shrink downwards, children's regions inside parents', content exists."""
    tileset = json.loads((directory / "tileset.json").read_text())
    assert tileset["asset"]["version"] == "1.1"
    assert tileset["geometricError"] >= tileset["root"]["geometricError"]
    assert tileset["root"]["refine"] == "ADD"
    for tile, parent in tiles(tileset):
        region = tile["boundingVolume"]["region"]
        assert region[0] <= region[2] and region[1] <= region[3] and region[4] <= region[5]
        if parent is not None:
            outer = parent["boundingVolume"]["region"]
            assert tile["geometricError"] <= parent["geometricError"]
            assert outer[0] <= region[0] and outer[1] <= region[1] and region[2] <= outer[2] and region[3] <= outer[3]
            assert outer[4] <= region[4] and region[5] <= outer[5]
        if "content" in tile:
            assert (directory / tile["content"]["uri"]).is_file()
            assert len(tile["transform"]) == 16
    return tileset


def test_tileset_is_valid(buildings_tileset: Path) -> None:
    check_tileset(buildings_tileset)
    node = shutil.which("node")
    assert node, "node is needed (make tools)"
    glbs = sorted(str(p) for p in (buildings_tileset / "t").glob("*.glb"))
    result = subprocess.run([node, str(GLB_VALIDATOR), *glbs], capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    assert report == {"files": len(glbs), "errors": 0, "reports": []}, result.stderr
    if TILES_VALIDATOR.exists():  # the official 3D Tiles validator, when tools/ has it (see tools/package.json)
        report_file = buildings_tileset.parent / "validation-report.json"
        subprocess.run([str(TILES_VALIDATOR), "--tilesetFile", str(buildings_tileset / "tileset.json"),
                        "--reportFile", str(report_file)], capture_output=True, text=True, timeout=600)  # fmt: skip
        assert json.loads(report_file.read_text())["numErrors"] == 0


def test_every_building_in_exactly_one_tile(buildings_tileset: Path, demo_engine: Engine) -> None:
    tileset = json.loads((buildings_tileset / "tileset.json").read_text())
    uris = [t["content"]["uri"] for t, _ in tiles(tileset) if "content" in t]
    assert len(uris) > 1
    counted = Counter(fid for uri in uris for fid in glb_ids(buildings_tileset / uri))
    with demo_engine.connect() as conn:
        stored = {str(r[0]) for r in conn.execute(text("SELECT id FROM basemap.building"))}
    assert set(counted) == stored
    assert set(counted.values()) == {1}


def test_collection_links_its_tileset(demo_server: str) -> None:
    document = httpx.get(f"{demo_server}/ogc/collections/buildings?f=json", timeout=60).json()
    links = [link for link in document["links"] if link["href"].endswith("/3dtiles/tileset.json")]
    assert links and links[0]["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/geodata"
    roads = httpx.get(f"{demo_server}/ogc/collections/roads?f=json", timeout=60).json()
    assert not [link for link in roads["links"] if "3dtiles" in link["href"]]


def test_caching_headers(demo_server: str, buildings_tileset: Path) -> None:
    base = f"{demo_server}/ogc/collections/buildings/3dtiles"
    first = httpx.get(f"{base}/tileset.json", timeout=60)
    assert first.headers["cache-control"].startswith("public")
    again = httpx.get(f"{base}/tileset.json", headers={"If-None-Match": first.headers["etag"]}, timeout=60)
    assert again.status_code == 304
    uri = next(t["content"]["uri"] for t, _ in tiles(first.json()) if "content" in t)
    tile = httpx.get(f"{base}/{uri}", timeout=60)
    assert tile.status_code == 200 and tile.headers["content-type"] == "model/gltf-binary"
    assert tile.content[:4] == b"glTF"
    assert httpx.get(f"{base}/{uri}", headers={"If-None-Match": tile.headers["etag"]}, timeout=60).status_code == 304


@pytest.mark.parametrize("path", [
    "collections/nosuchlayer/3dtiles/tileset.json",
    f"collections/{HIDDEN}/3dtiles/tileset.json",
    "collections/roads/3dtiles/tileset.json",  # no heights: no 3D model
    "collections/buildings/3dtiles/t/../state.json",
    "collections/buildings/3dtiles/..%2Fstate.json",
    "collections/buildings/3dtiles/state.json",
    "collections/buildings/3dtiles/t/r9.glb",
    "collections/buildings/3dtiles/t/r0123012301230123.glb",
    "collections/buildings/3dtiles/tiles/0/0/0.png",
])
def test_bad_requests_are_4xx(demo_server: str, city: dict[str, str], buildings_tileset: Path, path: str) -> None:
    response = httpx.get(f"{demo_server}/ogc/{path}", timeout=60)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
    if HIDDEN in path:
        assert response.status_code == 404
        own = httpx.get(f"{demo_server}/ogc/{path}", headers=city, timeout=120)  # its department sees it
        assert own.status_code == 200


def _leaf_ids(directory: Path) -> dict[str, list[str]]:
    tileset = json.loads((directory / "tileset.json").read_text())
    return {t["content"]["uri"]: glb_ids(directory / t["content"]["uri"]) for t, _ in tiles(tileset) if "content" in t}


def _hashes(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_mtime_ns, p.stat().st_size) for p in (directory / "t").glob("*.glb")}


def test_moved_building_is_in_its_new_tile_only(demo_server: str, demo_settings: Settings, city: dict[str, str]) -> None:
    base = f"{demo_server}/ogc/collections/{EDITABLE}"
    assert httpx.get(f"{base}/3dtiles/tileset.json", timeout=300).status_code == 200
    directory = tileset_dir(demo_settings, EDITABLE)
    before_ids = _leaf_ids(directory)
    assert len(before_ids) >= 2 and sum(map(len, before_ids.values())) == BLOCKS
    (old_uri, old_ids), (new_uri, new_ids) = sorted(before_ids.items(), key=lambda kv: kv[0])[:2]
    moved, target = old_ids[0], new_ids[0]
    feature, anchor = (httpx.get(f"{base}/items/{fid}?f=json", timeout=60) for fid in (moved, target))
    assert feature.status_code == anchor.status_code == 200, (feature.text[:200], anchor.text[:200])
    feature, anchor = feature.json(), anchor.json()
    ring = feature["geometry"]["coordinates"][0]
    (ax, ay), (mx, my) = anchor["geometry"]["coordinates"][0][0], ring[0]
    shifted = [[x - mx + ax, y - my + ay] for x, y in ring]  # the same footprint, over the anchor building
    before = _hashes(directory)
    response = httpx.patch(
        f"{base}/items/{moved}", headers={**city, "Content-Type": "application/geo+json"}, timeout=60,
        json={"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [shifted]}, "properties": {"floors": 9}},
    )
    assert response.status_code in (200, 204), response.text
    assert httpx.get(f"{base}/3dtiles/tileset.json", timeout=120).status_code == 200
    after_ids = _leaf_ids(directory)
    holders = [uri for uri, ids in after_ids.items() if moved in ids]
    assert holders == [new_uri]
    assert sum(map(len, after_ids.values())) == BLOCKS
    after = _hashes(directory)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert changed == {old_uri, new_uri}
