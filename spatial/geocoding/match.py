"""Forward geocoding: parsed queries → ranked matches, a whole batch in a few statements.

1. roads: each query's road keys are looked up exactly (the longest that exists wins); the
   queries left over go through pg_trgm similarity (GIN index) for a handful of candidates;
2. door plates: for every (query, road) pair, the plates with the asked number and the nearest
   same-side plates below and above it, in one statement;
3. ranking (``rank``): exact plate, building or unit; else a point interpolated between
   neighbours; else the road; named places (POIs, divisions, roads without a number) by name;
4. the best matches per query, most confident first, in the requested output CRS.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Engine

from spatial.db import replica_read
from spatial.errors import NotFound
from spatial.geocoding import candidates, rank
from spatial.geocoding.codes import code_matches, is_location_code
from spatial.geocoding.index import name_key
from spatial.geocoding.parse import parse, parse_structured
from spatial.geocoding.parsed import ParsedAddress
from spatial.geocoding.result import LEVELS, Match, in_crs, output_crs

DEFAULT_LIMIT = 5
MAX_LIMIT = 50
MIN_CONFIDENCE = 0.3
MIN_NAME_SIMILARITY = 0.5  # fuzzy place names below this are noise (Mingde ≠ Xiude District)
ROAD_CANDIDATES = 4


def geocode(
    conn_or_engine: Connection | Engine,
    text: str | None = None,
    *,
    fields: dict[str, str | None] | None = None,
    limit: int = DEFAULT_LIMIT,
    crs: str | None = None,
) -> list[Match]:
    """Matches for one address, free text (``text``) or structured (``fields``), best first.

    An empty list means nothing matched; bad input raises InvalidInput. A plate code or a plus
    code is looked up as such (``codes``): a plate code with a wrong check character raises.
    """
    if text is not None and is_location_code(text):
        return location_matches(conn_or_engine, text, crs=crs)
    query = parse(text) if text is not None else parse_structured(fields or {})
    return geocode_parsed(conn_or_engine, [query], limit=limit, crs=crs)[0]


def location_matches(
    conn_or_engine: Connection | Engine, text: str, *, crs: str | None = None, missing_ok: bool = True
) -> list[Match]:
    """The plate or plus-code cell a location code names; a code no plate carries gives no
    match (NotFound unless ``missing_ok``)."""
    target = output_crs(crs)
    try:
        if isinstance(conn_or_engine, Engine):
            with replica_read(conn_or_engine) as conn:
                conn.execution_options(isolation_level="READ COMMITTED")  # one transaction: SET LOCAL
                found = code_matches(conn, text) or []
                conn.rollback()
        else:
            found = code_matches(conn_or_engine, text) or []
    except NotFound:
        if not missing_ok:
            raise
        return []
    return [in_crs(m, target) for m in found]


def geocode_many(
    conn_or_engine: Connection | Engine,
    texts: Sequence[str],
    *,
    limit: int = 1,
    crs: str | None = None,
) -> list[list[Match]]:
    """Matches for many free-text addresses at once (same order as ``texts``)."""
    return geocode_parsed(conn_or_engine, [parse(t) for t in texts], limit=limit, crs=crs)


def geocode_parsed(
    conn_or_engine: Connection | Engine,
    queries: Sequence[ParsedAddress],
    *,
    limit: int = DEFAULT_LIMIT,
    crs: str | None = None,
) -> list[list[Match]]:
    """Matches for already parsed queries, in one read-only transaction."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    target = output_crs(crs)
    if isinstance(conn_or_engine, Engine):
        with replica_read(conn_or_engine) as conn:
            conn.execution_options(isolation_level="READ COMMITTED")  # one transaction: SET LOCAL
            found = _match(conn, queries, limit)
            conn.rollback()
    else:
        found = _match(conn_or_engine, queries, limit)
    return [[in_crs(m, target) for m in best(matches, limit)] for matches in found]


def _match(conn: Connection, queries: Sequence[ParsedAddress], limit: int) -> list[list[Match]]:
    """Candidate look-ups for every query, then ranking."""
    roads = resolve_roads(conn, queries)
    wants = [(i, q.lang, key, q.number_int) for i, q in enumerate(queries)
             for key, _ in roads.get(i, []) if q.number_int is not None]  # fmt: skip
    plate_rows = candidates.plates(conn, wants)
    named = [i for i, q in enumerate(queries) if not q.has_plate or not plate_rows.get(i)]
    place_rows = candidates.places(conn, [name_query(i, queries[i]) for i in named])
    results: list[list[Match]] = []
    for i, query in enumerate(queries):
        matches = plate_matches(query, plate_rows.get(i, []), dict(roads.get(i, [])), limit)
        if i in place_rows or not matches:
            matches += named_matches(query, place_rows.get(i, []), dict(roads.get(i, [])))
        results.append(matches)
    return results


def resolve_roads(
    conn: Connection, queries: Sequence[ParsedAddress]
) -> dict[int, list[tuple[str, float]]]:
    """Per query, the road keys worth fetching plates for, with their road score."""
    wanted = [(q.lang, key) for q in queries for key in q.road_keys]
    existing = candidates.existing_road_keys(conn, wanted)
    roads: dict[int, list[tuple[str, float]]] = {}
    fuzzy: list[tuple[int, str, str]] = []
    for i, query in enumerate(queries):
        exact = next((key for key in query.road_keys if (query.lang, key) in existing), None)
        if exact is not None:
            roads[i] = [(exact, 1.0)]
        elif query.road_keys:
            fuzzy.append((i, query.lang, query.road_keys[0]))
    for i, found in candidates.fuzzy_roads(conn, fuzzy).items():
        query = queries[i]
        scored = [(key, rank.road_score(query.road_keys[0], key, query.lang, exact=False))
                  for key, _ in found]  # fmt: skip
        scored = sorted((s for s in scored if s[1] > 0), key=lambda s: -s[1])
        if scored:
            floor = scored[0][1] - rank.FUZZY_KEEP_WITHIN
            roads[i] = [s for s in scored if s[1] >= floor][:ROAD_CANDIDATES]
    return roads


def name_query(i: int, query: ParsedAddress) -> tuple[int, str, str]:
    """The place-name look-up of a query: its name text, or its road when it has one."""
    if query.name:
        return i, query.lang, name_key(query.name, query.lang)
    return i, query.lang, query.road_keys[0] if query.road_keys else ""


def plate_matches(
    query: ParsedAddress, rows: list[candidates.PlateRow], roads: dict[str, float], limit: int
) -> list[Match]:
    """Plate-level matches: exact numbers per road and district, else interpolated."""
    groups: dict[tuple[str, str | None], list[candidates.PlateRow]] = {}
    for row in rows:  # one road per key and district (localities are too unevenly filled)
        groups.setdefault((row.road_key, row.district_code), []).append(row)
    matches: list[Match] = []
    for (key, _), group in groups.items():
        road = roads.get(key, 0.0)
        exact = [r for r in group if r.number_int == query.number_int]
        if exact:
            matches.extend(rank.plate_matches(query, rank.central(exact), road, limit))
        else:
            found = rank.interpolated_match(query, group, road)
            if found is not None:
                matches.append(found)
    return matches


def named_matches(
    query: ParsedAddress, rows: list[candidates.PlaceRow], roads: dict[str, float]
) -> list[Match]:
    """Place-name matches; a road found for a plate query without plates stays a road match."""
    matches = []
    for row in rows:
        if row.similarity < MIN_NAME_SIMILARITY:
            continue
        factor = 1.0
        if query.number_int is not None:
            factor = rank.NUMBER_FACTOR["road"] if row.level == "road" else 0.6
        if row.level == "road" and roads and row.key not in roads:
            continue
        matches.append(rank.place_match(query, row, factor))
    return matches


def best(matches: list[Match], limit: int) -> list[Match]:
    """The most confident matches above the floor, one per place, at most ``limit``."""
    seen: set[tuple[object, ...]] = set()
    kept: list[Match] = []
    for match in sorted(matches, key=lambda m: (-m.confidence, rank_of(m.level))):
        identity = (match.level, match.address_id, match.poi_id, match.label, round(match.lon, 6),
                    round(match.lat, 6))  # fmt: skip
        if match.confidence < MIN_CONFIDENCE or identity in seen:
            continue
        seen.add(identity)
        kept.append(match)
        if len(kept) == limit:
            break
    return kept


def rank_of(level: str) -> int:
    """Position of a level in the precision order (more precise first)."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)
