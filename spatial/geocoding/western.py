"""Western addresses: house number, street, unit, city, state and postcode, with or without commas.

``333 W 17th St Apt 4B, New York, NY 10011`` → number 333, street w 17 st, unit 4b, city
new york, state ny, postcode 10011. Written by hand (rules, no trained model): a postcode is a
trailing 5-digit group, a state a trailing two-letter code, a unit follows a designator (Apt,
Suite, #…), the number leads the street, and without commas the street ends at its last
street-type word; when it has none (Broadway New York) the matcher tries each shorter start.
"""

from __future__ import annotations

import re

from spatial.geocoding.english import DIRECTIONS, is_street_type, street_key, words
from spatial.geocoding.parsed import ParsedAddress
from spatial.geocoding.text import fold

US_STATES = frozenset({
    "al", "ak", "az", "ar", "ca", "co", "ct", "de", "dc", "fl", "ga", "hi", "id", "il", "in", "ia",
    "ks", "ky", "la", "me", "md", "ma", "mi", "mn", "ms", "mo", "mt", "ne", "nv", "nh", "nj", "nm",
    "ny", "nc", "nd", "oh", "ok", "or", "pa", "ri", "sc", "sd", "tn", "tx", "ut", "vt", "va", "wa",
    "wv", "wi", "wy", "pr",
})  # fmt: skip
UNIT_WORDS = frozenset({
    "apt", "apartment", "unit", "ste", "suite", "#", "fl", "floor", "rm", "room", "dept", "office",
    "lot", "spc", "space", "ph", "penthouse",
})  # fmt: skip
BUILDING_WORDS = frozenset({"building", "bldg", "bld"})
_NUMBER = re.compile(r"^\d+[a-z]?$|^\d+-\d+[a-z]?$")
_POSTCODE = re.compile(r"^\d{5}(?:-\d{4})?$")
_FRACTION = re.compile(r"^\d/\d$")
_ORDINAL = re.compile(r"^\d+(?:st|nd|rd|th)$")


def parse_western(text: str) -> ParsedAddress:
    """Take a Western address apart.

    >>> p = parse_western("333 W 17th St Apt 4B, New York, NY 10011")
    >>> p.number, p.road, p.road_keys, p.unit, p.city, p.state, p.postcode
    ('333', 'w 17th st', ['w 17 st'], '4b', 'new york', 'ny', '10011')
    """
    parts = [words(fold(part)) for part in text.replace("#", " # ").split(",")]
    parts = [part for part in parts if part]
    parsed = ParsedAddress(lang="en", text=" ".join(" ".join(part) for part in parts))
    if not parts:
        return parsed
    take_postcode_and_state(parsed, parts)
    parts = [take_units(parsed, part) for part in parts]
    parts = [part for part in parts if part]
    street_at = next((i for i, part in enumerate(parts) if _NUMBER.match(part[0])), None)
    if street_at is None:
        parsed.name = " ".join(" ".join(part) for part in parts)
        parsed.context = parsed.name
        street_at = 0
        street = parts[0]
    else:
        street = take_number(parsed, parts[street_at])
    street, locality = split_locality(street)
    others = [" ".join(part) for i, part in enumerate(parts) if i != street_at]
    parsed.city = " ".join(locality) or (others[0] if others else None)
    parsed.context = " ".join([*locality, *others])
    if street:
        parsed.road = " ".join(street)
        parsed.road_keys = street_prefixes(street) if not has_type(street) else [street_key(parsed.road)]
    return parsed


def take_postcode_and_state(parsed: ParsedAddress, parts: list[list[str]]) -> None:
    """Remove a trailing postcode and state code from the last part(s)."""
    last = parts[-1]
    if len(parts) > 1 or len(last) > 2:
        if last and _POSTCODE.match(last[-1]):
            parsed.postcode = last.pop()
        if last and last[-1] in US_STATES and (len(parts) > 1 or len(last) > 2):
            parsed.state = last.pop()
    if not last:
        parts.pop()


def take_units(parsed: ParsedAddress, part: list[str]) -> list[str]:
    """Remove unit and building designators with their values (Apt 4B, # 12, 3rd Floor, Bldg 2)."""
    kept: list[str] = []
    i = 0
    while i < len(part):
        word = part[i]
        value = part[i + 1] if i + 1 < len(part) else None
        if word in ("fl", "floor") and kept and _ORDINAL.match(kept[-1]) and value is None:
            parsed.unit = f"{kept.pop()} floor"
            i += 1
            continue
        if word in UNIT_WORDS | BUILDING_WORDS and value is not None:
            target = "building" if word in BUILDING_WORDS else "unit"
            setattr(parsed, target, value.lstrip("#"))
            i += 2
            continue
        kept.append(word)
        i += 1
    return kept


def take_number(parsed: ParsedAddress, part: list[str]) -> list[str]:
    """Remove the leading house number (with a trailing fraction: 100 1/2)."""
    number, rest = part[0], part[1:]
    if rest and _FRACTION.match(rest[0]):
        number, rest = f"{number} {rest[0]}", rest[1:]
    parsed.number = number
    parsed.number_int = int(re.match(r"\d+", number).group(0))  # type: ignore[union-attr]
    return rest


def has_type(street: list[str]) -> bool:
    """Whether a street-type word (St, Ave…) ends the street (before a trailing direction)."""
    return any(i > 0 and is_street_type(word) for i, word in enumerate(street))


def split_locality(street: list[str]) -> tuple[list[str], list[str]]:
    """Street words up to the last street type (and a direction after it); the rest is locality."""
    cut = None
    for i, word in enumerate(street):
        if i > 0 and is_street_type(word):
            cut = i + 1
    if cut is None:
        return street, []
    if cut < len(street) and street[cut] in DIRECTIONS:
        cut += 1
    return street[:cut], street[cut:]


def street_prefixes(street: list[str]) -> list[str]:
    """Keys of the street and each shorter start of it, longest first (Broadway New York…)."""
    return [street_key(" ".join(street[:n])) for n in range(len(street), 0, -1)]
