"""Load department and base vector files into the one map: read, validate, reproject, stage, swap.

``load_vector_file`` is the one entry point (the CLI and the HTTP upload both call it); it
reads with ``layers.vector_read``, checks with ``layers.vector_validate`` and stores with
``layers.vector_store``. It prints nothing: callers get a ``LoadReport`` or an ``InvalidInput``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from pyproj import CRS
from sqlalchemy import Engine, text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from layers.catalog import LayerSpec, find_layer
from layers.overlay_table import OverlayTable
from layers.vector_conform import conform
from layers.vector_read import FeatureIssue, SourceData, number_list, read_vector_file
from layers.vector_store import (
    PreparedLayer,
    Progress,
    StoreContext,
    check_target,
    drop_layer,
    store_layer,
)
from layers.vector_target import plan_load
from layers.vector_validate import (
    INVALID_POLICIES,
    GeometryCheck,
    check_inside_city,
    check_lonlat_range,
    coordinate_dimension,
    crs_label,
    drop_empty,
    postgres_type,
    repair_invalid,
    sanitise_columns,
    source_crs,
    to_storage_lonlat,
    unify_types,
)
from spatial.access.policy import LayerRef, require_write
from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.crs import STORAGE_SRID
from spatial.errors import Conflict, InvalidInput, Unauthorized
from spatial.extent import CityExtent, ExtentRule

__all__ = ["FeatureIssue", "LoadReport", "load_vector_file", "remove_layer"]


@dataclass
class LoadReport:
    """What a load did: counts, repairs, rejections, empties, the CRS read from, and timing."""

    layer: str
    source: str
    source_layer: str | None
    source_crs: str
    geometry_type: str
    features_read: int
    features_loaded: int
    repaired: list[FeatureIssue] = field(default_factory=list)
    rejected: list[FeatureIssue] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    version: int = 0
    seconds: float = 0.0

    @property
    def features_per_second(self) -> float:
        return self.features_loaded / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON answers."""
        return dataclasses.asdict(self)

    def summary(self) -> list[str]:
        """A few lines for people: counts first, then each kind of problem."""
        lines = [
            f"layer {self.layer} v{self.version}: {self.features_loaded} of {self.features_read} "
            f"features loaded from {self.source} ({self.geometry_type}, read as {self.source_crs}) "
            f"in {self.seconds:.1f} s",
        ]
        lines += [f"repaired feature {i.feature}: {i.reason}" for i in self.repaired]
        lines += [f"rejected feature {i.feature}: {i.reason}" for i in self.rejected]
        if self.empty:
            lines.append(
                f"skipped {len(self.empty)} empty geometries: features {number_list(self.empty)}"
            )
        renamed = {src: dst for src, dst in self.columns.items() if src != dst}
        if renamed:
            lines.append(
                "columns renamed: " + ", ".join(f"{s!r} → {d}" for s, d in renamed.items())
            )
        return lines + [f"note: {warning}" for warning in self.warnings]


def load_vector_file(
    engine: Engine,
    path: str | Path,
    spec: LayerSpec,
    *,
    crs: str | None = None,
    source_layer: str | None = None,
    invalid: str = "repair",
    lon_field: str | None = None,
    lat_field: str | None = None,
    progress: Progress | None = None,
    principal: Principal | None,
    door: str = "cli",
    keep: Collection[str] = (),
    new_schema: bool = False,
    extent: ExtentRule | None = None,
) -> LoadReport:
    """Load a vector file as thematic layer ``spec.id``, replacing any previous version atomically.

    An existing layer keeps its table and schema (the file must match it) unless
    ``new_schema``; ``keep`` names catalog fields taken from the existing row instead of
    ``spec``. ``principal`` is who loads (None: anonymous, refused; the CLI passes its operator),
    checked by the permission policy and recorded in the history with ``door``. ``extent``
    says where the city is (default: the administrative divisions plus 10 km).
    """
    started = time.perf_counter()
    path = Path(path)
    spec = dataclasses.replace(
        spec, storage_schema="thematic", storage_table=spec.id, kind="vector"
    )
    if invalid not in INVALID_POLICIES:
        raise InvalidInput(
            f"invalid-geometry policy {invalid!r} unknown; one of repair, reject (--invalid)"
        )
    if principal is None:  # refused before the file or the catalog is looked at
        raise Unauthorized("loading a layer needs credentials: send Authorization: Bearer <token>")
    actor = principal
    with engine.connect() as conn:
        check_target(conn, spec)
        plan = plan_load(conn, spec, actor, keep=keep, new_schema=new_schema)
        city = (extent or ExtentRule()).resolve(conn)
    source = read_vector_file(
        path, source_layer=source_layer, lon_field=lon_field, lat_field=lat_field
    )
    prepared, report = prepare(
        source, spec.id, path.name, crs_override=crs, invalid=invalid, extent=city,
        target=plan.target,
    )
    context = StoreContext(actor, door, path.name)
    report.version = _store(engine, plan.spec, prepared, progress, plan.target, context)
    report.seconds = time.perf_counter() - started
    return report


def remove_layer(engine: Engine, name: str, *, principal: Principal) -> None:
    """Remove a thematic layer: its table and its catalog row (base-map layers are refused; audited).

    ``principal`` must be allowed to write the layer (its department's editor, or an admin).
    """
    row = find_layer(engine, name)
    if row is not None and LayerRef.from_row(row).is_overlay:
        require_write(principal, LayerRef.from_row(row), name)
    try:
        with engine.begin() as conn:
            drop_layer(conn, name)
            record_audit(conn, "layer.remove", f"layer {name}", principal=principal)
    except DBAPIError as err:
        raise _conflict_or_raise(err, name) from None


def prepare(
    source: SourceData, name: str, file_name: str, *, crs_override: str | None, invalid: str,
    extent: CityExtent | None = None, target: OverlayTable | None = None,
) -> tuple[PreparedLayer, LoadReport]:
    """Validate and reproject the features; the rows to COPY and the report so far.

    With a ``target`` (the table of the layer being replaced) the rows are fitted to it.
    """
    crs = source_crs(source.crs, crs_override, file_name)
    checked = check_geometries(source, crs, invalid, extent)
    prepared, columns = storage_frame(source.frame, checked)
    notes: list[str] = []
    if target is not None:
        prepared, notes = conform(prepared, checked.features, target, columns)
    report = LoadReport(
        layer=name,
        source=file_name,
        source_layer=source.layer,
        source_crs=crs_label(crs),
        geometry_type=prepared.geometry_type,
        features_read=len(source.frame),
        features_loaded=len(prepared.frame),
        repaired=checked.repaired,
        rejected=checked.rejected,
        empty=checked.empty,
        columns=columns,
        warnings=source.warnings + notes,
    )
    return prepared, report


def check_geometries(
    source: SourceData, crs: CRS, invalid: str, extent: CityExtent | None = None
) -> GeometryCheck:
    """Geometries without empties, in lon/lat, inside the city, repaired, of one type."""
    geometries = np.asarray(source.frame.geometry.array, dtype=object)
    features = np.arange(1, len(geometries) + 1)
    geometries, features, empty = drop_empty(geometries, features)
    geometries = to_storage_lonlat(geometries, crs)
    check_inside_city(geometries, features, extent, crs)
    check_lonlat_range(geometries, features, crs)
    geometries, repaired = repair_invalid(geometries, features, invalid, source.unreadable)
    checked = unify_types(geometries, features)
    checked.rejected = sorted([*source.unreadable, *checked.rejected], key=lambda i: i.feature)
    rejected = {issue.feature for issue in checked.rejected}
    checked.repaired = [issue for issue in repaired if issue.feature not in rejected]
    checked.empty = [number for number in empty if number not in rejected]
    return checked


def storage_frame(
    frame: gpd.GeoDataFrame, checked: GeometryCheck
) -> tuple[PreparedLayer, dict[str, str]]:
    """The kept features with sanitised column names and ``geom``; and source → stored names."""
    attributes = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    columns = sanitise_columns([str(c) for c in attributes.columns])
    attributes = attributes.iloc[checked.features - 1].set_axis(list(columns.values()), axis=1)
    dimension = coordinate_dimension(checked.geometries)
    stored = gpd.GeoDataFrame(
        {column: text_values(attributes[column]) for column in attributes.columns},
        geometry=gpd.GeoSeries(_flat(checked.geometries, dimension), crs=STORAGE_SRID),
    ).rename_geometry("geom")
    types = {column: postgres_type(attributes[column]) for column in attributes.columns}
    geometry_type = checked.geometry_type + ("Z" if dimension == 3 else "")
    return PreparedLayer(stored, types, geometry_type), columns


def text_values(series: pd.Series) -> pd.Series:
    """A column as stored: mixed-type object columns (stored as text) get str values."""
    if series.dtype != object:
        return series.reset_index(drop=True)
    values = [v if v is None or isinstance(v, str) or pd.isna(v) else str(v) for v in series]
    return pd.Series(values, dtype=object)


def _flat(geometries: np.ndarray, dimension: int) -> np.ndarray:
    """Drop Z values when not every geometry has them (the column is then 2D)."""
    if dimension == 3 or not shapely.has_z(geometries).any():
        return geometries
    return shapely.force_2d(geometries)


def _store(
    engine: Engine,
    spec: LayerSpec,
    prepared: PreparedLayer,
    progress: Progress | None,
    target: OverlayTable | None,
    context: StoreContext,
) -> int:
    """Run the store transaction, turning refused values and lock waits into user errors."""
    try:
        with engine.begin() as conn:
            existed = conn.execute(text("SELECT 1 FROM catalog.layer WHERE id = :id"), {"id": spec.id}).first()
            version = store_layer(conn, spec, prepared, progress, target=target, context=context)
            detail = {"version": version, "features": len(prepared.frame), "source": context.source,
                      "door": context.path, "visibility": spec.visibility}  # fmt: skip
            record_audit(conn, "layer.replace" if existed else "layer.publish", f"layer {spec.id}",
                         principal=context.principal, detail=detail)  # fmt: skip
            return version
    except (psycopg.errors.DataError, DataError, IntegrityError) as err:
        reason = _db_reason(err)
        raise InvalidInput(
            f"the database refused a value of layer {spec.id!r}, nothing was stored: {reason}"
        ) from None
    except DBAPIError as err:
        raise _conflict_or_raise(err, spec.id) from None


def _db_reason(err: Exception) -> str:
    """PostgreSQL's message, with the failing row it names (a CHECK or NOT NULL refusal)."""
    orig = getattr(err, "orig", None) or err
    reason = str(orig).strip().splitlines()[0]
    detail = getattr(getattr(orig, "diag", None), "message_detail", None)
    return f"{reason} ({detail[:300]})" if detail else reason


def _conflict_or_raise(err: DBAPIError, name: str) -> Exception:
    """Conflict when the layer's table is busy or other objects depend on it; else the error."""
    if isinstance(err.orig, psycopg.errors.LockNotAvailable):
        return Conflict(f"layer {name!r} is in use by another session; try again in a moment")
    if isinstance(err.orig, psycopg.errors.DependentObjectsStillExist):
        detail = (err.orig.diag.message_detail or "").replace("\n", "; ")
        return Conflict(f"other database objects depend on layer {name!r}'s table: {detail}")
    return err
