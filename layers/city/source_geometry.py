"""A source's geometries made fit for the base map: the asked family, none empty, all valid.

Each step records what it did in the city report, naming features by their number in the file
(``feature_no``, 1 = first, with its ``osm_id`` when a file has one) or, read from an OSM
extract, by their OSM element (``way 42``): GDAL builds an OSM layer's features from the
extract rather than reading them from it, so a position in that layer means nothing outside
GDAL. A step returns None after recording an error: the source cannot be loaded as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import geopandas as gpd
import numpy as np
import shapely

from layers.city.report import CityReport

Family = Literal["polygon", "line", "point"]
FAMILY_TYPES = {
    "polygon": ("Polygon", "MultiPolygon"),
    "line": ("LineString", "MultiLineString"),
    "point": ("Point",),
}
PART_TYPE = {"polygon": shapely.GeometryType.POLYGON, "line": shapely.GeometryType.LINESTRING,
             "point": shapely.GeometryType.POINT}  # fmt: skip
COLLECTION = shapely.GeometryType.GEOMETRYCOLLECTION
OSM_ID_COLUMNS = ("osm_id", "osm_way_id")
OSM_LAYER = "osm_layer"
"""Key of ``frame.attrs`` naming the OSM driver's layer a frame was read from."""
OSM_ELEMENTS = {"points": "node", "lines": "way", "multilinestrings": "relation",
                "multipolygons": "relation", "other_relations": "relation"}  # fmt: skip
"""What the driver's ``osm_id`` is in each layer (a multipolygon's ``osm_way_id`` is a way)."""


def feature_labels(frame: gpd.GeoDataFrame, mask: Sequence[bool] | np.ndarray) -> list[str]:
    """'feature 12' per selected row, 'feature 12 (osm_id 42)' with OSM ids, 'way 42' from OSM."""
    rows = frame[np.asarray(mask, dtype=bool)]
    labels = [f"feature {n}" for n in rows["feature_no"].tolist()]
    layer = frame.attrs.get(OSM_LAYER)
    if layer is not None:
        return osm_labels(rows, OSM_ELEMENTS.get(layer, "element"), labels)
    for column in (c for c in OSM_ID_COLUMNS if c in rows):
        for position, value in enumerate(rows[column].tolist()):
            if _present(value) and "(" not in labels[position]:
                labels[position] += f" ({column} {value})"
    return labels


def osm_labels(rows: gpd.GeoDataFrame, element: str, fallback: list[str]) -> list[str]:
    """'way 4242' / 'relation 7' for each row of an OSM layer (the fallback without an id)."""
    labels = list(fallback)
    for column, kind in (("osm_id", element), ("osm_way_id", "way")):
        if column in rows:
            for position, value in enumerate(rows[column].tolist()):
                if _present(value):
                    labels[position] = f"{kind} {value}"
    return labels


def drop_empty(
    frame: gpd.GeoDataFrame, report: CityReport, section: str, file: str
) -> gpd.GeoDataFrame:
    """Features without a geometry (or with an empty one) are dropped, with a warning."""
    empty = frame.geometry.isna().to_numpy() | shapely.is_empty(frame.geometry.to_numpy())
    if empty.any():
        report.warning(
            section, f"{file}: {counted(int(empty.sum()), 'feature')} without a geometry left out",
            features=feature_labels(frame, empty),
        )  # fmt: skip
    return frame[~empty]


def keep_family(
    frame: gpd.GeoDataFrame, family: Family, report: CityReport, section: str, file: str
) -> gpd.GeoDataFrame | None:
    """Only the asked family: other features dropped (a warning), an error when none is left.

    A MultiPoint of one point counts as a point; the parts of the family inside a geometry
    collection are kept (a note).
    """
    frame = frame.copy()
    geometries = frame.geometry.to_numpy().copy()
    if family == "point":
        single = (shapely.get_type_id(geometries) == shapely.GeometryType.MULTIPOINT) & (
            shapely.get_num_geometries(geometries) == 1
        )
        geometries[single] = shapely.get_geometry(geometries[single], 0)
    collections = shapely.get_type_id(geometries) == COLLECTION
    if collections.any():
        geometries[collections] = family_parts(geometries[collections], family)
        unpacked = collections & ~shapely.is_missing(geometries)
        if unpacked.any():
            report.note(section, f"{file}: the {family} parts of geometry collections were kept",
                        features=feature_labels(frame, unpacked))  # fmt: skip
    frame["geometry"] = gpd.GeoSeries(geometries, index=frame.index, crs=frame.crs)
    kinds = frame.geometry.geom_type.to_numpy()
    wrong = ~np.isin(kinds, FAMILY_TYPES[family])
    if not wrong.any():
        return frame
    found = ", ".join(sorted({str(k) for k in kinds[wrong] if k is not None})) or "nothing usable"
    if wrong.all():
        report.error(section, f"{file}: no {family} features: they are {found}",
                     features=feature_labels(frame, wrong))  # fmt: skip
        return None
    report.warning(section, f"{file}: {counted(int(wrong.sum()), 'feature')} that are not {family}s "
                   f"({found}) were left out", features=feature_labels(frame, wrong))  # fmt: skip
    return frame[~wrong]


def repair(
    frame: gpd.GeoDataFrame, family: Family, report: CityReport, section: str, file: str,
    *, lenient: bool = False,
) -> gpd.GeoDataFrame | None:  # fmt: skip
    """Invalid geometries repaired within their family (a note); unrepairable ones an error.

    ``lenient`` (bulk data such as roads and buildings, OpenStreetMap extracts whose ways are
    cut at the extract's edge) drops the unrepairable ones with a warning instead.
    """
    geometries = frame.geometry.to_numpy().copy()
    invalid = ~shapely.is_valid(geometries)
    if not invalid.any():
        return frame
    frame = frame.copy()
    if family == "polygon":
        fixed = shapely.make_valid(geometries[invalid], method="structure", keep_collapsed=False)
    else:
        fixed = shapely.make_valid(geometries[invalid])
    fixed = family_parts(fixed, family)
    lost = np.zeros(len(frame), dtype=bool)
    lost[invalid] = shapely.is_missing(fixed) | ~shapely.is_valid(fixed)
    repaired = invalid & ~lost
    geometries[invalid] = fixed
    frame["geometry"] = gpd.GeoSeries(geometries, index=frame.index, crs=frame.crs)
    if repaired.any():
        report.note(section, f"{file}: {counted(int(repaired.sum()), 'invalid geometry')} repaired "
                    f"(kept as {family}s)", features=feature_labels(frame, repaired))  # fmt: skip
    if not lost.any():
        return frame
    lost_count = counted(int(lost.sum()), "invalid geometry")
    message = f"{file}: {lost_count} cannot be repaired as {family}s"
    if not lenient:
        report.error(section, message, features=feature_labels(frame, lost))
        return None
    report.warning(section, message + ": left out",
                   features=feature_labels(frame, lost))  # fmt: skip
    return frame[~lost]


def family_parts(geometries: np.ndarray, family: Family) -> np.ndarray:
    """Each geometry's parts of the family, as one (multi) geometry; None where there are none."""
    parts, owner = shapely.get_parts(geometries, return_index=True)
    while (shapely.get_type_id(parts) >= shapely.GeometryType.MULTIPOINT).any():
        parts, inner = shapely.get_parts(parts, return_index=True)
        owner = owner[inner]
    keep = (shapely.get_type_id(parts) == PART_TYPE[family]) & ~shapely.is_empty(parts)
    parts, owner = parts[keep], owner[keep]
    result = np.full(len(geometries), None, dtype=object)
    counts = np.bincount(owner, minlength=len(geometries))
    single = counts[owner] == 1
    result[owner[single]] = parts[single]
    for index in np.flatnonzero(counts > 1):
        result[index] = _multi(parts[owner == index], family)
    return result


def _multi(parts: np.ndarray, family: Family) -> shapely.Geometry:
    """Parts of one feature as one multi-geometry (polygons dissolved so they stay valid)."""
    if family == "polygon":
        return shapely.union_all(parts)
    if family == "line":
        return shapely.multilinestrings(parts)
    return shapely.multipoints(parts)


def counted(number: int, noun: str) -> str:
    """'1 feature', '3 features', '2 invalid geometries'."""
    if number == 1:
        return f"1 {noun}"
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{number:,} {plural}"


def _present(value: object) -> bool:
    return value is not None and value == value and str(value) != ""
