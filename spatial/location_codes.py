"""Location codes for any caller (dispatch, incidents): a plate code or a plus code → a point.

    >>> point = resolve(conn, "XFDL-012-L-7")        # doctest: +SKIP
    >>> point.lon, point.lat, point.label            # doctest: +SKIP

The plate-code scheme is ``spatial.plates.scheme`` (road + pole number + side + ISO 7064
MOD 37,36 check character); plus codes are Open Location Codes (``spatial.plates.plus_codes``,
a short code read near the city's centre). Text that is neither, or a plate code whose check
character does not match, is InvalidInput; a right plate code that no plate carries NotFound.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from spatial.errors import InvalidInput
from spatial.geocoding.codes import code_matches


@dataclass(frozen=True)
class CodedPoint:
    """Where a location code is: lon/lat (WGS84), the code, its kind and a readable label."""

    lon: float
    lat: float
    code: str
    kind: str  # "plate" or "plus_code"
    label: str


def resolve(conn: Connection, text: str) -> CodedPoint:
    """The point a plate code or plus code names (see the module's docstring for the errors)."""
    found = code_matches(conn, text)
    if found is None:
        raise InvalidInput(
            f"{text!r} is neither a plate code (e.g. XFDL-012-L-7) nor a plus code (e.g. 8P6C7W6R+22)"
        )
    match = found[0]
    return CodedPoint(match.lon, match.lat, match.location_code or text, match.level, match.label)
