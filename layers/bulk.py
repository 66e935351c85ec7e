"""Fast bulk writes: stream a (Geo)DataFrame into a PostgreSQL table with COPY.

Runs on the caller's SQLAlchemy connection (so inside the caller's transaction) through the
psycopg 3 driver connection underneath. Values go through psycopg's ``Copy.write_row``, which
escapes tabs, newlines and backslashes and adapts Python types; this module only turns pandas
and shapely values into plain Python ones: missing values into None, geometries into hex EWKB,
timestamps into ``datetime``, numpy arrays into lists (for ``text[]`` and other array columns)
and dicts into JSONB.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from psycopg import sql
from psycopg.types.json import Jsonb
from sqlalchemy import Connection

CHUNK_ROWS = 20_000

RowsWritten = Callable[[int], None]


def copy_frame(
    conn: Connection,
    schema: str,
    table: str,
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    srid: int | None = None,
    on_rows: RowsWritten | None = None,
) -> int:
    """COPY ``columns`` of ``frame`` into ``schema.table`` on ``conn``; returns the rows written.

    Geometry columns are sent as hex EWKB with the SRID of the frame's CRS (or ``srid``);
    ``on_rows`` hears the number of rows after every chunk, for progress bars.
    """
    values = [column_values(frame[column], srid) for column in columns]
    statement = copy_statement(schema, table, columns)
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the SQLAlchemy connection has no open driver connection")
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for start in range(0, len(frame), CHUNK_ROWS):
            chunk = [column[start : start + CHUNK_ROWS] for column in values]
            for row in zip(*chunk, strict=True):
                copy.write_row(row)
            if on_rows is not None:
                on_rows(len(chunk[0]) if chunk else 0)
    return len(frame)


def copy_statement(schema: str, table: str, columns: Sequence[str]) -> sql.Composed:
    """``COPY "schema"."table" ("a", "b") FROM STDIN`` with every name quoted."""
    return sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
        sql.Identifier(schema),
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(column) for column in columns),
    )


def column_values(series: pd.Series, srid: int | None = None) -> list[Any]:
    """Plain Python values of a column, ready for ``Copy.write_row``."""
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(series):
        return datetime_values(series)
    if series.dtype.name == "geometry":
        return geometry_values(series, srid)
    values = series.to_numpy(dtype=object, copy=True)  # never write into the caller's frame
    values[series.isna().to_numpy()] = None
    if series.dtype == object:
        return [plain_value(value) for value in values]
    return values.tolist()


def datetime_values(series: pd.Series) -> list[Any]:
    """Timestamps as ``datetime`` (keeping their time zone), NaT as None."""
    missing = series.isna().to_numpy()
    stamps = series.dt.to_pydatetime()
    return [None if gap else stamp for stamp, gap in zip(stamps, missing, strict=True)]


def geometry_values(series: pd.Series, srid: int | None) -> list[str | None]:
    """Geometries as hex EWKB carrying the SRID; None stays None."""
    srid = srid if srid is not None else series_srid(series)
    geometries = shapely.set_srid(np.asarray(series.array, dtype=object), srid)
    return shapely.to_wkb(geometries, hex=True, include_srid=True).tolist()


def series_srid(series: pd.Series) -> int:
    """EPSG code of a GeoSeries' CRS, or a clear error when it has none."""
    crs = getattr(series, "crs", None)
    epsg = crs.to_epsg() if crs is not None else None
    if epsg is None:
        raise ValueError(f"column {series.name!r} has no EPSG CRS; pass srid= explicitly")
    return int(epsg)


def plain_value(value: Any) -> Any:
    """One object-column value as psycopg wants it: arrays as lists, dicts as JSONB, NaN as None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return [plain_value(item) for item in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain_value(item) for item in value]
    if isinstance(value, dict):
        return Jsonb(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value
