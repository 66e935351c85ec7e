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
HSTORE_VALUE = r'"=>"((?:[^"\\]|\\.)*)"'
"""What follows a quoted key in an hstore: its quoted value (quotes, backslashes escaped)."""


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
    """One key of the other_tags hstore column (None where the feature has no such tag).

    One regular expression over the whole column, not a parse of every feature's tags: a
    pair starts the text or follows a comma (inside a key or value a quote is escaped).

    >>> tags = pd.Series(['"oneway"=>"yes","maxspeed"=>"25 mph"', '"old_oneway"=>"no"', None])
    >>> tag_values(pd.DataFrame({"other_tags": tags}), "oneway").tolist()
    ['yes', None, None]
    """
    if TAGS_COLUMN not in frame:
        raise KeyError(f"{TAGS_PREFIX}{key}")
    tags = frame[TAGS_COLUMN]
    if not (pd.api.types.is_string_dtype(tags) or pd.api.types.is_object_dtype(tags)):
        return pd.Series(None, index=frame.index, dtype=object)  # no text: no tags
    pattern = rf'(?:^|,)\s*"{re.escape(_escape(key))}{HSTORE_VALUE}'
    found = tags.str.extract(pattern, expand=False)
    found = found.astype(object).where(found.notna(), None)
    escaped = found.str.contains("\\", regex=False, na=False)
    if escaped.any():
        found[escaped] = found[escaped].map(_unescape)
    return found


def _escape(text_value: str) -> str:
    return text_value.replace("\\", "\\\\").replace('"', '\\"')


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
