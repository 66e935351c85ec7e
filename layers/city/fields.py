"""A profile's field references read out of a source frame: 'BoroCD', 'name:zh', 'tags.oneway'.

A field is found as the file spells it, else through the stored-name rule
(``spatial.identifiers``), else case-insensitively. ``tags.KEY`` reads ``KEY`` out of the
``other_tags`` column GDAL's OSM driver (and ogr2ogr exports of OSM) put every other tag in,
written as an hstore: ``"oneway"=>"yes","maxspeed"=>"25 mph"``.
"""

from __future__ import annotations

import re

import pandas as pd

from spatial.identifiers import stored_column

TAGS_PREFIX = "tags."
TAGS_COLUMN = "other_tags"
HSTORE_PAIR = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


def find_column(frame: pd.DataFrame, name: str) -> str | None:
    """The frame's column a profile means by ``name`` (None when there is none)."""
    columns = [str(c) for c in frame.columns]
    found = stored_column(name, columns)
    if found is not None:
        return found
    lowered = {c.lower(): c for c in columns}
    return lowered.get(name.lower())


def has_field(frame: pd.DataFrame, name: str) -> bool:
    """Whether ``name`` can be read from the frame (a tag needs the other_tags column)."""
    if name.startswith(TAGS_PREFIX):
        return find_column(frame, name[len(TAGS_PREFIX) :]) is not None or TAGS_COLUMN in frame
    return find_column(frame, name) is not None


def text_values(frame: pd.DataFrame, name: str) -> pd.Series:
    """The field's values as stripped text, None where empty; KeyError when the field is absent."""
    if name.startswith(TAGS_PREFIX):
        key = name[len(TAGS_PREFIX) :]
        column = find_column(frame, key)
        values = frame[column] if column is not None else tag_values(frame, key)
    else:
        column = find_column(frame, name)
        if column is None:
            raise KeyError(name)
        values = frame[column]
    return pd.Series([_text(v) for v in values], index=values.index, dtype=object)


def tag_values(frame: pd.DataFrame, key: str) -> pd.Series:
    """One key of the other_tags hstore column (None where the feature has no such tag)."""
    if TAGS_COLUMN not in frame:
        raise KeyError(f"{TAGS_PREFIX}{key}")
    return frame[TAGS_COLUMN].map(lambda tags: parse_hstore(tags).get(key))


def parse_hstore(value: object) -> dict[str, str]:
    """'"a"=>"1","b"=>"x y"' → {'a': '1', 'b': 'x y'}; {} for empty or missing values.

    >>> parse_hstore('"oneway"=>"yes","maxspeed"=>"25 mph"')
    {'oneway': 'yes', 'maxspeed': '25 mph'}
    """
    if not isinstance(value, str) or "=>" not in value:
        return {}
    return {_unescape(k): _unescape(v) for k, v in HSTORE_PAIR.findall(value)}


def _unescape(text_value: str) -> str:
    return text_value.replace('\\"', '"').replace("\\\\", "\\")


def _text(value: object) -> str | None:
    """A cell as stripped text: None for missing and empty; '101' for 101 and 101.0."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if value is pd.NA:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text_value = str(value).strip()
    return text_value or None
