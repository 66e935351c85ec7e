"""Suggest / autocomplete: what the user may be typing, from the first characters on.

A road followed by the start of a number (兴福路8, 88 Xingfu) suggests door plates; anything
else suggests place names (roads, POIs, divisions) whose key starts with what was typed (the
text_pattern_ops index), topped up with trigram look-alikes when prefixes run short.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Connection, Engine, text

from spatial.db import replica_read
from spatial.geocoding.chinese import zh_key
from spatial.geocoding.english import street_key
from spatial.geocoding.index import fuzzy_key, name_key
from spatial.geocoding.models import DIVISION_PLACES, division_codes
from spatial.geocoding.result import Match, in_crs, output_crs
from spatial.geocoding.text import check_query, fold, is_chinese

DEFAULT_LIMIT = 10
MAX_LIMIT = 50
LEVEL_ORDER = (
    "CASE level WHEN 'district' THEN 0 WHEN 'subdistrict' THEN 1 WHEN 'road' THEN 2 "
    "WHEN 'community' THEN 3 ELSE 4 END"
)
_ZH_PLATE = re.compile(r"^(?P<road>.+?(?:大道|大街|胡同|路|街|巷|弄|道|里))(?P<number>\d+)$")
_EN_PLATE = re.compile(r"^(?P<number>\d+[a-z]?)\s+(?P<road>\S.*)$")

PREFIX_SQL = text(
    f"""
    SELECT level, name, key, kind, ref, district_code, ST_X(geom), ST_Y(geom), 1.0
    FROM basemap.place_search
    WHERE key LIKE :prefix AND lang = :lang
    ORDER BY {LEVEL_ORDER}, weight DESC, length(key), key
    LIMIT :limit
    """
)
FUZZY_SQL = text(
    """
    SELECT level, name, key, kind, ref, district_code, ST_X(geom), ST_Y(geom),
           similarity(fuzzy_key, :fuzzy) AS sim
    FROM basemap.place_search
    WHERE fuzzy_key % :fuzzy AND lang = :lang
    ORDER BY sim DESC, weight DESC
    LIMIT :limit
    """
)
PLATES_SQL = text(
    """
    SELECT a.id, a.full_zh, a.full_en, s.building, s.unit, a.district_code, a.street_code,
           a.community_code, a.road_zh, a.road_en, a.house_number, ST_X(a.geom), ST_Y(a.geom)
    FROM basemap.address_search s JOIN basemap.address a ON a.id = s.address_id
    WHERE s.lang = :lang AND s.road_key LIKE :road AND s.number_key LIKE :number
    ORDER BY s.number_int, s.road_key, s.building NULLS FIRST, s.unit NULLS FIRST
    LIMIT :limit
    """
)


def suggest(
    conn_or_engine: Connection | Engine,
    prefix: str,
    *,
    limit: int = DEFAULT_LIMIT,
    crs: str | None = None,
) -> list[Match]:
    """Up to ``limit`` completions of ``prefix``, most likely first."""
    prefix = check_query(prefix)
    target = output_crs(crs)
    limit = max(1, min(int(limit), MAX_LIMIT))
    if isinstance(conn_or_engine, Engine):
        with replica_read(conn_or_engine) as conn:
            conn.execution_options(isolation_level="READ COMMITTED")  # one transaction: SET LOCAL
            found = _suggest(conn, prefix, limit)
            conn.rollback()
    else:
        found = _suggest(conn_or_engine, prefix, limit)
    return [in_crs(m, target) for m in found]


def _suggest(conn: Connection, prefix: str, limit: int) -> list[Match]:
    """Door plates when a number is being typed after a road, else place names."""
    lang = "zh" if is_chinese(prefix) else "en"
    plates = plate_suggestions(conn, prefix, lang, limit)
    if plates:
        return plates
    return name_suggestions(conn, prefix, lang, limit)


def plate_suggestions(conn: Connection, prefix: str, lang: str, limit: int) -> list[Match]:
    """Door plates on the typed road whose number starts with the typed digits."""
    folded = zh_key(prefix) if lang == "zh" else fold(prefix)
    match = (_ZH_PLATE if lang == "zh" else _EN_PLATE).match(folded)
    if match is None:
        return []
    road = zh_key(match["road"]) if lang == "zh" else street_key(match["road"])
    rows = conn.execute(
        PLATES_SQL,
        {
            "lang": lang,
            "road": _like_prefix(road) if lang == "en" else road,
            "number": _like_prefix(match["number"]),
            "limit": limit,
        },  # fmt: skip
    )
    out = []
    for row in rows:
        level = "unit" if row[4] else "building" if row[3] else "door_plate"
        out.append(Match(
            level=level, confidence=1.0, lon=row[11], lat=row[12],
            label=row[1] if lang == "zh" else row[2] or row[1], address_id=row[0],
            district_code=row[5], subdistrict_code=row[6], community_code=row[7],
            road=row[8] if lang == "zh" else row[9], house_number=row[10],
            building=row[3], unit=row[4],
        ))  # fmt: skip
    return out


def name_suggestions(conn: Connection, prefix: str, lang: str, limit: int) -> list[Match]:
    """Place names starting with the typed text, then look-alikes."""
    keys = {name_key(prefix, lang)}
    if lang == "en":
        keys.add(street_key(prefix))
    rows: list[Any] = []
    for key in sorted(keys, key=len, reverse=True):
        rows += conn.execute(
            PREFIX_SQL, {"prefix": _like_prefix(key), "lang": lang, "limit": limit * 3}
        ).all()
    if len(rows) < limit:
        key = name_key(prefix, lang)
        conn.execute(text("SET LOCAL pg_trgm.similarity_threshold = 0.3"))
        rows += conn.execute(
            FUZZY_SQL, {"fuzzy": fuzzy_key(key, lang), "lang": lang, "limit": limit}
        ).all()
    out: list[Match] = []
    seen: set[tuple[str, str]] = set()
    for level, name, _key, _kind, ref, district, lon, lat, sim in rows:
        if (level, ref) in seen:
            continue
        seen.add((level, ref))
        codes = (
            division_codes(level, ref, district)
            if level in DIVISION_PLACES
            else (district, None, None)
        )
        out.append(Match(
            level=level, confidence=round(float(sim), 3), lon=lon, lat=lat, label=name,
            poi_id=int(ref) if level == "poi" else None, road=name if level == "road" else None,
            district_code=codes[0], subdistrict_code=codes[1], community_code=codes[2],
        ))  # fmt: skip
        if len(out) == limit:
            break
    return out


def _like_prefix(value: str) -> str:
    """A LIKE pattern matching strings that start with ``value`` (wildcards escaped)."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
