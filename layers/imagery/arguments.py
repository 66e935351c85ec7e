"""Arguments of statistics requests from any door: query strings, JSON bodies, process inputs.

Values arrive as text (``percentiles=10,50,90``, ``all_touched=true``) or as JSON (lists,
booleans, numbers); both become the keyword arguments of ``zonal_statistics`` and
``change_statistics``, with a clear InvalidInput for anything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from spatial.errors import InvalidInput
from spatial.params import parse_lonlat_bbox

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")
COMMON = ("band", "expression", "percentiles", "all_touched", "properties", "bbox")


class StatisticsQuery(BaseModel):
    """The inputs of a zonal statistic as a query string (every door reads them with the functions below)."""

    model_config = ConfigDict(extra="ignore")

    # required, but refused by the one parser (statistics_arguments) with its own words
    zones: str | None = Field(default=None, max_length=1000, description="required: the polygon layer (a layer id)")
    band: str | None = Field(default=None, max_length=10, description="a band number; or give expression")
    expression: str | None = Field(default=None, max_length=1000, description="band maths, e.g. (b4-b3)/(b4+b3)")
    percentiles: str | None = Field(default=None, max_length=200, description="comma-separated, 0-100")
    all_touched: str | None = Field(default=None, max_length=5, description="true: every pixel a polygon touches")
    properties: str | None = Field(default=None, max_length=1000, description="zone properties to keep, comma-separated")
    bbox: str | None = Field(default=None, max_length=200, description="only zones in this lon/lat box")
    datetime: str | None = Field(default=None, max_length=100, description="which scenes: an instant, a day or an interval")
    scene: str | None = Field(default=None, max_length=200, description="one scene by id")
    f: str | None = Field(default=None, max_length=10, description="answer format: json, geojson or csv")


class ChangeQuery(StatisticsQuery):
    """The inputs of a change statistic: two scenes (ids or datetimes) instead of one."""

    before: str | None = Field(default=None, max_length=200, description="required: scene id, or a datetime")
    after: str | None = Field(default=None, max_length=200, description="required: scene id, or a datetime")


class SaveAs(BaseModel):
    """``save_as``: keep the result as a new overlay layer of the caller's department."""

    name: str = Field(max_length=63)
    title: str | None = Field(default=None, max_length=200)
    title_en: str | None = Field(default=None, max_length=200)
    visibility: Literal["public", "internal", "department"] | None = None
    department: str | None = Field(default=None, max_length=64)


class StatisticsBody(BaseModel):
    """POST: the same inputs as JSON (lists, numbers and booleans welcome), plus ``save_as``."""

    zones: str
    band: int | None = Field(default=None, ge=1)
    expression: str | None = None
    percentiles: list[float] | None = None
    all_touched: bool | None = None
    properties: list[str] | None = None
    bbox: list[float] | None = Field(default=None, min_length=4, max_length=4)
    datetime: str | None = None
    scene: str | None = None
    f: Literal["json", "geojson", "csv"] | None = None
    save_as: SaveAs | str | None = None


class ChangeBody(StatisticsBody):
    """POST for a change statistic."""

    before: str
    after: str


def statistics_arguments(given: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``zonal_statistics`` (the zones layer included)."""
    arguments = _common(given)
    arguments["zones"] = required_text(given, "zones")
    for name in ("datetime", "scene"):
        if given.get(name) not in (None, ""):
            arguments[name] = text_value(given[name], name)
    return arguments


def change_arguments(given: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``change_statistics`` (the zones layer, before and after)."""
    arguments = _common(given)
    arguments["zones"] = required_text(given, "zones")
    arguments["before"] = required_text(given, "before")
    arguments["after"] = required_text(given, "after")
    return arguments


def _common(given: Mapping[str, Any]) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    if given.get("band") not in (None, ""):
        arguments["band"] = given["band"]
    if given.get("expression") not in (None, ""):
        arguments["expression"] = text_value(given["expression"], "expression")
    arguments["percentiles"] = given.get("percentiles") or ()
    arguments["all_touched"] = flag(given.get("all_touched"), "all_touched")
    arguments["properties"] = names(given.get("properties"), "properties")
    if given.get("bbox") not in (None, ""):
        arguments["bbox"] = bbox_value(given["bbox"])
    return arguments


def required_text(given: Mapping[str, Any], name: str) -> str:
    """A non-empty text input; InvalidInput when missing."""
    value = given.get(name)
    if value in (None, ""):
        raise InvalidInput(f"{name} is required")
    return text_value(value, name)


def text_value(value: Any, name: str) -> str:
    """Text (numbers accepted); InvalidInput for lists, objects and overlong values."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{name} must be text")
    text = str(value).strip()
    if len(text) > 1000:
        raise InvalidInput(f"{name} is too long")
    return text


def flag(value: Any, name: str) -> bool:
    """A boolean from JSON or from text such as 'true', '1', 'no'."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise InvalidInput(f"{name}={value!r}: give true or false")


def names(value: Any, name: str) -> tuple[str, ...]:
    """Names from a JSON list or comma-separated text."""
    if value in (None, ""):
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise InvalidInput(f"{name}: give names as a list or comma-separated text")
    return tuple(i.strip() for i in items if i.strip())


def bbox_value(value: Any) -> tuple[float, float, float, float]:
    """A lon/lat box from '[minx, miny, maxx, maxy]' or 'minx,miny,maxx,maxy' (``spatial.params``)."""
    return parse_lonlat_bbox(value).as_tuple()
