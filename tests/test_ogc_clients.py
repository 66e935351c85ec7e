"""Real OGC API clients against the running platform: GDAL's OAPIF driver, OWSLib, schemathesis, QGIS."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import get_json
from tests.test_ogc_api import centre_bbox

BASE_LAYERS = ("admin_divisions", "roads", "buildings", "addresses", "pois")


def _ogrinfo(*args: str) -> subprocess.CompletedProcess[str]:
    if not shutil.which("ogrinfo"):
        pytest.fail("ogrinfo (Debian gdal-bin) is missing: `make test` installs it")
    env = {**os.environ, "GDAL_HTTP_TIMEOUT": "60", "CPL_DEBUG": "OFF"}
    return subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, timeout=300, env=env)


def test_gdal_oapif_lists_collections(demo_server: str) -> None:
    result = _ogrinfo("-so", f"OAPIF:{demo_server}/ogc")
    assert result.returncode == 0, result.stderr
    for layer in BASE_LAYERS:
        assert f": {layer} " in result.stdout or f": {layer}\n" in result.stdout or f" {layer} (" in result.stdout, result.stdout


def test_gdal_oapif_reads_features_in_a_window(demo_server: str) -> None:
    xmin, ymin, xmax, ymax = centre_bbox(demo_server, 0.004)
    result = _ogrinfo(
        "-q", "-al", "-spat", str(xmin), str(ymin), str(xmax), str(ymax),
        f"OAPIF:{demo_server}/ogc", "addresses",
    )
    assert result.returncode == 0, result.stderr
    assert "OGRFeature(addresses)" in result.stdout
    points = [line for line in result.stdout.splitlines() if line.strip().startswith("POINT")]
    assert points
    for line in points:
        lon, lat = (float(v) for v in line.split("(")[1].rstrip(")").split())
        assert xmin - 1e-6 <= lon <= xmax + 1e-6 and ymin - 1e-6 <= lat <= ymax + 1e-6
    assert "full_zh (String)" in result.stdout or "full_zh" in result.stdout


def test_owslib_reads_conformance_collections_and_items(demo_server: str) -> None:
    from owslib.ogcapi.features import Features

    api = Features(f"{demo_server}/ogc")
    assert any("ogcapi-features-1" in c for c in api.conformance()["conformsTo"])
    ids = {c["id"] for c in api.collections()["collections"]}
    assert set(BASE_LAYERS) <= ids
    bbox = centre_bbox(demo_server, 0.004)
    page = api.collection_items("addresses", bbox=bbox, limit=50)
    assert page["features"]
    for feature in page["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        assert bbox[0] <= lon <= bbox[2] and bbox[1] <= lat <= bbox[3]


def test_schemathesis_finds_no_server_error(demo_server: str, tmp_path: Path) -> None:
    """Fuzz every GET operation of the OpenAPI document: no 5xx anywhere."""
    st = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(st), "run", f"{demo_server}/ogc/openapi?f=json",
            "--checks", "not_a_server_error",
            "--include-method", "GET",
            "--max-examples", "15",
            "--seed", "1",
            "--phases", "examples,coverage,fuzzing",
            "--request-timeout", "60",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=1500, cwd=tmp_path,
    )
    tail = "\n".join(result.stdout.splitlines()[-40:])
    assert result.returncode == 0, tail
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated, tail
    assert int(generated.group(1)) > 1000 and generated.group(1) == generated.group(2), tail


def _system_python_with_qgis() -> str:
    """Debian's python3 when it can import QGIS (python3-qgis binds it); else the test is skipped."""
    system_python = shutil.which("python3", path="/usr/bin")
    probe = subprocess.run([system_python or "python3", "-c", "import qgis.core"], capture_output=True)
    if system_python is None or probe.returncode != 0:
        pytest.skip("QGIS (Debian package `qgis`, python3-qgis) is not installed on this machine")
    return system_python


def _qgis_env(home: Path) -> dict[str, str]:
    return {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}


def test_qgis_loads_a_collection(demo_server: str, tmp_path: Path) -> None:
    """If QGIS is installed (Debian `qgis`), its OAPIF provider loads a collection headless."""
    system_python = _system_python_with_qgis()
    script = f"""
import sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False); app.initQgis()
layer = QgsVectorLayer("url='{demo_server}/ogc' typename='pois'", "pois", "OAPIF")
print("valid", layer.isValid(), "count", layer.featureCount())
sys.exit(0 if layer.isValid() and layer.featureCount() > 0 else 1)
"""
    result = subprocess.run(
        [system_python, "-c", script], capture_output=True, text=True, timeout=300, env=_qgis_env(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr


def xyz_template(tileset: dict) -> str:
    """The tileset's MVT tile link as an XYZ template ({tileMatrix}/{tileRow}/{tileCol} → {z}/{y}/{x})."""
    href = next(link["href"] for link in tileset["links"] if link["type"] == "application/vnd.mapbox-vector-tile")
    for ogc, xyz in (("{tileMatrix}", "{z}"), ("{tileRow}", "{y}"), ("{tileCol}", "{x}")):
        href = href.replace(ogc, xyz)
    return href


def test_qgis_renders_our_vector_tiles(demo_server: str, tmp_path: Path) -> None:
    """QGIS's vector tile layer reads the tile template we advertise and draws the demo's buildings.

    The view around the city's centre at zoom 15 must have pixels drawn; the same view 5° west,
    outside the city (tiles answered but empty), must be all background: what is drawn is our data.
    """
    system_python = _system_python_with_qgis()
    tileset = get_json(f"{demo_server}/ogc/collections/buildings/tiles/WebMercatorQuad", f="json")
    template = xyz_template(tileset)
    assert template.startswith(demo_server) and template.endswith("/{z}/{y}/{x}?f=mvt"), template
    xmin, ymin, xmax, ymax = centre_bbox(demo_server)
    script = Path(__file__).with_name("qgis_vector_tiles.py")
    png = tmp_path / "buildings.png"
    result = subprocess.run(
        [system_python, str(script), template, str((xmin + xmax) / 2), str((ymin + ymax) / 2), "15", str(png)],
        capture_output=True, text=True, timeout=300, env=_qgis_env(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["valid"], result.stderr
    assert report["drawn"] > 512 * 512 // 100, (report, png)  # buildings over more than 1 % of the view
    assert report["drawn_outside"] == 0, report
