"""QGIS reads our vector tiles: run by Debian's python3 (python3-qgis), headless, from test_ogc_clients.

    python3 tests/qgis_vector_tiles.py TILE_URL_TEMPLATE LON LAT ZOOM PNG

TILE_URL_TEMPLATE is XYZ-style (`…/{z}/{y}/{x}?f=mvt`). A QgsVectorTileLayer is made from it
and rendered (QgsMapRendererSequentialJob, 512 × 512 px, EPSG:3857) around (LON, LAT) at ZOOM,
written to PNG; as a control, the same view 5° west (outside the city: empty tiles) is rendered
too. Prints one JSON line: the layer's validity and the pixels drawn (not the background) in
both views. (QGIS 3.22's Python has no MVT loader or decoder to read features directly.)
"""

from __future__ import annotations

import json
import math
import sys

from qgis.core import (  # type: ignore[import-not-found]
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsDataSourceUri,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsPointXY,
    QgsRectangle,
    QgsVectorTileLayer,
)
from qgis.PyQt.QtCore import QSize  # type: ignore[import-not-found]
from qgis.PyQt.QtGui import QColor  # type: ignore[import-not-found]

HALF_WORLD = 20037508.342789244
BACKGROUND = QColor(255, 255, 255)


def web_mercator(lon: float, lat: float) -> QgsPointXY:
    """EPSG:3857 coordinates of a lon/lat point."""
    x = math.radians(lon) * 6378137.0
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * 6378137.0
    return QgsPointXY(x, y)


def layer_of(template: str) -> QgsVectorTileLayer:
    """A vector tile layer over the XYZ template, zoom 0 to 18."""
    uri = QgsDataSourceUri()
    for key, value in (("type", "xyz"), ("url", template), ("zmin", "0"), ("zmax", "18")):
        uri.setParam(key, value)
    return QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), "onemap tiles")


def drawn_pixels(layer: QgsVectorTileLayer, lon: float, lat: float, zoom: int, png: str) -> int:
    """Render 512 × 512 px around the point at the zoom; count pixels that are not background."""
    centre, metres_per_px = web_mercator(lon, lat), 2 * HALF_WORLD / 256 / 2**zoom
    half = 256 * metres_per_px
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setOutputSize(QSize(512, 512))
    settings.setBackgroundColor(BACKGROUND)
    settings.setExtent(QgsRectangle(centre.x() - half, centre.y() - half, centre.x() + half, centre.y() + half))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png)
    background = BACKGROUND.rgb()
    return sum(image.pixel(x, y) != background for x in range(image.width()) for y in range(image.height()))


def main() -> int:
    template, lon, lat, zoom, png = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    app = QgsApplication([], False)
    app.initQgis()
    layer = layer_of(template)
    report = {"valid": layer.isValid(), "drawn": 0, "drawn_outside": 0}
    if layer.isValid():
        report["drawn"] = drawn_pixels(layer, lon, lat, zoom, png)
        report["drawn_outside"] = drawn_pixels(layer, lon - 5, lat, zoom, png + ".outside.png")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
