"""The base map's catalog entries, titled after the city they hold."""

from __future__ import annotations

from typing import Any

from layers.catalog import LayerSpec
from layers.city.profile import CityProfile

BASEMAP_DEPARTMENT = ("planning", "自然资源和规划局", "Natural Resources and Planning Bureau")
"""The department owning the base map (its layers are public, edited by planning)."""

# layer id, table, (zh title, en title), description, keywords, style, extra fields
BASEMAP_LAYERS: tuple[tuple[str, str, tuple[str, str], str, list[str], dict[str, Any], dict[str, Any]], ...] = (
    ("admin_divisions", "admin_division", ("行政区划", "administrative divisions"),
     "区、街道、社区行政区划 (districts, streets, communities) with their codes",
     ["行政区划", "boundaries"], {"color": "#7f7f7f", "fill": False}, {"id_field": "code"}),
    ("roads", "road", ("道路", "roads"),
     "道路中心线，按路口分段，含等级、车速与单行 (centrelines split at junctions: class, speed, one-way)",
     ["道路", "roads"], {"color": "#555555", "width_by": "road_class"}, {}),
    ("buildings", "building", ("建筑物", "buildings"),
     "建筑物轮廓，含用途、层数与高度 (footprints with use, floors, height)",
     ["建筑", "buildings"], {"color": "#8c564b", "extrude": "height_m"}, {}),
    ("addresses", "address", ("门牌地址", "door-plate addresses"),
     "标准地址门牌 (door plates)", ["地址", "门牌", "addresses"],
     {"color": "#2ca02c", "radius": 3}, {"kind": "address"}),
    ("pois", "poi", ("兴趣点", "points of interest"),
     "兴趣点与地名 (points of interest and place names)", ["地名", "POI"],
     {"color": "#9467bd", "radius": 4}, {}),
)  # fmt: skip


def basemap_layers(profile: CityProfile, *, source_note: str) -> list[LayerSpec]:
    """The five base-map layers titled 'Manhattan roads' / '曼哈顿道路'."""
    city = profile.name
    return [
        LayerSpec(
            id=layer_id,
            title_zh=f"{city.zh}{zh}",
            title_en=f"{city.en} {en}",
            department_code=BASEMAP_DEPARTMENT[0],
            storage_schema="basemap",
            storage_table=table,
            description=f"{description}; {source_note}.",
            keywords=["一张图", "one map", city.zh, city.en, *keywords],
            style=style,
            **extra,
        )
        for layer_id, table, (zh, en), description, keywords, style, extra in BASEMAP_LAYERS
    ]
