"""Sections whose file already holds a base-map table's own columns (``format: onemap``).

Nothing is mapped: each column of the table (``spatial.models``) is taken from the file under
its own name, ids included, so links between tables (a building's door plate) survive. The
demo writes its generated city this way; any city can too. List columns (a POI's aliases) are
stored in files as JSON arrays of text.
"""

from __future__ import annotations

import json
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import ARRAY, Integer, SmallInteger

from layers.city.report import CityReport
from spatial.models import Base

TABLES = {"roads": "road", "buildings": "building", "pois": "poi", "addresses": "address"}


def table_columns(table: str) -> list[Any]:
    """The model's columns of ``basemap.<table>`` except the geometry."""
    return [c for c in Base.metadata.tables[f"basemap.{table}"].columns if c.name != "geom"]


def as_table(frame: gpd.GeoDataFrame, section: str, report: CityReport) -> gpd.GeoDataFrame | None:
    """The frame with exactly the table's columns (and ``id`` when the file has one); None on error."""
    columns = table_columns(TABLES[section])
    wanted = [c for c in columns if c.name != "id"]
    missing = [c.name for c in wanted if c.name not in frame.columns]
    if missing:
        report.error(section, f"format onemap: the file lacks the table's column(s) {', '.join(missing)}; "
                     f"it has {', '.join(str(c) for c in frame.columns if c != 'geometry')}")  # fmt: skip
        return None
    out = pd.DataFrame(index=frame.index)
    if "id" in frame.columns:
        ids = pd.to_numeric(frame["id"], errors="coerce")
        duplicated = frame.loc[ids.duplicated(keep=False) | ids.isna() | (ids < 1), "feature_no"]
        if len(duplicated):
            report.error(section, "ids must be unique positive whole numbers",
                         features=[f"feature {n}" for n in duplicated], field="id")  # fmt: skip
            return None
        out["id"] = ids.astype("int64")
    for column in wanted:
        out[column.name] = _values(frame[column.name], column)
    return gpd.GeoDataFrame(out, geometry=frame.geometry.to_numpy(), crs=frame.crs).rename_geometry("geom")


def _values(series: pd.Series, column: Any) -> pd.Series:
    """A file's column as the table's type: whole numbers as Int64, JSON arrays as lists."""
    if isinstance(column.type, ARRAY):
        return series.map(_as_list).astype(object)
    if isinstance(column.type, (Integer, SmallInteger)) and series.dtype.kind not in "iu":
        return pd.to_numeric(series, errors="coerce").astype("Int64")
    return series  # as read: text and numbers keep their dtypes (COPY writes them directly)


def _as_list(value: object) -> list[str]:
    """'["a", "b"]' → ['a', 'b']; anything else → []."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, str) or not value.startswith("["):
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return []
    return [str(v) for v in parsed] if isinstance(parsed, list) else []
