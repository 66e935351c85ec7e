"""Plates placed along a city's named roads: every ``spacing_m`` metres, sides alternating.

Each named road (all segments sharing a name) is merged into as few lines as its shape allows;
each line is oriented west → east (south → north when it runs more north-south), the lines are
taken in the order of their starting points, and poles are numbered on along them: pole 1 at
half a spacing from the start of the first line, then one every ``spacing_m``. Odd poles stand
on the left (``L``), even ones on the right (``R``), ``offset_m`` from the centreline. Distances
are measured in the UTM zone of the city, so the same roads always give the same plates.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from spatial.plates.scheme import MAX_POLE, assign_road_codes, check_character

DEFAULT_SPACING_M = 50.0
DEFAULT_OFFSET_M = 6.0
PLATE_COLUMNS = ("code", "road_code", "pole", "side", "road_name_zh", "road_name_en", "road_id",
                 "district_code", "offset_m", "source")  # fmt: skip


@dataclass(frozen=True)
class Spacing:
    """How plates are placed: metres between poles along a road, metres off its centreline."""

    spacing_m: float = DEFAULT_SPACING_M
    offset_m: float = DEFAULT_OFFSET_M


def road_label(name_zh: str, name_en: str) -> str:
    """The name a road is grouped and coded by: the Chinese name, else the English one."""
    return (name_zh or "").strip() or (name_en or "").strip()


def place_plates(roads: gpd.GeoDataFrame, spacing: Spacing = Spacing()) -> gpd.GeoDataFrame:
    """Plates along ``roads`` (columns id, name_zh, name_en, district_code; lon/lat lines).

    Unnamed segments get no plate. The result has ``PLATE_COLUMNS`` and a lon/lat point each.
    """
    labels = [road_label(z, e) for z, e in zip(roads["name_zh"], roads["name_en"], strict=True)]
    named = roads.assign(label=labels)
    named = named.loc[named["label"] != ""].sort_values("id")
    if named.empty:
        return empty_plates()
    metric = named.to_crs(named.estimate_utm_crs())
    codes = assign_road_codes(metric["label"])
    geoms = metric.geometry.to_numpy()
    columns = {
        name: metric[name].to_numpy() for name in ("id", "name_zh", "name_en", "district_code")
    }
    parts = [
        road_plates(geoms[rows], {k: v[rows] for k, v in columns.items()}, codes[label], spacing)
        for label, rows in sorted(metric.groupby("label").indices.items())
    ]
    parts = [part for part in parts if len(part["pole"])]
    if not parts:
        return empty_plates()
    table = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    points = gpd.GeoSeries(shapely.points(table.pop("xy")), crs=metric.crs).to_crs(4326)
    return gpd.GeoDataFrame(table, geometry=points.to_numpy(), crs=4326).rename_geometry("geom")


def road_plates(
    segments: np.ndarray, columns: dict[str, np.ndarray], road_code: str, spacing: Spacing
) -> dict[str, np.ndarray]:
    """The plates of one named road (its segments in a metric CRS), column by column."""
    lines = oriented_lines(segments)
    lengths = shapely.length(lines)
    starts = [np.arange(spacing.spacing_m / 2, length, spacing.spacing_m) for length in lengths]
    line_of = np.repeat(np.arange(len(lines)), [len(s) for s in starts])
    along = np.concatenate(starts) if starts else np.zeros(0)
    poles = np.arange(1, len(along) + 1)
    keep = poles <= MAX_POLE
    line_of, along, poles = line_of[keep], along[keep], poles[keep]
    chosen = lines[line_of]
    on_line = shapely.line_interpolate_point(chosen, along)
    ahead = shapely.line_interpolate_point(chosen, np.minimum(along + 1.0, lengths[line_of]))
    behind = shapely.line_interpolate_point(chosen, np.maximum(along - 1.0, 0.0))
    tangent = shapely.get_coordinates(ahead) - shapely.get_coordinates(behind)
    norm = np.hypot(tangent[:, 0], tangent[:, 1])
    norm[norm == 0] = 1.0
    left = np.column_stack([-tangent[:, 1], tangent[:, 0]]) / norm[:, None]
    sides = np.where(poles % 2 == 1, "L", "R")
    sign = np.where(sides == "L", 1.0, -1.0)
    xy = (
        shapely.get_coordinates(on_line).reshape(-1, 2)
        + left.reshape(-1, 2) * (sign * spacing.offset_m)[:, None]
    )
    segment = nearest_segment(segments, on_line)
    name_zh, name_en = str(columns["name_zh"][0] or ""), str(columns["name_en"][0] or "")
    count = len(poles)
    return {
        "code": np.array(
            [plate_text(road_code, int(p), s) for p, s in zip(poles, sides, strict=True)],
            dtype=object,
        ),
        "road_code": np.full(count, road_code, dtype=object),
        "pole": poles.astype("int64"),
        "side": sides.astype(object),
        "road_name_zh": np.full(count, name_zh or name_en, dtype=object),
        "road_name_en": np.full(count, name_en or name_zh, dtype=object),
        "road_id": columns["id"][segment].astype("int64"),
        "district_code": columns["district_code"][segment].astype(object),
        "offset_m": np.full(count, spacing.offset_m),
        "source": np.full(count, "generated", dtype=object),
        "xy": xy,
    }


def plate_text(road_code: str, pole: int, side: str) -> str:
    """'XFDL-012-L-7' (the scheme's ``plate_code`` without its argument checks, for speed)."""
    return f"{road_code}-{pole:03d}-{side}-{check_character(f'{road_code}{pole:03d}{side}')}"


def oriented_lines(segments: np.ndarray) -> np.ndarray:
    """The segments merged into lines, each west → east (or south → north), in start order."""
    merged = shapely.line_merge(shapely.multilinestrings(shapely.get_parts(segments)))
    lines = shapely.get_parts(merged)
    lines = lines[shapely.length(lines) > 0]
    oriented = []
    for line in lines:
        (x0, y0), (x1, y1) = shapely.get_coordinates(line)[[0, -1]]
        dx, dy = x1 - x0, y1 - y0
        backwards = dx < 0 if abs(dx) >= abs(dy) else dy < 0
        oriented.append(shapely.reverse(line) if backwards else line)
    firsts = np.array([shapely.get_coordinates(line)[0] for line in oriented]).round(1)
    order = np.lexsort((firsts[:, 1], firsts[:, 0]))
    return np.array(oriented, dtype=object)[order]


def nearest_segment(segments: np.ndarray, points: np.ndarray) -> np.ndarray:
    """For each point on the merged road, the position in ``segments`` of the one it lies on."""
    if not len(points):
        return np.zeros(0, dtype="int64")
    tree = shapely.STRtree(segments)
    found = tree.query_nearest(points, all_matches=False)
    segment = np.zeros(len(points), dtype="int64")
    segment[found[0]] = found[1]
    return segment


def empty_plates() -> gpd.GeoDataFrame:
    """A plate frame without rows."""
    columns: dict[str, list[object]] = {name: [] for name in PLATE_COLUMNS}
    return gpd.GeoDataFrame(
        columns, geometry=gpd.GeoSeries([], crs=4326), crs=4326
    ).rename_geometry("geom")
