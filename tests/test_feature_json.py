"""A page of features stays PostgreSQL's JSON text until someone needs Python objects."""

from __future__ import annotations

import json

from api.ogc.compat import to_json
from layers.features import FeatureList

RAW = '[{"type": "Feature", "id": 1, "geometry": null, "properties": {"name": "钟楼"}}]'


def test_length_without_parsing() -> None:
    page = FeatureList(RAW, 1)
    assert len(page) == 1 and page
    assert not page._parsed


def test_iteration_and_indexing_parse_once() -> None:
    page = FeatureList(RAW, 1)
    assert [f["id"] for f in page] == [1]
    assert page[0]["properties"]["name"] == "钟楼"
    assert page == [{"type": "Feature", "id": 1, "geometry": None, "properties": {"name": "钟楼"}}]


def test_to_json_embeds_the_text_and_keeps_other_values() -> None:
    import datetime as dt
    from collections import OrderedDict

    content = OrderedDict(type="FeatureCollection", features=FeatureList(RAW, 1),
                          timeStamp=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    parsed = json.loads(to_json(content))
    assert parsed["features"][0]["properties"]["name"] == "钟楼"
    assert parsed["timeStamp"].startswith("2026-01-01")
    assert json.loads(to_json({"features": FeatureList("[]", 0)}))["features"] == []
