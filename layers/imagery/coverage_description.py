"""What a coverage looks like to OGC API Coverages clients: domain set, range type, CRSs.

The domain set (CIS 1.1 JSON) describes the coverage in CRS84, Lon/Lat, at about its stored
resolution: GDAL's OGCAPI driver (3.6 … 3.12) labels every coverage it reads EPSG:4326 and
takes the grid's bounds as lon/lat, so a domain set in the stored UTM metres would be read as
degrees. The stored CRS and grid are advertised beside it (``storageCrs``, ``crs``, and the
collection's ``extent.spatial.grid``); ``subset``/``scaleSize`` accept either system
(``layers.imagery.coverage_query``).
"""

from __future__ import annotations

import math
from typing import Any

from layers.imagery.coverage import CoverageGrid
from layers.imagery.coverage_query import lonlat_domain
from spatial.crs import CRS84_URI

INDEX_CRS = "http://www.opengis.net/def/crs/OGC/0/Index2D"
METRES_PER_DEGREE = 6378137 * math.pi / 180  # along the equator of WGS 84, as tile matrix sets count
METRES_PER_PIXEL = 0.28e-3  # the "standardized rendering pixel"
# SWE Common data types by numpy dtype, written as GDAL's OGCAPI driver reads them
OGC_TYPES = {
    "uint8": "ogcType:unsignedByte", "int8": "ogcType:signedByte", "uint16": "ogcType:unsignedShort",
    "int16": "ogcType:signedShort", "uint32": "ogcType:unsignedInt", "int32": "ogcType:signedInt",
    "float32": "ogcType:float32", "float64": "ogcType:float64",
}  # fmt: skip


def domain_set(grid: CoverageGrid) -> dict[str, Any]:
    """The CIS 1.1 domain set: a regular Lon/Lat grid over the coverage."""
    domain = lonlat_domain(grid)
    (west, south, east, north), (xres, yres) = domain.bounds, domain.resolution
    return {
        "type": "DomainSetType",
        "generalGrid": {
            "type": "GeneralGridCoverageType",
            "srsName": CRS84_URI,
            "axisLabels": ["Lon", "Lat"],
            "axis": [
                _axis("Lon", west, east, xres),
                _axis("Lat", south, north, -yres),  # rows run from north to south
            ],
            "gridLimits": {
                "type": "GridLimitsType",
                "srsName": INDEX_CRS,
                "axisLabels": ["i", "j"],
                "axis": [_index_axis("i", domain.width), _index_axis("j", domain.height)],
            },
        },
    }


def range_type(grid: CoverageGrid) -> dict[str, Any]:
    """The CIS 1.1 range type: one quantity per band, in band order."""
    return {
        "type": "DataRecordType",
        "field": [
            {
                "type": "QuantityType",
                "id": str(index),
                "name": name,
                "definition": OGC_TYPES.get(dtype, "ogcType:float64"),
                "uom": {"type": "UnitReference", "code": "1"},  # digital numbers
            }
            for index, name, dtype in grid.bands
        ],
    }


def collection_members(grid: CoverageGrid) -> dict[str, Any]:
    """Collection members: the stored CRS, every CRS subsets may use, the native scale.

    ``scaleDenominator`` is the scale of one stored cell at 0.28 mm per pixel (as OGC tile
    matrix sets count it); GDAL's OGCAPI driver sizes a map from it (without it, 1e-8° pixels:
    a map of the demo city 12 million pixels wide).
    """
    resolution = lonlat_domain(grid).resolution[0]
    return {
        "storageCrs": grid.crs_uri,
        "crs": list(dict.fromkeys([grid.crs_uri, CRS84_URI])),
        "scaleDenominator": resolution * METRES_PER_DEGREE / METRES_PER_PIXEL,
    }


def _axis(label: str, low: float, high: float, resolution: float) -> dict[str, Any]:
    return {
        "type": "RegularAxisType", "axisLabel": label, "lowerBound": low, "upperBound": high,
        "uomLabel": "deg", "resolution": resolution,
    }  # fmt: skip


def _index_axis(label: str, cells: int) -> dict[str, Any]:
    return {"type": "IndexAxisType", "axisLabel": label, "lowerBound": 0, "upperBound": cells - 1}
