"""Open Location Codes (plus codes), through Google's ``openlocationcode`` package.

A full code (``8P6C7W6R+22``) is a place anywhere on Earth; a short code (``7W6R+22``,
with a locality before or after it: ``7W6R+22 Xi'an``, ``西安 7W6R+22``) is recovered to the nearest place with
that code from a reference point, here the current city's centre (the locality is read as
"in this city": the platform serves one city). ``encode`` gives the 10-digit code of a point
(a cell of about 14 m × 14 m at the equator).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from openlocationcode import openlocationcode as olc

from spatial.errors import InvalidInput

CODE_LENGTH = 10
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class PlusCode:
    """A decoded plus code: the full code, its cell's centre and size."""

    code: str
    lon: float
    lat: float
    width_m: float
    height_m: float
    recovered_from: str | None = None
    """The short code (and locality) as written, when the code was recovered from one."""


def split_locality(text: str) -> tuple[str, str]:
    """'7W6R+22 Xi'an' or '西安 7W6R+22' → ('7W6R+22', locality); a code alone → (code, '')."""
    words = text.split()
    coded = [i for i, word in enumerate(words) if "+" in word]
    if not coded:
        return text.strip().upper(), ""
    at = coded[0]
    return words[at].upper(), " ".join(words[:at] + words[at + 1 :])


def looks_like_plus_code(text: str) -> bool:
    """Whether the text starts with a valid plus code (full, or short and then a locality)."""
    code, _ = split_locality(text)
    return "+" in code and bool(olc.isValid(code))


def decode(text: str, *, reference: tuple[float, float] | None) -> PlusCode:
    """The cell a plus code names; a short one is recovered near ``reference`` (lon, lat)."""
    code, locality = split_locality(text)
    if not olc.isValid(code):
        raise InvalidInput(f"{code!r} is not a valid plus code")
    recovered_from = None
    if olc.isShort(code):
        if reference is None:
            raise InvalidInput(
                f"{code} is a short plus code and no city is loaded to read it in: give the full code"
            )
        recovered_from = " ".join(p for p in (code, locality) if p)
        code = olc.recoverNearest(code, reference[1], reference[0])
    elif not olc.isFull(code):
        raise InvalidInput(f"{code!r} is not a full plus code")
    area = olc.decode(code)
    lat = area.latitudeCenter
    width = (area.longitudeHi - area.longitudeLo) * METRES_PER_DEGREE * math.cos(math.radians(lat))
    height = (area.latitudeHi - area.latitudeLo) * METRES_PER_DEGREE
    return PlusCode(code, float(area.longitudeCenter), float(lat), round(width, 2), round(height, 2),
                    recovered_from)  # fmt: skip


def encode(lon: float, lat: float, *, length: int = CODE_LENGTH) -> str:
    """The plus code of a point (10 digits: about 14 m)."""
    return str(olc.encode(lat, lon, length))
