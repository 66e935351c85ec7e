"""Candidate look-ups in the search tables, set-based: one SQL statement serves a whole batch.

Every function takes lists of (query index, …) and returns rows keyed by that index, so a
batch of a thousand addresses costs a handful of round trips, and a single query the same
handful.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection, TextClause, text

from spatial.geocoding.index import fuzzy_key

# fuzzy thresholds of pg_trgm similarity on ``fuzzy_key`` (Chinese: spaced characters)
TRIGRAM_THRESHOLD = {"zh": 0.3, "en": 0.25}
FUZZY_LIMIT = 8
PLATE_NEIGHBOURS = 3  # same-side plates fetched below and above a missing number
# (plus the nearest plate of the other side below and above: across the street beats a far
# neighbour on this side)


class PlateRow(NamedTuple):
    """A door plate (or its 栋/单元 row) found for a query, with its divisions' names."""

    road_key: str
    address_id: int
    number_key: str
    number_int: int | None
    building: str | None
    unit: str | None
    postcode: str | None
    locality_key: str
    full_zh: str
    full_en: str
    road_zh: str
    road_en: str
    house_number: str
    source: str
    district_code: str | None
    subdistrict_code: str | None
    community_code: str | None
    division_zh: str  # district|subdistrict|community names, as stored
    division_en: str
    lon: float
    lat: float


class PlaceRow(NamedTuple):
    """A named place (road, division or POI) found for a query."""

    level: str
    lang: str
    name: str
    key: str
    kind: str
    ref: str
    district_code: str | None
    weight: int
    similarity: float
    lon: float
    lat: float


def existing_road_keys(conn: Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (lang, key) pairs name a known road."""
    if not keys:
        return set()
    rows = conn.execute(
        text(
            "SELECT DISTINCT lang, key FROM basemap.place_search "
            "WHERE level = 'road' AND key = ANY(:keys)"
        ),
        {"keys": sorted({key for _, key in keys})},
    )
    found = {(lang, key) for lang, key in rows}
    return {pair for pair in keys if pair in found}


FUZZY_ROADS_SQL = text(
    """
    SELECT q.i, r.key, r.sim
    FROM unnest(CAST(:idx AS int[]), CAST(:keys AS text[]), CAST(:langs AS text[]),
                CAST(:fuzzy AS text[])) AS q(i, key, lang, fuzzy)
    CROSS JOIN LATERAL (
        SELECT p.key, max(similarity(p.fuzzy_key, q.fuzzy)) AS sim
        FROM basemap.place_search p
        WHERE p.level = 'road' AND p.lang = q.lang AND p.fuzzy_key % q.fuzzy
        GROUP BY p.key ORDER BY sim DESC LIMIT :limit
    ) r
    ORDER BY q.i, r.sim DESC
    """
)


def fuzzy_roads(
    conn: Connection, queries: Sequence[tuple[int, str, str]]
) -> dict[int, list[tuple[str, float]]]:
    """Roads whose key is trigram-similar to each query's road text: index → [(key, similarity)]."""
    found: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for lang in ("zh", "en"):
        subset = [q for q in queries if q[1] == lang]
        if not subset:
            continue
        conn.execute(text(f"SET LOCAL pg_trgm.similarity_threshold = {TRIGRAM_THRESHOLD[lang]}"))
        rows = conn.execute(
            FUZZY_ROADS_SQL,
            {"idx": [q[0] for q in subset], "keys": [q[2] for q in subset],
             "langs": [q[1] for q in subset], "fuzzy": [fuzzy_key(q[2], lang) for q in subset],
             "limit": FUZZY_LIMIT},  # fmt: skip
        )
        for i, key, sim in rows:
            found[i].append((key, float(sim)))
    return found


PLATE_COLUMNS = """
    s.road_key, s.address_id, s.number_key, s.number_int, s.building, s.unit, s.postcode,
    s.locality_key
"""
EXACT_PLATES = f"""
    (SELECT {PLATE_COLUMNS} FROM basemap.address_search s
     WHERE s.road_key = q.key AND s.lang = q.lang AND s.number_int = q.n LIMIT 60)
"""
NEIGHBOUR_PLATES = f"""
    (SELECT {PLATE_COLUMNS} FROM basemap.address_search s
     WHERE s.road_key = q.key AND s.lang = q.lang AND s.number_int < q.n
       AND s.number_int % 2 = q.n % 2 AND s.building IS NULL AND s.unit IS NULL
     ORDER BY s.number_int DESC LIMIT {PLATE_NEIGHBOURS})
    UNION ALL
    (SELECT {PLATE_COLUMNS} FROM basemap.address_search s
     WHERE s.road_key = q.key AND s.lang = q.lang AND s.number_int > q.n
       AND s.number_int % 2 = q.n % 2 AND s.building IS NULL AND s.unit IS NULL
     ORDER BY s.number_int ASC LIMIT {PLATE_NEIGHBOURS})
    UNION ALL
    (SELECT {PLATE_COLUMNS} FROM basemap.address_search s
     WHERE s.road_key = q.key AND s.lang = q.lang AND s.number_int < q.n
       AND s.number_int % 2 <> q.n % 2 AND s.building IS NULL AND s.unit IS NULL
     ORDER BY s.number_int DESC LIMIT 1)
    UNION ALL
    (SELECT {PLATE_COLUMNS} FROM basemap.address_search s
     WHERE s.road_key = q.key AND s.lang = q.lang AND s.number_int > q.n
       AND s.number_int % 2 <> q.n % 2 AND s.building IS NULL AND s.unit IS NULL
     ORDER BY s.number_int ASC LIMIT 1)
"""
PLATES_TEMPLATE = """
    SELECT q.i, x.road_key, x.address_id, x.number_key, x.number_int, x.building, x.unit,
           x.postcode, x.locality_key, a.full_zh, a.full_en, a.road_zh, a.road_en,
           a.house_number, a.source, a.district_code, a.street_code, a.community_code,
           concat_ws('|', d.name_zh, st.name_zh, c.name_zh),
           lower(concat_ws('|', d.name_en, st.name_en, c.name_en)),
           ST_X(a.geom), ST_Y(a.geom)
    FROM unnest(CAST(:idx AS int[]), CAST(:keys AS text[]), CAST(:langs AS text[]),
                CAST(:numbers AS int[])) AS q(i, key, lang, n)
    CROSS JOIN LATERAL ({parts}) x
    JOIN basemap.address a ON a.id = x.address_id
    LEFT JOIN basemap.admin_division d ON d.code = a.district_code
    LEFT JOIN basemap.admin_division st ON st.code = a.street_code
    LEFT JOIN basemap.admin_division c ON c.code = a.community_code
"""
EXACT_SQL = text(PLATES_TEMPLATE.format(parts=EXACT_PLATES))
NEIGHBOURS_SQL = text(PLATES_TEMPLATE.format(parts=NEIGHBOUR_PLATES))


def plates(
    conn: Connection, wants: Sequence[tuple[int, str, str, int]]
) -> dict[int, list[PlateRow]]:
    """Plates with the wanted number on each (road key, language); where a road has none,
    its nearest plates below and above the number (same side, and one across the street)."""
    found = _plates(conn, EXACT_SQL, wants)
    have = {(i, row.road_key) for i, rows in found.items() for row in rows}
    missing = [w for w in wants if (w[0], w[2]) not in have]
    for i, rows in _plates(conn, NEIGHBOURS_SQL, missing).items():
        found[i].extend(rows)
    return found


def _plates(
    conn: Connection, statement: TextClause, wants: Sequence[tuple[int, str, str, int]]
) -> dict[int, list[PlateRow]]:
    """Run one plate statement for (index, lang, road key, number) wants."""
    found: dict[int, list[PlateRow]] = defaultdict(list)
    if not wants:
        return found
    rows = conn.execute(
        statement,
        {"idx": [w[0] for w in wants], "langs": [w[1] for w in wants],
         "keys": [w[2] for w in wants], "numbers": [w[3] for w in wants]},  # fmt: skip
    )
    for row in rows:
        found[row[0]].append(PlateRow(*row[1:]))
    return found


PLACES_SQL = text(
    """
    SELECT q.i, p.level, p.lang, p.name, p.key, p.kind, p.ref, p.district_code, p.weight,
           p.sim, ST_X(p.geom), ST_Y(p.geom)
    FROM unnest(CAST(:idx AS int[]), CAST(:keys AS text[]), CAST(:langs AS text[]),
                CAST(:fuzzy AS text[])) AS q(i, key, lang, fuzzy)
    CROSS JOIN LATERAL (
        (SELECT *, 1.0::float8 AS sim FROM basemap.place_search p
         WHERE p.key = q.key AND p.lang = q.lang AND p.level = ANY(:levels) LIMIT 20)
        UNION ALL
        (SELECT *, similarity(p.fuzzy_key, q.fuzzy)::float8 AS sim FROM basemap.place_search p
         WHERE p.fuzzy_key % q.fuzzy AND p.key <> q.key AND p.lang = q.lang
           AND p.level = ANY(:levels)
         ORDER BY sim DESC, p.weight DESC LIMIT :limit)
    ) p
    ORDER BY q.i, p.sim DESC
    """
)


def places(
    conn: Connection,
    queries: Sequence[tuple[int, str, str]],
    levels: Sequence[str] = ("road", "district", "subdistrict", "community", "poi"),
) -> dict[int, list[PlaceRow]]:
    """Named places whose key equals or resembles each query's: index → rows, best first."""
    found: dict[int, list[PlaceRow]] = defaultdict(list)
    for lang in ("zh", "en"):
        subset = [q for q in queries if q[1] == lang and q[2]]
        if not subset:
            continue
        conn.execute(text(f"SET LOCAL pg_trgm.similarity_threshold = {TRIGRAM_THRESHOLD[lang]}"))
        rows = conn.execute(
            PLACES_SQL,
            {"idx": [q[0] for q in subset], "keys": [q[2] for q in subset],
             "langs": [q[1] for q in subset], "fuzzy": [fuzzy_key(q[2], lang) for q in subset],
             "levels": list(levels), "limit": FUZZY_LIMIT},  # fmt: skip
        )
        for row in rows:
            found[row[0]].append(PlaceRow(*row[1:]))
    return found
