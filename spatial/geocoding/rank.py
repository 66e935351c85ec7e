"""Our own ranking: how well a candidate fits the parsed query, as a confidence in 0..1.

The confidence multiplies independent factors: how well the road matched (exact key 1.0,
fuzzy by edit ratio), how the house number matched (exact, interpolated between same-side
neighbours, nearest), whether the divisions, locality and postcode named in the query agree
with the candidate's, and whether building and unit were found. Named places (POIs,
divisions, roads without a number) score by name similarity and the kind of name (a former
name counts a little less than the current one).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from rapidfuzz import fuzz

from spatial.geocoding.candidates import PlaceRow, PlateRow
from spatial.geocoding.chinese import pinyin_key, zh_key
from spatial.geocoding.english import without_type
from spatial.geocoding.index import division_stem
from spatial.geocoding.models import division_codes
from spatial.geocoding.parsed import ParsedAddress
from spatial.geocoding.result import LEVELS, Match

NUMBER_FACTOR = {"exact": 1.0, "interpolated": 0.85, "nearest": 0.7, "road": 0.5}
KIND_FACTOR = {"name": 1.0, "alias": 0.97, "former": 0.95}
LEVEL_FACTOR = {"poi": 1.0, "district": 1.0, "subdistrict": 0.99, "community": 0.99, "road": 0.98}
FUZZY_STEEPNESS = {"en": 2.5, "zh": 2.0}
FUZZY_KEEP_WITHIN = 0.2  # fuzzy roads scoring this far below the best are dropped
MAX_INTERPOLATION_M = 600.0
MAX_NEAREST_GAP = 20
CLOSE_GAP = 40  # same-side neighbours this close in number are interpolated
ACROSS_GAP = 4  # a plate across the street this close in number beats a wide interpolation
_DIGITS = re.compile(r"\d+")


# ------------------------------------------------------------------------------------ roads
def road_score(query_road: str, key: str, lang: str, exact: bool) -> float:
    """How well a road key fits the road the query wrote (1.0 when the key was found as is)."""
    if exact:
        return 1.0
    if _DIGITS.findall(query_road) != _DIGITS.findall(key):
        return 0.0  # 17 st is never 18 st (槐塘1巷 never 槐塘2巷), however similar the rest
    similarity = fuzz.ratio(query_road, key) / 100.0
    if lang == "en" and without_type(query_road) == without_type(key):
        similarity = max(similarity, 0.96)  # only the type is missing or different (444 Madison)
    if lang == "zh":  # a homophone typed through a pinyin IME is the usual slip
        sounds = fuzz.ratio(pinyin_key(query_road), pinyin_key(key)) / 100.0
        similarity = max(similarity, 0.97 * sounds)
    # steep: a road two letters off must lose to the right road with an interpolated number
    return max(0.0, 1.0 - FUZZY_STEEPNESS[lang] * (1.0 - similarity)) * 0.95


# ------------------------------------------------------------------------------ divisions
def context_factor(query: ParsedAddress, row: PlateRow) -> float:
    """Agreement of the query's divisions, locality and postcode with the candidate's."""
    factor = 1.0
    agree, conflict = division_agreement(query, row)
    factor *= 1.0 + 0.02 * min(agree, 3)
    if conflict:
        factor *= 0.7
    if query.postcode and row.postcode:
        factor *= 1.02 if query.postcode == row.postcode else 0.9
    if query.city and row.locality_key and query.lang == "en":
        same = query.city in row.locality_key or row.locality_key in query.city
        factor *= 1.0 if same else 0.97
    return factor


def division_agreement(query: ParsedAddress, row: PlateRow) -> tuple[int, bool]:
    """How many of the candidate's divisions the query names, and whether it names another."""
    stems = division_stems(row.division_zh if query.lang == "zh" else row.division_en, query.lang)
    context = query.context
    agree = sum(1 for stem in stems if stem and stem in context)
    conflict = False
    if query.district and stems:
        asked = division_stem(_key(query.district, query.lang), query.lang) or query.district
        conflict = stems[0] not in asked and asked not in stems[0]
    return agree, conflict


@lru_cache(maxsize=8192)
def division_stems(names: str, lang: str) -> tuple[str, ...]:
    """Search stems of a candidate's 'district|subdistrict|community' names (cached: they repeat)."""
    return tuple(division_stem(_key(name, lang), lang) or _key(name, lang)
                 for name in names.split("|") if name)  # fmt: skip


@lru_cache(maxsize=8192)
def _key(name: str, lang: str) -> str:
    return zh_key(name) if lang == "zh" else name.lower()


# ---------------------------------------------------------------------------- door plates
def detail_fit(query: ParsedAddress, row: PlateRow) -> tuple[float, str]:
    """(factor, level) for a plate row carrying the asked number: building and unit agreement."""
    number_factor = 1.0 if row.number_key == (query.number or "") else 0.95
    if query.building:
        if row.building == query.building:
            if query.unit and row.unit == query.unit:
                return number_factor, "unit"
            if row.unit is None:
                return number_factor * (0.96 if query.unit else 1.0), "building"
            return number_factor * 0.9, "building"
        if row.building is None and row.unit is None:
            return number_factor * 0.85, "door_plate"
        return number_factor * 0.5, "building"
    if row.building is None and row.unit is None:
        return number_factor * (0.97 if query.unit else 1.0), "door_plate"
    if row.building is None and query.unit and row.unit == query.unit:
        return number_factor, "unit"
    return number_factor * 0.9, "unit" if row.building is None else "building"


def central(rows: list[PlateRow]) -> list[PlateRow]:
    """One row per distinct address (number, building, unit), placed at its points' centre.

    Sources often record one address several times (entrances, a building's centroid); the
    mean of those points is the safest single answer (measured on the NYC OSM addresses: it
    lands within 50 m of a held-out copy more often than any one stored point or the medoid).
    """
    by_address: dict[tuple[str, str | None, str | None], list[PlateRow]] = {}
    for row in rows:
        by_address.setdefault((row.number_key, row.building, row.unit), []).append(row)
    return [centre(group) for group in by_address.values()]


def centre(rows: list[PlateRow]) -> PlateRow:
    """The row nearest the mean of the rows' points, moved to that mean."""
    if len(rows) == 1:
        return rows[0]
    lon = sum(r.lon for r in rows) / len(rows)
    lat = sum(r.lat for r in rows) / len(rows)
    nearest = min(rows, key=lambda r: abs(r.lon - lon) + abs(r.lat - lat))
    return nearest._replace(lon=lon, lat=lat)


def plate_matches(
    query: ParsedAddress, rows: list[PlateRow], road: float, limit: int
) -> list[Match]:
    """Matches for the best ``limit`` plate rows carrying the asked number (a compound's
    door plate comes with all its 栋 and 单元 rows: only the best few become Matches)."""
    scored = []
    for row in rows:
        fit, level = detail_fit(query, row)
        confidence = road * NUMBER_FACTOR["exact"] * fit * context_factor(query, row)
        scored.append((confidence, level, row))
    scored.sort(key=lambda item: (-item[0], LEVELS.index(item[1])))
    return [_plate_result(query, row, level, confidence, row.lon, row.lat)
            for confidence, level, row in scored[:limit]]  # fmt: skip


def interpolated_match(query: ParsedAddress, rows: list[PlateRow], road: float) -> Match | None:
    """A point for a number the road lacks: between same-side neighbours, or the nearest plate.

    Same-side neighbours close in number are interpolated linearly; when they are far apart
    (a gap over ``CLOSE_GAP`` numbers) a plate across the street a few numbers away is the
    better guess; failing both, the nearest plate stands in (``road`` level when far).
    """
    n = query.number_int
    if n is None:
        return None
    rows = central(rows)  # a neighbour recorded several times counts once, at its centre
    same = [r for r in rows if r.number_int is not None and r.number_int % 2 == n % 2]
    low = max((r for r in same if (r.number_int or 0) < n), key=_number, default=None)
    high = min((r for r in same if (r.number_int or 0) > n), key=_number, default=None)
    across = min((r for r in rows if r.number_int is not None and r.number_int % 2 != n % 2),
                 key=lambda r: abs(_number(r) - n), default=None)  # fmt: skip
    bracketed = low is not None and high is not None and _metres(low, high) <= MAX_INTERPOLATION_M
    if bracketed and low is not None and high is not None:
        gap = _number(high) - _number(low)
        if gap <= CLOSE_GAP or across is None or abs(_number(across) - n) > ACROSS_GAP:
            t = (n - _number(low)) / gap
            lon, lat = low.lon + t * (high.lon - low.lon), low.lat + t * (high.lat - low.lat)
            nearer = low if t <= 0.5 else high
            factor = NUMBER_FACTOR["interpolated"] * context_factor(query, nearer)
            return _plate_result(query, nearer, "interpolated", road * factor, lon, lat, n)
    candidates = [r for r in (low, high, across) if r is not None]
    if not candidates:
        return None
    nearest = min(candidates, key=lambda r: (abs(_number(r) - n), _number(r) % 2 != n % 2))
    gap = abs(_number(nearest) - n)
    kind = "nearest" if gap <= MAX_NEAREST_GAP else "road"
    factor = NUMBER_FACTOR[kind] * context_factor(query, nearest)
    level = "interpolated" if kind == "nearest" else "road"
    return _plate_result(query, nearest, level, road * factor, nearest.lon, nearest.lat, n)


def _number(row: PlateRow) -> int:
    return row.number_int or 0


def _plate_result(
    query: ParsedAddress,
    row: PlateRow,
    level: str,
    confidence: float,
    lon: float,
    lat: float,
    number: int | None = None,
) -> Match:
    """Build the Match of a plate row (relabelled with the asked number when interpolated)."""
    label_zh, label_en, house = row.full_zh, row.full_en, row.house_number
    if number is not None:
        label_zh = _relabel(row.full_zh, f"{row.house_number}号", f"{query.number}号")
        label_en = _relabel(row.full_en, f"{row.house_number} ", f"{query.number} ")
        house = query.number or str(number)
    zh_first = query.lang == "zh" and bool(label_zh)
    label = label_zh if zh_first else (label_en or label_zh)
    return Match(
        level=level,
        confidence=round(min(confidence, 1.0), 3),
        lon=lon,
        lat=lat,
        label=label,
        label_en=label_en if zh_first else None,
        address_id=row.address_id if number is None else None,
        district_code=row.district_code,
        subdistrict_code=row.subdistrict_code,
        community_code=row.community_code,
        road=row.road_zh if query.lang == "zh" and row.road_zh else row.road_en or row.road_zh,
        house_number=house,
        building=row.building if number is None and level in ("building", "unit") else None,
        unit=row.unit if number is None and level == "unit" else None,
        postcode=row.postcode,
        source=row.source,
        interpolated=number is not None and level != "road",
    )


def _relabel(label: str, old: str, new: str) -> str:
    """The label with the neighbour's number replaced by the asked one (and 栋/单元 dropped)."""
    if old not in label:
        return label
    head = label.split(old, 1)[0]
    rest = label.split(old, 1)[1]
    if "号" in old:
        return head + new  # a Chinese plate label ends at its 号
    return head + new + rest


def _metres(a: PlateRow, b: PlateRow) -> float:
    """Approximate distance in metres between two lon/lat points (equirectangular)."""
    mean_lat = math.radians((a.lat + b.lat) / 2)
    dx = math.radians(b.lon - a.lon) * math.cos(mean_lat)
    dy = math.radians(b.lat - a.lat)
    return 6_371_000.0 * math.hypot(dx, dy)


# ---------------------------------------------------------------------------------- places
def place_match(query: ParsedAddress, row: PlaceRow, road_context: float = 1.0) -> Match:
    """A Match for a named place: POI, division or road."""
    confidence = row.similarity * KIND_FACTOR.get(row.kind, 1.0) * LEVEL_FACTOR.get(row.level, 1.0)
    district, subdistrict, community = _codes(row)
    return Match(
        level=row.level,
        confidence=round(min(confidence * road_context, 1.0), 3),
        lon=row.lon,
        lat=row.lat,
        label=row.name,
        poi_id=int(row.ref) if row.level == "poi" else None,
        road=row.name if row.level == "road" else None,
        district_code=district,
        subdistrict_code=subdistrict,
        community_code=community,
    )


def _codes(row: PlaceRow) -> tuple[str | None, str | None, str | None]:
    """Division codes of a named place (a division's own code fills its level)."""
    if row.level in ("district", "subdistrict", "community"):
        return division_codes(row.level, row.ref, row.district_code)
    return row.district_code, None, None
