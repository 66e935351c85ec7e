"""Fit a file's features to an existing overlay's table before its contents are replaced.

A replace keeps the layer's schema: every attribute in the file must be a column of the
table and of a compatible type, every required column (NOT NULL, no default) must be present
and filled, and the geometries must be of the table's kind. Problems are listed by feature
number (1 = the first feature in the file); nothing is stored when there is any.
"""

from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.overlay_table import OverlayTable, fit_geometries
from layers.vector_read import number_list
from layers.vector_store import PreparedLayer
from spatial.errors import InvalidInput

INTEGER_TYPES = ("smallint", "integer", "bigint")
NUMBER_TYPES = ("double precision", "real", "numeric", *INTEGER_TYPES)
SOURCE_KINDS = {  # what each stored type accepts from a file column's type
    "boolean": ("boolean",),
    "timestamp with time zone": ("timestamptz",),
    "timestamp without time zone": ("timestamptz",),
    "date": ("timestamptz",),
}


def conform(
    prepared: PreparedLayer, features: np.ndarray, table: OverlayTable, source_columns: dict[str, str]
) -> tuple[PreparedLayer, list[str]]:
    """``prepared`` with the table's columns and geometry type; the notes for the report."""
    notes: list[str] = []
    frame = _without_source_ids(prepared.frame, source_columns, table, notes)
    problems = _column_problems(frame, prepared.columns, features, table)
    geometries = _fitted_geometries(frame.geometry, features, table, problems)
    if problems:
        raise InvalidInput(
            f"the file does not match layer {table.layer.id!r}'s schema, nothing was stored: "
            + "; ".join(problems),
            details=problems,
        )
    missing = [c for c in table.columns if c not in frame.columns]
    if missing:
        notes.append(f"attributes not in the file are left empty: {', '.join(missing)}")
    attributes = [c for c in frame.columns if c != frame.geometry.name]
    stored = gpd.GeoDataFrame(
        {c: _as_stored(frame[c], table.columns[c].data_type) for c in attributes},
        geometry=gpd.GeoSeries(geometries, crs=frame.crs),
    ).rename_geometry("geom")
    columns = {c: table.columns[c].data_type for c in attributes}
    return dataclasses.replace(prepared, frame=stored, columns=columns), notes


def _without_source_ids(
    frame: gpd.GeoDataFrame, source_columns: dict[str, str], table: OverlayTable, notes: list[str]
) -> gpd.GeoDataFrame:
    """Drop a column carrying the features' old ids (a layer exported and edited comes back so)."""
    dropped = [
        stored for source, stored in source_columns.items()
        if source.lower() == table.id_field.lower() and stored in frame.columns
    ]
    if dropped:
        notes.append(f"the file's {table.id_field!r} values are not kept: features get new ids")
    return frame.drop(columns=dropped)


def _column_problems(
    frame: gpd.GeoDataFrame, kinds: dict[str, str], features: np.ndarray, table: OverlayTable
) -> list[str]:
    """Unknown columns, incompatible types, required columns missing or empty."""
    problems = []
    attributes = [c for c in frame.columns if c != frame.geometry.name]
    unknown = [c for c in attributes if c not in table.columns]
    if unknown:
        problems.append(
            f"attribute(s) {', '.join(unknown)} are not in the layer (it has "
            f"{', '.join(table.columns) or 'no attributes'})"
        )
    for name in attributes:
        if name in table.columns:
            problem = _type_problem(frame[name], kinds.get(name, "text"), table.columns[name].data_type, features)
            if problem:
                problems.append(f"attribute {name!r}: {problem}")
    for name in table.required:
        if name not in frame.columns:
            problems.append(f"required attribute {name!r} is missing from the file")
            continue
        empty = features[frame[name].isna().to_numpy()].tolist()
        if empty:
            problems.append(f"required attribute {name!r} is empty in feature(s) {number_list(empty)}")
    return problems


def _as_stored(series: pd.Series, stored: str) -> pd.Series:
    """Values written as the column stores them (whole doubles as integers for integer columns)."""
    series = series.reset_index(drop=True)
    if stored in INTEGER_TYPES and pd.api.types.is_float_dtype(series.dtype):
        return series.round().astype("Int64")
    return series


def _type_problem(series: pd.Series, source: str, stored: str, features: np.ndarray) -> str | None:
    """Why a file column cannot go into a stored column, or None."""
    if stored in ("text", "character varying", "character", "jsonb", "json"):
        return None
    if stored in NUMBER_TYPES:
        if source not in ("bigint", "double precision"):
            return f"the file holds {source} values, the layer stores {stored}"
        if stored in INTEGER_TYPES and source == "double precision":
            values = series.to_numpy(dtype=float, na_value=np.nan)
            fractional = features[~np.isnan(values) & (values != np.round(values))].tolist()
            if fractional:
                return f"whole numbers expected ({stored}): fractions in feature(s) {number_list(fractional)}"
        return None
    accepted = SOURCE_KINDS.get(stored)
    if accepted is not None and source not in accepted:
        return f"the file holds {source} values, the layer stores {stored}"
    return None


def _fitted_geometries(
    geometries: gpd.GeoSeries, features: np.ndarray, table: OverlayTable, problems: list[str]
) -> np.ndarray:
    """Geometries of the table's kind (THE rule: ``layers.overlay_table.fit_geometries``),
    refusals worded by feature number."""
    fit = fit_geometries(np.asarray(geometries.array, dtype=object), table)
    wrong = features[fit.wrong].tolist()
    if wrong:
        problems.append(
            f"wrong geometry type in feature(s) {number_list(wrong)}: layer {table.layer.id!r} "
            f"holds {fit.family} features"
        )
        return fit.geometries
    several = features[fit.several].tolist()
    if several:
        problems.append(
            f"feature(s) {number_list(several)} have several parts; layer {table.layer.id!r} holds "
            f"single {fit.family} features"
        )
    return fit.geometries
