"""Chinese text read in the wrong encoding: GBK/GB18030 bytes that GDAL decoded as Latin-1.

A Shapefile written in GBK without a ``.cpg`` beside it is read by GDAL as ISO-8859-1, so
西安 arrives as 'Î÷°²': every Chinese character becomes two characters of U+0080–U+00FF. Such
a value is recognised when a run of those characters, turned back into bytes, decodes as
GB18030 into Chinese; a value holding U+FFFD (bytes that could not be decoded at all) counts
too. European text rarely has two accented letters in a row, and never four, so a run must be
four characters long: a name of two Chinese characters or more.

    >>> garbled("Î÷°²ÊÐ"), garbled("Zürich"), garbled("São Paulo")
    ('西安市', None, None)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

HIGH_RUN = re.compile("[\u0080-\u00ff]{4,}")
SUSPECT = re.compile("[\u0080-\u00ff]{4,}|\ufffd")
CHINESE = re.compile("^[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+$")
REPLACEMENT = "\ufffd"
SHARE_OF_ACCENTED = 0.2
"""A field is flagged when this share of its values with accented letters decodes as Chinese."""


@dataclass(frozen=True)
class GarbledField:
    """A text field whose values look like GBK read as Latin-1, with an example."""

    field: str
    rows: list[int]
    """Positions (0-based) of the garbled values in the frame."""
    example: str
    meant: str | None
    """What the example reads as in GB18030 (None when bytes were lost: U+FFFD)."""


def garbled(value: str) -> str | None:
    """The value re-read as GB18030 when it looks like GBK decoded as Latin-1, else None."""
    if REPLACEMENT in value:
        return REPLACEMENT
    runs = HIGH_RUN.findall(value)
    if not any(CHINESE.match(run.encode("latin-1").decode("gb18030", "replace")) for run in runs):
        return None
    try:
        return value.encode("latin-1").decode("gb18030", "replace")
    except UnicodeEncodeError:  # characters beyond Latin-1: not read as Latin-1
        return None


def garbled_fields(frame: pd.DataFrame) -> list[GarbledField]:
    """The frame's text fields that look like GBK/GB18030 read as Latin-1."""
    found = []
    for name in frame.columns:
        values = frame[name]
        if name == "geometry" or not (
            pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)
        ):
            continue
        accented = suspect_rows(values)
        if accented.size == 0:
            continue
        meant = [garbled(values.iloc[i]) for i in accented]
        rows = [int(i) for i, m in zip(accented, meant, strict=True) if m is not None]
        if rows and len(rows) >= SHARE_OF_ACCENTED * accented.size:
            decoded = next(m for m in meant if m is not None)
            example = values.iloc[rows[0]]
            found.append(
                GarbledField(str(name), rows, example, None if REPLACEMENT in decoded else decoded)
            )
    return found


def suspect_rows(values: pd.Series) -> np.ndarray:
    """Positions of the text values holding a run of U+0080–U+00FF or a U+FFFD, all at once."""
    if not pd.api.types.is_object_dtype(values):  # pandas text: one vectorised search
        return np.flatnonzero(values.str.contains(SUSPECT.pattern, na=False).to_numpy(bool))
    cells = values.to_numpy()
    text = [value if isinstance(value, str) else "" for value in cells]
    if not SUSPECT.search("\n".join(text)):  # one scan of the whole column, the usual answer
        return np.zeros(0, np.intp)
    return np.flatnonzero([SUSPECT.search(value) is not None for value in text])
