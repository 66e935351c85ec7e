"""One entry point for both scripts: free text or structured fields → ParsedAddress."""

from __future__ import annotations

import re
from collections.abc import Mapping

from spatial.errors import InvalidInput
from spatial.geocoding.chinese import parse_chinese, read_divisions, road_endings, zh_key
from spatial.geocoding.english import street_key
from spatial.geocoding.parsed import ParsedAddress
from spatial.geocoding.text import check_query, fold, is_chinese
from spatial.geocoding.western import parse_western

STRUCTURED_FIELDS = ("house_number", "street", "building", "unit", "city", "district", "postcode",
                     "state", "name")  # fmt: skip


def parse(text: str) -> ParsedAddress:
    """Parse free text: Chinese when it holds Chinese characters, else Western."""
    text = check_query(text)
    return parse_chinese(text) if is_chinese(text) else parse_western(text)


def parse_structured(fields: Mapping[str, str | None]) -> ParsedAddress:
    """Parse an address given field by field (house_number, street, unit, city, postcode…)."""
    given = {key: check_query(value) for key, value in fields.items() if value not in (None, "")}
    unknown = sorted(set(given) - set(STRUCTURED_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown address fields {unknown}; known: {list(STRUCTURED_FIELDS)}")
    if not given:
        raise InvalidInput("no address given: pass q= or at least one of " + ", ".join(STRUCTURED_FIELDS))
    lang = "zh" if any(is_chinese(value) for value in given.values()) else "en"
    parsed = ParsedAddress(lang=lang, text=" ".join(fold(v) for v in given.values()))
    street = given.get("street")
    if street:
        parsed.road = fold(street)
        if lang == "zh":
            parsed.road = read_divisions(parsed, zh_key(street)) or zh_key(street)
            parsed.road_keys = road_endings(parsed.road)
        else:
            parsed.road_keys = [street_key(street)]
    number = given.get("house_number")
    if number:
        digits = re.search(r"\d+", fold(number))
        if digits is None:
            raise InvalidInput(f"house_number {number!r} has no digits")
        parsed.number = fold(number).replace("号", "").strip()
        parsed.number_int = int(digits.group(0))
    for key in ("building", "unit", "postcode", "state", "city", "district"):
        if given.get(key):
            setattr(parsed, key, fold(given[key]).removesuffix("栋").removesuffix("单元"))
    parsed.context = " ".join(fold(given[k]) for k in ("district", "city", "state") if given.get(k))
    if not parsed.road_keys:
        parsed.name = fold(given.get("name") or given.get("district") or given.get("city") or "")
    return parsed
