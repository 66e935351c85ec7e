"""Build the search tables from the address layer: door plates, roads, divisions and POIs.

Runs inside the caller's transaction, so a load and its index commit together. Keys are made
in Python with the same functions the parsers use (``zh_key``, ``street_key``), then COPYed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, text

from spatial.geocoding.chinese import zh_key
from spatial.geocoding.english import street_key, words
from spatial.geocoding.text import fold

ADDRESS_COLUMNS = ("address_id", "lang", "road_key", "number_key", "number_int", "building",
                   "unit", "postcode", "locality_key")  # fmt: skip
PLACE_COLUMNS = ("level", "lang", "name", "key", "fuzzy_key", "kind", "ref", "district_code",
                 "weight", "geom")  # fmt: skip
DIVISION_LEVELS = {"district": "district", "street": "subdistrict", "community": "community"}
DIVISION_SUFFIXES = (
    "特别行政区",
    "自治区",
    "街道",
    "社区",
    "省",
    "市",
    "区",
    "县",
    "镇",
    "乡",
    "村",
)
EN_DIVISION_WORDS = ("district", "subdistrict", "community", "county", "town", "township")
_LEADING_INT = re.compile(r"\d+")


@dataclass(frozen=True)
class IndexCounts:
    """Rows written to each search table."""

    addresses: int
    places: int


def refresh_index(conn: Connection) -> IndexCounts:
    """Rebuild both search tables from basemap.address, road, admin_division and poi."""
    conn.execute(text("TRUNCATE basemap.place_search, basemap.address_search RESTART IDENTITY"))
    addresses = copy_rows(conn, "address_search", ADDRESS_COLUMNS, address_rows(conn))
    places = copy_rows(conn, "place_search", PLACE_COLUMNS, place_rows(conn))
    conn.execute(text("ANALYZE basemap.address_search"))
    conn.execute(text("ANALYZE basemap.place_search"))
    return IndexCounts(addresses=addresses, places=places)


# ----------------------------------------------------------------------------- door plates
@lru_cache(maxsize=65536)
def road_key(name: str, lang: str) -> str:
    """The search key of a road name in its language."""
    return zh_key(name) if lang == "zh" else street_key(name)


@lru_cache(maxsize=65536)
def name_key(name: str, lang: str) -> str:
    """The search key of a place name: Chinese without spaces, other scripts as plain words."""
    return zh_key(name) if lang == "zh" else " ".join(words(fold(name)))


def fuzzy_key(key: str, lang: str) -> str:
    """What pg_trgm compares: Chinese keys with their characters spaced apart (see models)."""
    return " ".join(key) if lang == "zh" else key


def number_parts(house_number: str) -> tuple[str, int | None]:
    """Folded house number and its leading integer ('92A' → ('92a', 92), '甲' → ('甲', None))."""
    folded = fold(house_number).replace("号", "").strip()
    match = _LEADING_INT.search(folded)
    return folded, int(match.group(0)) if match else None


def address_rows(conn: Connection) -> Iterable[tuple[Any, ...]]:
    """One search row per address and language that has a road name."""
    result = conn.execute(
        text(
            "SELECT id, road_zh, road_en, house_number, building, unit, postcode, city "
            "FROM basemap.address"
        )
    )
    for address_id, road_zh, road_en, number, building, unit, postcode, city in result:
        number_key, number_int = number_parts(number or "")
        building_key = fold(building).removesuffix("栋") if building else None
        unit_key = fold(unit).removesuffix("单元") if unit else None
        postcode_key = fold(postcode) if postcode else None
        for lang, road in (("zh", road_zh), ("en", road_en)):
            if road and road.strip():
                yield (address_id, lang, road_key(road, lang), number_key, number_int,
                       building_key, unit_key, postcode_key, name_key(city or "", lang))  # fmt: skip


# ---------------------------------------------------------------------------------- places
def place_rows(conn: Connection) -> Iterable[tuple[Any, ...]]:
    """Roads, divisions and POIs, each name with its key and a point (hex EWKB)."""
    yield from road_rows(conn)
    yield from division_rows(conn)
    yield from poi_rows(conn)


def road_rows(conn: Connection) -> Iterable[tuple[Any, ...]]:
    """One entry per road key, language and district, at the plate nearest its plates' centre."""
    result = conn.execute(
        text(
            """
            SELECT s.lang, min(CASE WHEN s.lang = 'zh' THEN a.road_zh ELSE a.road_en END),
                   s.road_key, a.district_code, count(*),
                   ST_AsEWKB(ST_ClosestPoint(ST_Collect(a.geom), ST_Centroid(ST_Collect(a.geom))))
            FROM basemap.address_search s JOIN basemap.address a ON a.id = s.address_id
            GROUP BY s.lang, s.road_key, a.district_code
            """
        )
    )
    seen = set()
    for lang, name, key, district, count, point in result:
        seen.add((lang, key, district))
        yield road_row(lang, name, key, district, count, point)
    yield from unnumbered_road_rows(conn, seen)


def unnumbered_road_rows(
    conn: Connection, seen: set[tuple[str, str, str | None]]
) -> Iterable[tuple[Any, ...]]:
    """Roads of the road layer no door plate names, at the road's point nearest its centre."""
    result = conn.execute(
        text(
            """
            SELECT name_zh, name_en, district_code,
                   ST_AsEWKB(ST_ClosestPoint(ST_Collect(geom), ST_Centroid(ST_Collect(geom))))
            FROM basemap.road WHERE name_zh <> '' OR name_en <> ''
            GROUP BY name_zh, name_en, district_code
            """
        )
    )
    for name_zh, name_en, district, point in result:
        for lang, name in (("zh", name_zh), ("en", name_en)):
            key = road_key(name, lang) if name else ""
            if key and (lang, key, district) not in seen:
                seen.add((lang, key, district))
                yield road_row(lang, name, key, district, 0, point)



def road_row(lang: str, name: str, key: str, district: Any, weight: int, point: Any) -> tuple[Any, ...]:
    """One place_search row of a road (its key is its reference)."""
    return ("road", lang, name, key, fuzzy_key(key, lang), "name", key, district, weight, bytes(point).hex())

def division_rows(conn: Connection) -> Iterable[tuple[Any, ...]]:
    """Districts, subdistricts (街道) and communities, by full name and by name without suffix."""
    result = conn.execute(
        text(
            "SELECT code, level, name_zh, name_en, ST_AsEWKB(ST_PointOnSurface(geom)), "
            "coalesce(district_code, code) FROM basemap.admin_division"
        )
    )
    for code, level, name_zh, name_en, point, district in result:
        hex_point = bytes(point).hex()
        for lang, name in (("zh", name_zh), ("en", name_en)):
            if not name:
                continue
            key = name_key(name, lang)
            names = [(key, "name")]
            stem = division_stem(key, lang)
            if stem and stem != key:
                names.append((stem, "alias"))
            for searched, kind in names:
                yield (DIVISION_LEVELS[level], lang, name, searched, fuzzy_key(searched, lang), kind,
                       code, district, 0, hex_point)  # fmt: skip


def division_stem(key: str, lang: str) -> str | None:
    """A division's name without its level word (明德区 → 明德, mingde district → mingde)."""
    if lang == "zh":
        for suffix in DIVISION_SUFFIXES:
            if key.endswith(suffix) and len(key) - len(suffix) >= 2:
                return key[: -len(suffix)]
        return None
    parts = key.split()
    if len(parts) > 1 and parts[-1] in EN_DIVISION_WORDS:
        return " ".join(parts[:-1])
    return None


def poi_rows(conn: Connection) -> Iterable[tuple[Any, ...]]:
    """Every POI by its names, aliases (又名) and former names (曾用名)."""
    result = conn.execute(
        text(
            """
            SELECT p.id, p.name_zh, p.name_en, p.aliases, p.former_names, d.code, ST_AsEWKB(p.geom)
            FROM basemap.poi p
            LEFT JOIN LATERAL (
                SELECT code FROM basemap.admin_division a
                WHERE a.level = 'district' AND ST_Intersects(a.geom, p.geom) LIMIT 1
            ) d ON true
            """
        )
    )
    for poi_id, name_zh, name_en, aliases, former, district, point in result:
        hex_point = bytes(point).hex()
        ref = str(poi_id)
        names = [("zh", name_zh, "name"), ("en", name_en, "name")]
        names += [("zh", alias, "alias") for alias in aliases or ()]
        names += [("zh", old, "former") for old in former or ()]
        for lang, name, kind in names:
            if name:
                lang = "zh" if _has_cjk(name) else "en" if lang == "en" else lang
                key = name_key(name, lang)
                yield (
                    "poi",
                    lang,
                    name,
                    key,
                    fuzzy_key(key, lang),
                    kind,
                    ref,
                    district,
                    0,
                    hex_point,
                )


def _has_cjk(name: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in name)


# ------------------------------------------------------------------------------------ COPY
def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """COPY rows into basemap.``table`` on the caller's connection; returns how many."""
    statement = sql.SQL("COPY basemap.{} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )
    driver = conn.connection.driver_connection
    if driver is None:
        raise RuntimeError("the SQLAlchemy connection has no open driver connection")
    count = 0
    rows = list(rows)  # read every source row before COPY takes the connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count
