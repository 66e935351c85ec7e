"""Feature pages (issue 19): the cached SQL of plain pages and numberMatched without a count query.

The answers are compared with the statement ``layers.features.page_statement`` builds afresh
(the path every other page takes) and with an explicit ``COUNT(*)``, on the small demo city.
"""

from __future__ import annotations

import httpx
import orjson
import pytest
from sqlalchemy import Engine, func, select, text

from api.ogc import feature_tables
from layers import features
from spatial.db import read_only


@pytest.fixture(scope="module")
def buildings(demo_engine: Engine) -> features.FeatureTable:
    return feature_tables.describe(demo_engine, "basemap", "building", "id", "geom", None, None)


@pytest.fixture(scope="module")
def boxes(demo_engine: Engine) -> list[list[float]]:
    """Windows of a few sizes around buildings: some pages full at limit 50, some not, one empty."""
    with demo_engine.connect() as conn:
        centres = conn.execute(
            text("SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM basemap.building ORDER BY id")
        ).all()
    picks = [centres[0], centres[len(centres) // 2], centres[-1]]
    out = [[x - half, y - half, x + half, y + half] for x, y in picks for half in (0.0005, 0.002, 0.006)]
    return [*out, [0.0, 0.0, 0.001, 0.001]]  # nothing there


def reference(engine: Engine, ft: features.FeatureTable, query: features.FeatureQuery) -> tuple[list, int]:
    """The page as the statement built afresh gives it, and the exact count of matches."""
    with read_only(engine) as conn:
        rows = conn.execute(features.page_statement(ft, query)).all()
        count = conn.execute(
            select(func.count()).select_from(ft.sa_table).where(features.where_clause(ft, query))
        ).scalar_one()
    texts = [whole if query.skip_geometry else features.feature_text(fid, whole) for fid, whole in rows]
    return [orjson.loads(t) for t in texts], int(count)


SHAPES = [
    {},
    {"select_properties": ["use", "floors"]},
    {"skip_geometry": True},
    {"output": features.OutputCrs(srid=3857)},
    {"output": features.OutputCrs(srid=4326, lat_first=True)},
]


@pytest.mark.parametrize("shape", SHAPES, ids=["plain", "properties", "skipGeometry", "crs3857", "latlon"])
def test_plain_pages_equal_the_statement_built_afresh(
    demo_engine: Engine, buildings: features.FeatureTable, boxes: list, shape: dict
) -> None:
    for bbox in boxes:  # the first window compiles the statement, the others reuse it
        for limit, offset in ((50, 0), (1000, 0), (7, 3)):
            query = features.FeatureQuery(bbox=bbox, limit=limit, offset=offset, **shape)
            page = features.query_features(demo_engine, buildings, query)
            expected, count = reference(demo_engine, buildings, query)
            assert list(page["features"]) == expected, (bbox, limit, offset)
            assert page["numberReturned"] == len(expected)
            assert page["numberMatched"] == count, (bbox, limit, offset)


def test_number_matched_at_the_end_and_past_it(demo_engine: Engine, buildings: features.FeatureTable) -> None:
    """Short pages count themselves; an empty page past the end, and full pages, ask the database."""
    total = buildings.estimated_rows
    assert total < features.EXACT_COUNT_BELOW  # the small demo counts exactly
    with demo_engine.connect() as conn:
        total = int(conn.execute(text("SELECT count(*) FROM basemap.building")).scalar_one())
    for offset, limit in ((0, 10), (total - 3, 10), (total, 10), (total + 50, 10), (total - 10, 10), (2000, 10)):
        page = features.query_features(demo_engine, buildings, features.FeatureQuery(offset=offset, limit=limit))
        assert page["numberMatched"] == total, (offset, limit)
        assert page["numberReturned"] == max(0, min(limit, total - offset))
    hits = features.query_features(demo_engine, buildings, features.FeatureQuery(hits_only=True))
    assert hits["numberMatched"] == total and hits["numberReturned"] == 0


def test_sorted_and_filtered_pages_keep_their_own_statement(
    demo_engine: Engine, buildings: features.FeatureTable, boxes: list
) -> None:
    for query in (
        features.FeatureQuery(bbox=boxes[2], limit=20, sortby=[{"property": "floors", "order": "-"}]),
        features.FeatureQuery(bbox=boxes[2], limit=20, properties=[("use", "residential")]),
        features.FeatureQuery(limit=5, offset=features.KEYSET_FROM_OFFSET + 10),
    ):
        page = features.query_features(demo_engine, buildings, query)
        expected, count = reference(demo_engine, buildings, query)
        assert list(page["features"]) == expected
        assert page["numberMatched"] == count


def test_pages_over_http_link_through_every_match(demo_server: str, boxes: list) -> None:
    bbox = ",".join(f"{v:.6f}" for v in boxes[2])
    url = f"{demo_server}/ogc/collections/buildings/items"
    first = httpx.get(url, params={"f": "json", "bbox": bbox, "limit": 1000}, timeout=60).json()
    assert first["numberMatched"] == first["numberReturned"] > 10
    seen, page = [], httpx.get(url, params={"f": "json", "bbox": bbox, "limit": 4}, timeout=60).json()
    seen += [f["id"] for f in page["features"]]
    assert page["numberMatched"] == first["numberMatched"]
    last = httpx.get(url, params={"f": "json", "bbox": bbox, "limit": 4, "offset": len(first["features"]) - 2},
                     timeout=60).json()  # fmt: skip
    assert last["numberMatched"] == first["numberMatched"] and last["numberReturned"] == 2
    assert not any(link["rel"] == "next" for link in last["links"])
    assert [f["id"] for f in last["features"]] == [f["id"] for f in first["features"][-2:]]
    assert seen == [f["id"] for f in first["features"][:4]]


@pytest.mark.parametrize("params", [
    {"bbox": "1,2,3"}, {"bbox": "a,b,c,d"}, {"bbox": "10,95,11,96"}, {"limit": "-1"}, {"limit": "x"},
    {"offset": "-1"}, {"offset": "x"}, {"crs": "EPSG:0"},
])  # fmt: skip
def test_bad_page_requests_are_4xx(demo_server: str, params: dict) -> None:
    answer = httpx.get(f"{demo_server}/ogc/collections/buildings/items", params={"f": "json", **params}, timeout=60)
    assert 400 <= answer.status_code < 500, (params, answer.status_code, answer.text[:200])
