"""Roads, buildings and POIs mapped from a source frame to the base map's columns, with a report.

Each ``prepare_*`` takes what ``sources`` read (lon/lat, the file's fields, ``feature_no``) and
returns a frame with exactly the columns of ``basemap.road``, ``basemap.building`` or
``basemap.poi`` (geometry ``geom``, EPSG:4326, no ``id``), or None after reporting an error.
What was done to the data (ways split, values not understood, features left out) is a note.

Roads are split at their junctions (``noding``) so the routing graph meets at end points. OSM
rules followed when the class field is OSM's ``highway`` (or ``tags.highway``): a way without
a one-way value is one-way along its line when it is a ``motorway`` or its ``junction`` is
``roundabout``/``circular``; ``oneway=reversible`` and other unknown values count as two-way.
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.city.fields import TAGS_COLUMN, TAGS_PREFIX, has_field, text_values
from layers.city.noding import split_at_junctions
from layers.city.profile import Buildings, OneWay, Pois, Roads
from layers.city.report import CityReport
from layers.city.source_geometry import feature_labels
from layers.city.units import count, height_m, speed_kmh

STORAGE_CRS = 4326
ROAD_COLUMNS = ["name_zh", "name_en", "road_class", "lanes", "speed_kmh", "district_code",
                "oneway", "geom"]  # fmt: skip
BUILDING_COLUMNS = ["use", "floors", "height_m", "community_code", "address_id", "name", "geom"]
POI_COLUMNS = ["name_zh", "name_en", "category", "aliases", "former_names", "geom"]
ROAD_CLASS_LENGTH, USE_LENGTH, CATEGORY_LENGTH = 16, 16, 32
DEFAULT_LANES = 2
UNCLASSIFIED = "road"
TWO_WAY_WORDS = frozenset({"no", "false", "0"})
OSM_CLASS_FIELD = "highway"
OSM_ONE_WAY_CLASSES = frozenset({"motorway"})
OSM_ONE_WAY_JUNCTIONS = frozenset({"roundabout", "circular"})
SHOWN_VALUES = 5


# ---------------------------------------------------------------------------------------- roads
def prepare_roads(
    roads: Roads, frame: gpd.GeoDataFrame, report: CityReport
) -> gpd.GeoDataFrame | None:
    """``basemap.road`` rows: kept classes, speeds, one-way codes, split at junctions."""
    fields = [roads.name_zh, roads.name_en, roads.road_class, roads.speed, roads.lanes,
              roads.oneway.field if roads.oneway else None]  # fmt: skip
    if not fields_present("roads", frame, fields, report):
        return None
    frame = in_storage_crs(frame)
    classes = road_classes(roads, frame)
    if roads.keep is not None:
        frame, classes = kept_classes(roads.keep, frame, classes, report)
        if frame is None:
            return None
    classes = classes.fillna(UNCLASSIFIED)
    ways = gpd.GeoDataFrame(
        {
            **names(frame, roads.name_zh, roads.name_en),
            "road_class": classes.str.slice(0, ROAD_CLASS_LENGTH),
            "lanes": lane_counts(roads, frame, report),
            "speed_kmh": road_speeds(roads, frame, classes, report),
            "district_code": None,
            "oneway": oneway_codes(roads, frame, classes, report),
        },
        geometry=frame.geometry.to_numpy(),
        crs=STORAGE_CRS,
    )
    return split_ways(ways, report)


def road_classes(roads: Roads, frame: pd.DataFrame) -> pd.Series:
    """The class of each way as text (None where empty; 'road' when there is no class field)."""
    if roads.road_class is None:
        return pd.Series(UNCLASSIFIED, index=frame.index, dtype=object)
    return text_values(frame, roads.road_class)


def kept_classes(
    keep: list[str], frame: gpd.GeoDataFrame, classes: pd.Series, report: CityReport
) -> tuple[gpd.GeoDataFrame | None, pd.Series]:
    """Only the ways of the ``keep`` classes (an error when none is left)."""
    kept = classes.isin(keep)
    found = classes.fillna("(no class)").value_counts()
    unseen = sorted(set(keep) - set(found.index))
    if unseen:
        report.note("roads", f"no way has the kept class(es) {', '.join(unseen)}")
    if not kept.any():
        report.error("roads", f"none of the {len(frame):,} ways has a class in keep; the file has "
                     f"{shown(found.index)}")  # fmt: skip
        return None, classes
    left_out = found.drop(keep, errors="ignore")
    if len(left_out):
        report.note("roads", f"kept {int(kept.sum()):,} of {len(frame):,} ways; left out "
                    f"{int(left_out.sum()):,} of other classes ({shown(left_out.index)})")  # fmt: skip
    return frame[kept.to_numpy()], classes[kept]


def road_speeds(
    roads: Roads, frame: pd.DataFrame, classes: pd.Series, report: CityReport
) -> pd.Series:
    """km/h from the speed field, else the class's speed, else the default (whole km/h, ≥ 1)."""
    fallback = classes.map(roads.speeds).fillna(roads.default_speed_kmh).astype(float)
    speeds = fallback
    if roads.speed is not None:
        written = text_values(frame, roads.speed)
        parsed = speed_kmh(written)
        not_understood = written.notna() & parsed.isna()
        if not_understood.any():
            report.note("roads", f"{int(not_understood.sum()):,} speed(s) not understood "
                        f"({shown(written[not_understood])}): the class's speed is used",
                        features=feature_refs(frame, not_understood), field=roads.speed)  # fmt: skip
        speeds = parsed.fillna(fallback)
    return speeds.round().clip(lower=1).astype(int)


def lane_counts(roads: Roads, frame: pd.DataFrame, report: CityReport) -> pd.Series:
    """Lanes from the lanes field (2 where empty or not understood)."""
    if roads.lanes is None:
        return pd.Series(DEFAULT_LANES, index=frame.index, dtype=int)
    written = text_values(frame, roads.lanes)
    lanes = count(written)
    not_understood = written.notna() & lanes.isna()
    if not_understood.any():
        report.note("roads", f"{int(not_understood.sum()):,} lane count(s) not understood "
                    f"({shown(written[not_understood])}): {DEFAULT_LANES} used",
                    features=feature_refs(frame, not_understood), field=roads.lanes)  # fmt: skip
    return lanes.fillna(DEFAULT_LANES).astype(int)


def oneway_codes(
    roads: Roads, frame: pd.DataFrame, classes: pd.Series, report: CityReport
) -> pd.Series:
    """1 along the line, -1 against it, 0 both ways; OSM's implied one-ways when OSM-like."""
    written = pd.Series(None, index=frame.index, dtype=object)
    codes = pd.Series(0, index=frame.index, dtype="int16")
    if roads.oneway is not None:
        written = text_values(frame, roads.oneway.field).str.lower()
        codes = mapped_oneway(roads.oneway, written, frame, report)
    if is_osm_class(roads.road_class):
        implied = written.isna() & osm_implied_oneway(frame, classes)
        codes = codes.mask(implied, 1)
    return codes.astype("int16")


def mapped_oneway(
    oneway: OneWay, written: pd.Series, frame: pd.DataFrame, report: CityReport
) -> pd.Series:
    """The profile's forward/backward values as 1/-1; anything else is two-way (0)."""
    forward = {value.lower() for value in oneway.forward}
    backward = {value.lower() for value in oneway.backward}
    codes = pd.Series(0, index=frame.index, dtype="int16")
    codes = codes.mask(written.isin(forward), 1).mask(written.isin(backward), -1)
    unknown = written.notna() & ~written.isin(forward | backward | TWO_WAY_WORDS)
    if unknown.any():
        report.note("roads", f"{int(unknown.sum()):,} one-way value(s) neither forward nor "
                    f"backward ({shown(written[unknown])}): taken as two-way",
                    features=feature_refs(frame, unknown), field=oneway.field)  # fmt: skip
    return codes


def is_osm_class(field: str | None) -> bool:
    """Whether the class field is OSM's highway tag (then OSM's implied one-ways apply)."""
    return field is not None and field.lower().removeprefix(TAGS_PREFIX) == OSM_CLASS_FIELD


def osm_implied_oneway(frame: pd.DataFrame, classes: pd.Series) -> pd.Series:
    """Motorways and roundabouts: one-way along the line in OSM unless tagged otherwise."""
    implied = classes.isin(OSM_ONE_WAY_CLASSES)
    junction = TAGS_PREFIX + "junction"
    if has_field(frame, junction):
        implied |= text_values(frame, junction).str.lower().isin(OSM_ONE_WAY_JUNCTIONS)
    return implied


def split_ways(ways: gpd.GeoDataFrame, report: CityReport) -> gpd.GeoDataFrame:
    """Ways cut at every junction into LINESTRING segments carrying their way's values."""
    pieces, source = split_at_junctions(ways.geometry.to_numpy())
    segments = ways.drop(columns=ways.geometry.name).iloc[source].reset_index(drop=True)
    report.note("roads", f"{len(ways):,} ways → {len(pieces):,} segments split at junctions")
    return with_geom(segments, pieces, ROAD_COLUMNS)


# ------------------------------------------------------------------------------------ buildings
def prepare_buildings(
    buildings: Buildings, frame: gpd.GeoDataFrame, report: CityReport
) -> gpd.GeoDataFrame | None:
    """``basemap.building`` rows: one per polygon, heights and floors filled in."""
    fields = [buildings.use, buildings.floors, buildings.height]
    if not fields_present("buildings", frame, fields, report):
        return None
    frame = in_storage_crs(frame)
    height = field_numbers("buildings", frame, buildings.height, height_m, "height", report)
    floors = field_numbers("buildings", frame, buildings.floors, count, "floor count", report)
    from_height = np.floor(height / buildings.storey_height_m + 0.5).clip(lower=1)
    floors = floors.fillna(from_height)
    floors = floors.fillna(buildings.default_floors)
    values = pd.DataFrame(
        {
            "use": building_uses(buildings, frame),
            "floors": floors.astype(int),
            "height_m": height.fillna(floors * buildings.storey_height_m).astype(float),
            "community_code": None,
            "address_id": None,
            "name": text_values(frame, "name") if has_field(frame, "name") else None,
        },
        index=frame.index,
    )
    polygons, source = shapely.get_parts(frame.geometry.to_numpy(), return_index=True)
    if len(polygons) > len(frame):
        report.note("buildings", f"{len(frame):,} footprints → {len(polygons):,} polygons "
                    "(multipolygons split)")  # fmt: skip
    return with_geom(values.iloc[source].reset_index(drop=True), polygons, BUILDING_COLUMNS)


def building_uses(buildings: Buildings, frame: pd.DataFrame) -> pd.Series:
    """The use field's value ('building' where empty or OSM's plain 'yes'), 16 characters."""
    if buildings.use is None:
        return pd.Series("building", index=frame.index, dtype=object)
    uses = text_values(frame, buildings.use)
    uses = uses.mask(uses.str.lower() == "yes").fillna("building")
    return uses.str.slice(0, USE_LENGTH)


def field_numbers(
    section: str,
    frame: pd.DataFrame,
    field: str | None,
    parse: Callable[[pd.Series], pd.Series],
    what: str,
    report: CityReport,
) -> pd.Series:
    """A field parsed to numbers (NaN where absent), noting the values not understood."""
    if field is None:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    written = text_values(frame, field)
    numbers = parse(written)
    not_understood = written.notna() & numbers.isna()
    if not_understood.any():
        report.note(section, f"{int(not_understood.sum()):,} {what}(s) not understood "
                    f"({shown(written[not_understood])}): left to the defaults",
                    features=feature_refs(frame, not_understood), field=field)  # fmt: skip
    return numbers.astype(float)


# ----------------------------------------------------------------------------------------- POIs
def prepare_pois(
    pois: Pois, frame: gpd.GeoDataFrame, report: CityReport
) -> gpd.GeoDataFrame | None:
    """``basemap.poi`` rows: names, a category from the first non-empty category field."""
    category_fields = ([pois.category] if pois.category else []) + list(pois.categories)
    if not fields_present("pois", frame, [pois.name_zh, pois.name_en, *category_fields], report):
        return None
    frame = in_storage_crs(frame)
    values = pd.DataFrame(names(frame, pois.name_zh, pois.name_en), index=frame.index)
    unnamed = (values["name_zh"] == "") & (values["name_en"] == "")
    if pois.named_only and unnamed.any():
        report.note("pois", f"{int(unnamed.sum()):,} of {len(frame):,} points have no name "
                    "and are left out (named_only)")  # fmt: skip
        values, frame = values[~unnamed], frame[~unnamed.to_numpy()]
    values["category"] = poi_categories(category_fields, frame)  # only for the points kept
    values["aliases"] = [[] for _ in range(len(values))]
    values["former_names"] = [[] for _ in range(len(values))]
    return with_geom(values.reset_index(drop=True), frame.geometry.to_numpy(), POI_COLUMNS)


def poi_categories(fields: list[str], frame: pd.DataFrame) -> pd.Series:
    """The first non-empty of the category fields, 32 characters; 'poi' when none has one."""
    category = pd.Series(None, index=frame.index, dtype=object)
    for field in fields:
        category = category.fillna(text_values(frame, field))
    return category.fillna("poi").str.slice(0, CATEGORY_LENGTH)


# --------------------------------------------------------------------------------------- shared
def fields_present(
    section: str, frame: pd.DataFrame, fields: list[str | None], report: CityReport
) -> bool:
    """True when every named field can be read; else an error per missing field."""
    missing = [field for field in dict.fromkeys(fields) if field and not has_field(frame, field)]
    for field in missing:
        hint = " (tags.* needs the other_tags column)" if field.startswith(TAGS_PREFIX) else ""
        report.error(section, f"no field {field!r} in the file{hint}; it has: "
                     f"{', '.join(file_fields(frame)) or 'no fields'}", field=field)  # fmt: skip
    return not missing


def file_fields(frame: pd.DataFrame) -> list[str]:
    """The attribute fields a reader found (not geometry, not our feature numbers)."""
    hidden = {"feature_no", getattr(frame, "_geometry_column_name", None)}
    fields = [str(column) for column in frame.columns if column not in hidden]
    return fields + ([f"{TAGS_PREFIX}*"] if TAGS_COLUMN in fields else [])


def names(frame: pd.DataFrame, zh_field: str | None, en_field: str | None) -> dict[str, pd.Series]:
    """name_zh and name_en, each standing in for the other when empty; '' when both are."""
    empty = pd.Series(None, index=frame.index, dtype=object)
    zh = text_values(frame, zh_field) if zh_field else empty
    en = text_values(frame, en_field) if en_field else empty
    return {"name_zh": zh.fillna(en).fillna(""), "name_en": en.fillna(zh).fillna("")}


def in_storage_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame in lon/lat (readers already give it; a frame without a CRS is taken as such)."""
    if frame.crs is None:
        return frame.set_crs(STORAGE_CRS)
    return frame if frame.crs.to_epsg() == STORAGE_CRS else frame.to_crs(STORAGE_CRS)


def with_geom(values: pd.DataFrame, geometries: np.ndarray, columns: list[str]) -> gpd.GeoDataFrame:
    """The target table's columns in order, geometry as the active ``geom`` column in 4326.

    Missing text is None (not NaN), ready for the database.
    """
    values = values.copy()
    for column in values.select_dtypes(include="object").columns:
        values[column] = values[column].astype(object).where(values[column].notna(), None)
    out = gpd.GeoDataFrame(values, geometry=gpd.GeoSeries(geometries, index=values.index),
                           crs=STORAGE_CRS).rename_geometry("geom")  # fmt: skip
    return out[columns]


def feature_refs(frame: pd.DataFrame, mask: pd.Series) -> list[str]:
    """'feature 12' (or 'way 42' from OSM) per feature the mask selects, as readers name them."""
    if "feature_no" in frame:
        return feature_labels(frame, mask.to_numpy())
    return [f"feature {n}" for n in np.flatnonzero(mask.to_numpy()) + 1]


def shown(values: pd.Series | pd.Index) -> str:
    """A few distinct values for a message: "'walk', 'none', … (7 values)"."""
    distinct = list(dict.fromkeys(str(value) for value in values))
    text = ", ".join(repr(value) for value in distinct[:SHOWN_VALUES])
    return text + (f", … ({len(distinct)} values)" if len(distinct) > SHOWN_VALUES else "")
