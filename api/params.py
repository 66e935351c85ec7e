"""The shared request vocabulary as FastAPI parameter types: ``spatial.params`` parses, FastAPI documents.

Each type pairs the OpenAPI description FastAPI derives (range, format, words) with one parser of
``spatial.params``, run first as a pydantic ``BeforeValidator``: its ``InvalidInput``/``NotFound``
reach the one error table unchanged. A route declares ``limit: GeocodeLimit`` and gets the same
refusal words as every other door, and a document that cannot drift from it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator

from spatial import params

MAX_ID = params.MAX_ID


def _number(name: str, minimum: float | None = None, maximum: float | None = None) -> BeforeValidator:
    return BeforeValidator(lambda value: params.parse_number(value, name=name, minimum=minimum, maximum=maximum))


def _instant(name: str) -> BeforeValidator:
    return BeforeValidator(lambda value: params.parse_instant(value, name=name))


def _path_id(what: str) -> BeforeValidator:
    return BeforeValidator(lambda value: params.parse_path_id(value, what=what))


def limit_query(default: int, maximum: int, what: str = "items") -> Any:
    """How ``limit`` is documented: 1 … ``maximum``."""
    return Query(ge=1, le=maximum, description=f"most {what} to return (default {default})")


def limit_parser(default: int, maximum: int) -> BeforeValidator:
    """How ``limit`` is read: ``spatial.params.parse_limit``."""
    return BeforeValidator(lambda value: params.parse_limit(value, default=default, maximum=maximum))


def instant_parser(name: str) -> BeforeValidator:
    """How an RFC 3339 date-time is read: ``spatial.params.parse_instant``."""
    return _instant(name)


Lon = Annotated[float, Query(ge=-180, le=180, description="longitude, degrees (CRS84)"), _number("lon")]
Lat = Annotated[float, Query(ge=-90, le=90, description="latitude, degrees (CRS84)"), _number("lat")]
RadiusM = Annotated[float, Query(ge=0, le=100_000, description="search radius in metres"),
                    _number("radius", 0, 100_000)]  # fmt: skip
Since = Annotated[dt.datetime | None, Query(description="RFC 3339 date-time: from"), _instant("since")]
Until = Annotated[dt.datetime | None, Query(description="RFC 3339 date-time: until"), _instant("until")]
IncidentId = Annotated[int, Path(ge=1, le=MAX_ID, description="incident id"), _path_id("incident")]
PhotoId = Annotated[int, Path(ge=1, le=MAX_ID, description="photo id"), _path_id("photo")]
Crs = Annotated[str | None, Query(max_length=100, description="output CRS: CRS84, EPSG:4326, EPSG:4490, gcj02, bd09")]


def choices_parser(allowed: tuple[str, ...], name: str) -> BeforeValidator:
    """How a comma-separated list of known values is read: ``spatial.params.parse_choices``."""
    return BeforeValidator(lambda value: params.parse_choices(value, allowed, name=name))


def codes_parser(name: str) -> BeforeValidator:
    """How a comma-separated list of codes is read: ``spatial.params.parse_codes``."""
    return BeforeValidator(lambda value: params.parse_codes(value, name=name))


Offset = Annotated[int, Query(ge=0, description="how many items to skip (paging)"),
                   BeforeValidator(lambda value: params.parse_offset(value))]  # fmt: skip
BboxText = Annotated[str | None, Query(max_length=300, description="minx,miny,maxx,maxy in lon/lat (CRS84): "
                     "read by spatial.params.parse_lonlat_bbox")]  # fmt: skip
Words = Annotated[str | None, Query(max_length=100, description="words to look for (no markup)"),
                  BeforeValidator(lambda value: params.parse_words(value))]  # fmt: skip
From = Annotated[dt.datetime | None, Query(alias="from", description="RFC 3339 date-time: from (same as since)"),
                 _instant("from")]  # fmt: skip
To = Annotated[dt.datetime | None, Query(alias="to", description="RFC 3339 date-time: until (same as until)"),
               _instant("to")]  # fmt: skip
