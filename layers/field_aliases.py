"""What a layer's fields are called for people: aliases (zh, en) and units, one glossary for every door.

A catalog row knows its fields' names and types (``attributes``, refreshed from the table). The
words come from two places, the later winning:

1. ``COMMON``: the fields city layers share (names the demo, the city loader and department files
   use: ``use``, ``floors``, ``height_m``, ``population``, ``aqi`` …);
2. the layer's own ``style["fields"]``: ``{"name": {"zh": "…", "en": "…", "unit": "…"}}``, for a
   department's field names nobody else uses.

A field with no alias anywhere keeps its name as its title (never an empty label). The map page,
the catalogue records and the layer API all read ``layer_fields``; nothing else keeps such a list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# name: (zh, en, unit)
COMMON: dict[str, tuple[str, str, str]] = {
    "id": ("编号", "Id", ""), "name": ("名称", "Name", ""), "name_zh": ("名称", "Name (zh)", ""),
    "name_en": ("英文名称", "Name (en)", ""), "use": ("用途", "Use", ""), "floors": ("层数", "Floors", "层"),
    "height_m": ("高度", "Height", "m"), "area_m2": ("面积", "Area", "m²"), "length_m": ("长度", "Length", "m"),
    "community_code": ("社区代码", "Community code", ""), "street_code": ("街道代码", "Subdistrict code", ""),
    "district_code": ("区县代码", "District code", ""), "parent_code": ("上级代码", "Parent code", ""),
    "address_id": ("地址编号", "Address id", ""), "kind": ("类型", "Kind", ""), "category": ("类别", "Category", ""),
    "capacity": ("容纳人数", "Capacity", "人"), "beds": ("床位数", "Beds", "张"), "phone": ("电话", "Phone", ""),
    "address_zh": ("地址", "Address", ""), "address_en": ("英文地址", "Address (en)", ""), "code": ("代码", "Code", ""),
    "full_zh": ("完整地址", "Full address", ""), "full_en": ("英文地址", "Address (en)", ""),
    "province": ("省", "Province", ""), "city": ("市", "City", ""), "road_zh": ("道路", "Road", ""),
    "road_en": ("道路（英文）", "Road (en)", ""), "house_number": ("门牌号", "House number", ""),
    "building": ("楼栋", "Building", ""), "unit": ("单元", "Unit", ""), "postcode": ("邮政编码", "Postcode", ""),
    "source": ("来源", "Source", ""), "level": ("级别", "Level", ""), "population": ("人口", "Population", "人"),
    "road_class": ("道路等级", "Road class", ""), "class": ("等级", "Class", ""), "lanes": ("车道数", "Lanes", ""),
    "speed_kmh": ("限速", "Speed limit", "km/h"), "oneway": ("单行", "One-way", ""), "aliases": ("又名", "Also known as", ""),
    "former_names": ("曾用名", "Former names", ""), "station_code": ("站点代码", "Station code", ""),
    "observed_at": ("观测时间", "Observed at", ""), "aqi": ("空气质量指数", "AQI", ""),
    "pm2_5": ("PM2.5", "PM2.5", "μg/m³"), "pm10": ("PM10", "PM10", "μg/m³"), "no2": ("二氧化氮", "NO₂", "μg/m³"),
    "o3": ("臭氧", "O₃", "μg/m³"), "so2": ("二氧化硫", "SO₂", "μg/m³"), "co": ("一氧化碳", "CO", "mg/m³"),
    "cell_code": ("单元网格编码", "Unit-cell code", ""), "grid_version": ("网格版本", "Grid version", ""),
    "status": ("状态", "Status", ""), "state": ("状态", "State", ""), "reported_at": ("上报时间", "Reported at", ""),
    "category_code": ("类别代码", "Category code", ""), "description": ("描述", "Description", ""),
    "updated_at": ("更新时间", "Updated at", ""), "created_at": ("创建时间", "Created at", ""),
}  # fmt: skip


def layer_fields(attributes: Mapping[str, str] | None, style: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """``[{name, type, title_zh, title_en, unit}]`` in the table's column order."""
    own = (style or {}).get("fields") or {}
    fields = []
    for name, kind in (attributes or {}).items():
        zh, en, unit = COMMON.get(name, (name, name, ""))
        mine = own.get(name) if isinstance(own, Mapping) else None
        if isinstance(mine, Mapping):
            zh, en, unit = str(mine.get("zh") or zh), str(mine.get("en") or en), str(mine.get("unit") or unit)
        fields.append({"name": name, "type": str(kind), "title_zh": zh, "title_en": en, "unit": unit})
    return fields
