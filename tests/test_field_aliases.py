"""Field aliases and units: one glossary (layers.field_aliases) behind the layer API, the records and the map page."""

from __future__ import annotations

import httpx

from layers.field_aliases import COMMON, layer_fields


def test_common_names_get_words_and_units_and_a_layer_may_say_its_own() -> None:
    attributes = {"height_m": "double precision", "xq_dm": "text", "use": "text"}
    style = {"fields": {"xq_dm": {"zh": "小区代码", "en": "Estate code"}, "use": {"en": "Land use"}}}
    fields = {f["name"]: f for f in layer_fields(attributes, style)}
    assert list(fields) == ["height_m", "xq_dm", "use"]  # the table's order
    assert (fields["height_m"]["title_zh"], fields["height_m"]["unit"]) == ("高度", "m")
    assert (fields["xq_dm"]["title_zh"], fields["xq_dm"]["title_en"]) == ("小区代码", "Estate code")
    assert (fields["use"]["title_zh"], fields["use"]["title_en"]) == ("用途", "Land use")  # only en overridden


def test_a_field_without_any_alias_keeps_its_name_and_odd_styles_are_ignored() -> None:
    assert layer_fields({"zzz": "text"}, None) == [
        {"name": "zzz", "type": "text", "title_zh": "zzz", "title_en": "zzz", "unit": ""}]
    assert layer_fields({"floors": "integer"}, {"fields": ["not", "a", "mapping"]})[0]["title_zh"] == COMMON["floors"][0]
    assert layer_fields({"floors": "integer"}, {"fields": {"floors": "层"}})[0]["unit"] == "层"
    assert layer_fields(None, None) == []


def test_the_layer_api_and_the_record_carry_the_aliases(demo_server: str) -> None:
    entry = httpx.get(f"{demo_server}/api/v1/layers/buildings", timeout=30).json()
    fields = {f["name"]: f for f in entry["fields"]}
    assert fields["height_m"] == {"name": "height_m", "type": "double precision", "title_zh": "高度",
                                  "title_en": "Height", "unit": "m"}  # fmt: skip
    assert "geom" not in fields
    record = httpx.get(f"{demo_server}/records/collections/catalog/items/buildings", params={"f": "json"},
                       timeout=30).json()  # fmt: skip
    assert {f["name"]: f["title_zh"] for f in record["properties"]["fields"]}["floors"] == "层数"
