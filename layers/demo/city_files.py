"""The demo city as a city hall would hand it over: files (FlatGeobuf) and a profile naming them.

``onemap demo`` loads these through ``layers.city.load`` like any city's own files: read by the
same readers, held to the same division checks and city extent, written as a base-map version.
Divisions are mapped by field names (three levels, GB/T 2260 codes whose prefixes are their
parents'); roads, buildings, POIs and door plates are in the base-map tables' own shape
(``format: onemap``), ids included, so a building keeps its door plate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from layers.city.profile import CityProfile, profile_from_dict
from layers.demo.generate import DemoCity

DEMO_CITY = {"code": "demo", "name": {"zh": "示范市", "en": "Demo City"}}
LEVEL_TITLES = {"district": ("区", "District"), "street": ("街道", "Subdistrict"), "community": ("社区", "Community")}
LIST_COLUMNS = ("aliases", "former_names")
SECTIONS = {"roads": "road", "buildings": "building", "pois": "poi", "addresses": "address"}


def write_city_files(city: DemoCity, folder: Path) -> CityProfile:
    """Write the generated base map into ``folder`` and return the profile that loads it."""
    divisions = city.admin_division.drop(columns=["district_code", "street_code"], errors="ignore")
    write(divisions, folder / "divisions.fgb")
    for table in SECTIONS.values():
        write(as_file_frame(getattr(city, table)), folder / f"{table}.fgb")
    return profile_from_dict(profile_dict(), folder=folder, label="demo profile")


def write(frame: gpd.GeoDataFrame, path: Path) -> None:
    """One FlatGeobuf file (no spatial index: it is read once, whole)."""
    pyogrio.write_dataframe(frame, path, driver="FlatGeobuf", use_arrow=True, SPATIAL_INDEX="NO")


def as_file_frame(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """List columns as JSON text (files have no list type); everything else as generated."""
    out = frame.copy()
    for column in LIST_COLUMNS:
        if column in out:
            out[column] = out[column].map(lambda names: json.dumps(list(names), ensure_ascii=False))
    return out


def profile_dict() -> dict[str, Any]:
    """The demo's profile (as YAML it would look like examples/cities/*.yaml)."""
    levels = [
        {
            "level": level,
            "title": {"zh": LEVEL_TITLES[level][0], "en": LEVEL_TITLES[level][1]},
            "source": {"path": "divisions.fgb", "where": f"level = '{level}'"},
            "code": "code", "name_zh": "name_zh", "name_en": "name_en", "population": "population",
            "parent": {"by": "code_prefix"} if level != "district" else {"by": "containment"},
        }
        for level in ("district", "street", "community")
    ]  # fmt: skip
    sections = {name: {"source": {"path": f"{table}.fgb"}, "format": "onemap"} for name, table in SECTIONS.items()}
    sections["addresses"]["name"] = "demo"
    return {**DEMO_CITY, "crs": "EPSG:4326", "divisions": {"scheme": "gb2260", "levels": levels}, **sections}
