"""The location-code scheme of street-furniture plates (路灯贴牌): road + pole number + side + check.

A plate code reads ``<road>-<pole>-<side>-<check>``, e.g. ``XFDL-012-L-7``:

``road``
    1–8 letters or digits naming one named road of the city. Its stem is the road name's
    initials: for a Chinese name the first letter of each syllable's pinyin (兴福东路 →
    ``XFDL``, letters and digits in the name kept), for any other name the first letter of
    each word with numbers kept whole (West 42nd Street → ``W42S``; a single word gives its
    first three letters: Broadway → ``BRO``); at most 6 characters. Names that end on the same
    stem are told apart by a sequence number (``XFDL``, ``XFDL2``, ``XFDL3``…) given in the
    order of the names (code point order), so the same roads always get the same codes: a
    reload of the same data keeps every code. ``assign_road_codes`` does it.
``pole``
    the pole's number along the road, at least 3 digits (``001``…``999``, then ``1000``…).
``side``
    ``L`` or ``R``: the side of the road, looking along the direction the poles are numbered.
``check``
    one character ``0-9A-Z`` computed over ``road + pole + side`` (separators left out) with
    ISO/IEC 7064 MOD 37,36 (a hybrid system; ``stdnum.iso7064.mod_37_36`` from the
    ``python-stdnum`` package): every single-character substitution is caught (a misread
    digit or letter gives "check character does not match" rather than another plate), and
    nearly all swaps of two neighbouring characters (99.7 % of them in the tests).

Codes are read forgivingly: case, full-width forms, and spaces instead of hyphens do not
matter (``xfdl 012 l 7`` is ``XFDL-012-L-7``); the separators themselves are required, since
a road code may end on digits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from stdnum.iso7064 import mod_37_36

from spatial.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""The characters of road codes and check characters (MOD 37,36's alphabet)."""
SIDES = ("L", "R")
STEM_LENGTH = 6
ROAD_CODE_LENGTH = 8
POLE_DIGITS = 3
MAX_POLE = 9999
CODE_PATTERN = re.compile(r"^([A-Z0-9]{1,8})[-\s]+(\d{3,4})[-\s]+([LR])[-\s]+([0-9A-Z])$")
"""A plate code once folded (upper case, half-width); separators: hyphens or spaces."""
LOOKS_LIKE = re.compile(r"^[A-Za-z0-9]{1,8}[-\s]+\d{3,4}[-\s]+[A-Za-z][-\s]+[A-Za-z0-9]$")
"""What a caller meant as a plate code, even with a wrong side letter (the check decides)."""
_WORD = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class PlateCode:
    """One plate code taken apart."""

    road: str
    pole: int
    side: str
    check: str

    @property
    def body(self) -> str:
        """What the check character is computed over: 'XFDL012L'."""
        return f"{self.road}{self.pole:0{POLE_DIGITS}d}{self.side}"

    @property
    def text(self) -> str:
        """The code as printed on the plate: 'XFDL-012-L-7'."""
        return f"{self.road}-{self.pole:0{POLE_DIGITS}d}-{self.side}-{self.check}"

    @property
    def valid(self) -> bool:
        """Whether the check character matches the rest."""
        return check_character(self.body) == self.check


def check_character(body: str) -> str:
    """The MOD 37,36 check character of 'XFDL012L' (letters and digits only)."""
    return str(mod_37_36.calc_check_digit(body, alphabet=ALPHABET))


def plate_code(road: str, pole: int, side: str) -> str:
    """'XFDL', 12, 'L' → 'XFDL-012-L-7'."""
    check_parts(road, pole, side)
    body = f"{road}{pole:0{POLE_DIGITS}d}{side}"
    return PlateCode(road, pole, side, check_character(body)).text


def check_parts(road: str, pole: int, side: str) -> None:
    """InvalidInput unless road, pole and side fit the scheme."""
    if not re.fullmatch(r"[A-Z0-9]{1,8}", road):
        raise InvalidInput(f"road code {road!r} must be 1-{ROAD_CODE_LENGTH} letters A-Z or digits")
    if not 1 <= int(pole) <= MAX_POLE:
        raise InvalidInput(f"pole number {pole} must be between 1 and {MAX_POLE}")
    if side not in SIDES:
        raise InvalidInput(f"side {side!r} must be L or R")


def folded(text: str) -> str:
    """Half-width, upper case, stripped: 'ｘｆｄｌ－０１２' → 'XFDL-012'."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def looks_like_plate_code(text: str) -> bool:
    """Whether the text is written in the shape of a plate code (right or wrong check)."""
    return bool(LOOKS_LIKE.match(folded(text)))


def parse_plate_code(text: str) -> PlateCode:
    """The code taken apart (its check not yet verified); InvalidInput when it has another shape."""
    match = CODE_PATTERN.match(folded(text))
    if match is None:
        raise InvalidInput(
            f"{text!r} is not a plate code: write <road>-<pole, 3 digits>-<L|R>-<check>, e.g. XFDL-012-L-7"
        )
    road, pole, side, check = match.groups()
    if int(pole) < 1:
        raise InvalidInput(f"{text!r}: pole numbers start at 001")
    return PlateCode(road, int(pole), side, check)


def single_substitutions(code: PlateCode) -> list[PlateCode]:
    """Every valid code one character away from ``code`` (a misread character), in text order.

    Each character of road, pole, side and check is tried with every other character its
    place allows, the rest kept as written; exactly the valid results are kept.
    """
    road, pole, side, check = code.road, f"{code.pole:0{POLE_DIGITS}d}", code.side, code.check
    tried: list[PlateCode] = []
    for i in range(len(road)):
        tried += [PlateCode(road[:i] + ch + road[i + 1 :], code.pole, side, check)
                  for ch in ALPHABET if ch != road[i]]  # fmt: skip
    for i in range(len(pole)):
        numbers = (int(pole[:i] + ch + pole[i + 1 :]) for ch in "0123456789" if ch != pole[i])
        tried += [PlateCode(road, n, side, check) for n in numbers if n >= 1]
    tried += [PlateCode(road, code.pole, other, check) for other in SIDES if other != side]
    tried += [PlateCode(road, code.pole, side, ch) for ch in ALPHABET if ch != check]
    return [c for c in tried if c.valid]


# ---------------------------------------------------------------------------------- road codes
def road_stem(name: str) -> str:
    """The initials of a road name: 兴福东路 → 'XFDL', West 42nd Street → 'W42S', Broadway → 'BRO'."""
    name = unicodedata.normalize("NFKC", name).strip()
    if re.search(r"[\u3400-\u9fff]", name):
        from pypinyin import Style, lazy_pinyin

        parts = lazy_pinyin(name, style=Style.FIRST_LETTER, errors="default")
        stem = "".join(ch for part in parts for ch in _ascii_initials(part))
    else:
        words = _WORD.findall(_ascii(name))
        if len(words) == 1 and not words[0].isdigit():
            stem = words[0][:3]
        else:
            stem = "".join(_initial(word) for word in words)
    stem = stem.upper()[:STEM_LENGTH]
    return stem or "R"


def _initial(word: str) -> str:
    """A word's initial, or a number's digits ('42nd' → '42')."""
    digits = re.match(r"\d+", word)
    return digits.group(0) if digits else word[0]


def _ascii_initials(part: str) -> str:
    """The letters and digits of one pinyin part ('x'), or of a non-Chinese run ('1', 'A')."""
    return "".join(ch for ch in _ascii(part) if ch.isalnum())


def _ascii(text: str) -> str:
    """Latin letters without accents (Nuñez → Nunez); other scripts dropped."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii())


def assign_road_codes(names: Iterable[str]) -> dict[str, str]:
    """A unique road code for each distinct name, stable for the same set of names.

    Names are taken in code-point order; the first with a stem gets the stem, the next ones
    the stem and a sequence number (2, 3, …), skipping codes already given.
    """
    codes: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted({n for n in names if n and n.strip()}):
        stem = road_stem(name)
        candidate, number = stem, 1
        while candidate in taken:
            number += 1
            suffix = str(number)
            candidate = stem[: ROAD_CODE_LENGTH - len(suffix)] + suffix
        taken.add(candidate)
        codes[name] = candidate
    return codes
