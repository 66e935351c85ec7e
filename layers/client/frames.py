"""Features as a typed GeoDataFrame, the same way whichever door they came through.

Both doors hand over GeoJSON features exactly as the OGC API writes them (the database door
runs the same SQL) and the layer's fields as the OGC API's queryables describe them; this module
turns them into columns of the right dtype, the feature id as the index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely

from layers.client.query import OutputCrs

Fields = Mapping[str, Mapping[str, Any]]
"""property name → JSON-schema description (``type``, optional ``format``), as in queryables."""


def features_frame(features: list[dict[str, Any]], fields: Fields, crs: OutputCrs) -> gpd.GeoDataFrame:
    """A GeoDataFrame (index ``id``) of GeoJSON ``features`` in ``crs``, columns typed by ``fields``."""
    columns = _column_names(features, fields)
    table = pd.DataFrame.from_records([f.get("properties") or {} for f in features], columns=columns)
    for name in columns:
        table[name] = typed(table[name], fields.get(name, {}))
    table.index = pd.Index([f.get("id") for f in features], name="id")
    geometry = geometries([f.get("geometry") for f in features], lat_first=crs.lat_first)
    return gpd.GeoDataFrame(table, geometry=geometry, crs=f"EPSG:{crs.epsg}")


def records_frame(rows: Iterable[Mapping[str, Any]], *, datetimes: Iterable[str] = ()) -> pd.DataFrame:
    """Plain JSON records (KPIs, catalog rows) as a DataFrame; ISO strings in ``datetimes`` parsed."""
    table = pd.DataFrame.from_records(list(rows))
    for name in datetimes:
        if name in table:
            table[name] = pd.to_datetime(table[name], utc=True, format="ISO8601")
    return table


def _column_names(features: list[dict[str, Any]], fields: Fields) -> list[str]:
    """Property names in the order the features carry them, then any field none of them had."""
    seen: dict[str, None] = {}
    for feature in features[:1000]:
        seen.update(dict.fromkeys(feature.get("properties") or {}))
    if not features:
        seen.update(dict.fromkeys(name for name in fields if name != "geometry"))
    return list(seen)


def typed(column: pd.Series, field: Mapping[str, Any]) -> pd.Series:
    """One column converted as its field says: integers, numbers, booleans, date-times."""
    kind, fmt = field.get("type"), field.get("format")
    if fmt in ("date-time", "date"):
        return pd.to_datetime(column, utc=True, format="ISO8601")
    if kind == "integer":
        return column.astype("int64") if column.notna().all() else column.astype("float64")
    if kind == "number":
        return column.astype("float64")
    if kind == "boolean" and column.notna().all():
        return column.astype(bool)
    return column


def geometries(shapes: list[dict[str, Any] | None], *, lat_first: bool = False) -> np.ndarray:
    """Shapely geometries of GeoJSON geometry objects (None stays None); optionally axis-swapped."""
    texts = [None if shape is None else orjson.dumps(shape).decode() for shape in shapes]
    parsed = shapely.from_geojson(np.array(texts, dtype=object)) if texts else np.array([], dtype=object)
    if lat_first and len(parsed):
        parsed = shapely.transform(parsed, lambda coords: coords[:, ::-1])
    return parsed
