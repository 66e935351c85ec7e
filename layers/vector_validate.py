"""Check and prepare a read vector file for storage: CRS, lon/lat range, geometries, columns.

Every problem is an ``InvalidInput`` that says what to do. Features are named by their number
in the file (1 = the first feature), the way a person opening the file in QGIS counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from layers.vector_read import FeatureIssue, number_list
from spatial.crs import STORAGE_SRID, parse_crs
from spatial.errors import InvalidInput
from spatial.extent import OFF_THE_GLOBE, OUTSIDE, SWAPPED, CityExtent, place_geometries
from spatial.identifiers import MAX_IDENTIFIER_BYTES, sanitise_name, truncate

INVALID_POLICIES = ("repair", "reject")
# geometry family of each shapely type id: point, line (incl. LinearRing), polygon
FAMILY = {
    0: "Point",
    4: "Point",
    1: "LineString",
    2: "LineString",
    5: "LineString",
    3: "Polygon",
    6: "Polygon",
}
MULTI = {
    "Point": shapely.multipoints,
    "LineString": shapely.multilinestrings,
    "Polygon": shapely.multipolygons,
}
SINGLE_IDS = {0, 1, 2, 3}
# system columns PostgreSQL reserves in every table, plus the two we add ourselves
RESERVED_COLUMNS = frozenset({"id", "geom", "tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"})


@dataclass
class GeometryCheck:
    """Geometries fit for storage, with the feature numbers they came from and what was fixed."""

    geometries: np.ndarray
    features: np.ndarray
    geometry_type: str
    repaired: list[FeatureIssue] = field(default_factory=list)
    rejected: list[FeatureIssue] = field(default_factory=list)
    empty: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------------------------- CRS
def source_crs(file_crs: str | None, override: str | None, file_name: str) -> CRS:
    """The CRS the coordinates are in: --crs if given, else the file's; refuse if neither."""
    if override:
        return parse_crs(override)
    if not file_crs:
        raise InvalidInput(
            f"{file_name} does not say which coordinate reference system it uses: pass it with "
            "--crs, e.g. --crs EPSG:4490 (CGCS2000 lon/lat) or --crs EPSG:4326"
        )
    try:
        return CRS.from_user_input(file_crs)
    except Exception:  # pyproj's CRSError; the WKT from the file is beyond repair
        raise InvalidInput(
            f"{file_name} declares a coordinate reference system onemap does not know; "
            "pass the right one with --crs EPSG:<code>"
        ) from None


def crs_label(crs: CRS) -> str:
    """'EPSG:4490' for a CRS with an authority code, else its name."""
    authority = crs.to_authority()
    return ":".join(authority) if authority else crs.name


def to_storage_lonlat(geometries: np.ndarray, crs: CRS) -> np.ndarray:
    """Geometries reprojected to storage lon/lat (EPSG:4326, x = longitude)."""
    # geopandas transforms with always_xy, so x stays the longitude whatever the CRS says
    reprojected = gpd.GeoSeries(geometries, crs=crs).to_crs(STORAGE_SRID)
    return np.asarray(reprojected.array, dtype=object)


def check_lonlat_range(geometries: np.ndarray, features: np.ndarray, crs: CRS) -> None:
    """Refuse coordinates outside lon ±180 / lat ±90 once in storage CRS (a wrong CRS)."""
    bad = features[place_geometries(geometries, None) == OFF_THE_GLOBE].tolist()
    if bad:
        raise InvalidInput(
            f"feature(s) {number_list(bad)} fall outside longitude ±180 / latitude ±90 when read "
            f"as {crs_label(crs)}: the file's coordinates are in another CRS; pass the right one "
            "with --crs EPSG:<code> (projected metres are not degrees)",
            details=[f"feature {n}" for n in bad[:100]],
        )


def check_inside_city(
    geometries: np.ndarray, features: np.ndarray, extent: CityExtent | None, crs: CRS
) -> None:
    """Refuse features outside the city's extent, naming those whose axes look swapped."""
    if extent is None or geometries.size == 0:
        return
    verdicts = place_geometries(geometries, extent)
    swapped = features[verdicts == SWAPPED].tolist()
    far = sorted(features[(verdicts == OUTSIDE) | (verdicts == OFF_THE_GLOBE)].tolist())
    if not swapped and not far:
        return
    details = [f"feature {n}: latitude/longitude order (axes swapped)" for n in swapped[:100]]
    details += [f"feature {n}: outside the city" for n in far[:100]]
    reasons = []
    if swapped:
        reasons.append(
            f"feature(s) {number_list(swapped)} have latitude and longitude swapped "
            "(x must be the longitude)"
        )
    if far:
        reasons.append(
            f"feature(s) {number_list(far)} lie outside the city when read as {crs_label(crs)} "
            "(another CRS? pass it with --crs EPSG:<code>)"
        )
    raise InvalidInput(
        f"{'; '.join(reasons)}: the city's extent is {extent.describe()}; nothing was loaded",
        details=details,
    )


# --------------------------------------------------------------------------------- geometries
def drop_empty(
    geometries: np.ndarray, features: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Remove missing and empty geometries; return what is left and the numbers removed."""
    empty = shapely.is_missing(geometries) | shapely.is_empty(geometries)
    if empty.all():
        raise InvalidInput("every feature has an empty geometry: nothing to load")
    return geometries[~empty], features[~empty], features[empty].tolist()


def repair_invalid(
    geometries: np.ndarray, features: np.ndarray, policy: str, unreadable: list[FeatureIssue]
) -> tuple[np.ndarray, list[FeatureIssue]]:
    """Repair invalid geometries with make_valid, or refuse them all when the policy is reject."""
    if policy not in INVALID_POLICIES:
        raise InvalidInput(f"invalid-geometry policy {policy!r} unknown; one of repair, reject")
    invalid = ~shapely.is_valid(geometries)
    reasons = shapely.is_valid_reason(geometries[invalid])
    issues = [FeatureIssue(int(n), str(r)) for n, r in zip(features[invalid], reasons, strict=True)]
    if policy == "reject" and (issues or unreadable):
        refused = sorted([*issues, *unreadable], key=lambda i: i.feature)
        raise InvalidInput(
            f"invalid geometries in feature(s) {number_list([i.feature for i in refused])}: "
            "fix them, or load with --invalid repair",
            details=[f"feature {i.feature}: {i.reason}" for i in refused],
        )
    if not issues:
        return geometries, []
    repaired = geometries.copy()
    # 'structure' keeps a polygon a polygon instead of returning stray lines and points
    repaired[invalid] = shapely.make_valid(
        geometries[invalid], method="structure", keep_collapsed=False
    )
    return repaired, issues


def unify_types(geometries: np.ndarray, features: np.ndarray) -> GeometryCheck:
    """One geometry type for the table: singles promoted to Multi* when families agree."""
    geometries, features, rejected = _drop_unusable(geometries, features)
    ids = shapely.get_type_id(geometries)
    type_ids = set(np.unique(ids).tolist())
    families = {FAMILY[t] for t in type_ids}
    if len(families) > 1:
        raise InvalidInput(
            f"the file mixes {', '.join(sorted(families))} geometries "
            f"({_family_counts(ids, features)}): one layer holds one kind; "
            "split the file by geometry type"
        )
    family = families.pop()
    if type_ids <= SINGLE_IDS and len(type_ids) == 1 and 2 not in type_ids:
        return GeometryCheck(geometries, features, family, rejected=rejected)
    return GeometryCheck(
        _promote(geometries, family), features, f"Multi{family}", rejected=rejected
    )


def _family_counts(type_ids: np.ndarray, features: np.ndarray) -> str:
    """'Point: 1 (feature 3); Polygon: 2 (feature 1, …)' for the mixed-kinds message."""
    family_of = np.array([FAMILY.get(int(t), "") for t in type_ids])
    counts = []
    for family in sorted(set(family_of.tolist())):
        numbers = features[family_of == family].tolist()
        counts.append(f"{family}: {len(numbers)}, features {number_list(numbers, limit=3)}")
    return "; ".join(counts)


def _drop_unusable(
    geometries: np.ndarray, features: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[FeatureIssue]]:
    """Drop what cannot be stored: empty after repair, or a collection of mixed kinds."""
    type_ids = shapely.get_type_id(geometries)
    collapsed = shapely.is_empty(geometries)
    collection = type_ids == 7
    rejected = [
        FeatureIssue(int(n), "geometry collapsed to nothing when repaired")
        for n in features[collapsed]
    ]
    rejected += [
        FeatureIssue(int(n), "a geometry collection (mixed kinds) cannot be stored")
        for n in features[collection & ~collapsed]
    ]
    keep = ~(collapsed | collection)
    if not keep.any():
        raise InvalidInput("no feature has a geometry that can be stored: nothing to load")
    return geometries[keep], features[keep], sorted(rejected, key=lambda i: i.feature)


def _promote(geometries: np.ndarray, family: str) -> np.ndarray:
    """Multi* geometries: single parts wrapped, multi parts kept."""
    promoted = geometries.copy()
    single = np.isin(shapely.get_type_id(geometries), list(SINGLE_IDS))
    parts = geometries[single]
    if parts.size:
        promoted[single] = MULTI[family](parts, indices=np.arange(parts.size))
    return promoted


def coordinate_dimension(geometries: np.ndarray) -> int:
    """3 when every geometry has Z values, else 2 (mixed Z is stored flat)."""
    return 3 if bool(shapely.has_z(geometries).all()) else 2


# ------------------------------------------------------------------------------------ columns
def sanitise_columns(names: list[str]) -> dict[str, str]:
    """Source column name → safe, unique SQL column name (lowercase, CJK kept)."""
    taken: set[str] = set()
    mapping: dict[str, str] = {}
    for position, name in enumerate(names, start=1):
        base = sanitise_name(str(name)) or f"field_{position}"
        if base in RESERVED_COLUMNS:
            base = f"src_{base}"
        mapping[str(name)] = _unique(base, taken)
    return mapping


def _unique(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``… whichever is free; recorded as taken."""
    candidate, counter = base, 1
    while candidate in taken:
        counter += 1
        suffix = f"_{counter}"
        candidate = truncate(base, MAX_IDENTIFIER_BYTES - len(suffix)) + suffix
    taken.add(candidate)
    return candidate


def postgres_type(series: pd.Series) -> str:
    """The PostgreSQL type a column is stored as."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamptz"
    return "text"
