"""Evaluation sets for the geocoder: real addresses, perturbed the way people write them.

Western (from address points such as the NYC OSM extract): drop the postcode, abbreviate or
expand the street type and the direction, a typo in a street word, upper or lower case, drop
the unit. Chinese (from door plates such as the demo city's): drop levels (province, city,
district or its 区), Chinese numerals (八十八号, 三栋), traditional/variant characters, extra
words around the address. Every query gets two perturbations drawn with a seeded generator,
and ``accuracy`` scores top-1 answers within a distance of the truth.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from spatial.geocoding.numerals import chinese_numeral

WITHIN_M = 50.0
TYPE_SWAPS = {"Street": "St", "Avenue": "Ave", "Place": "Pl", "Boulevard": "Blvd", "Plaza": "Plz",
              "Square": "Sq", "Drive": "Dr", "Road": "Rd", "Lane": "Ln", "Court": "Ct"}  # fmt: skip
DIRECTION_SWAPS = {"West": "W", "East": "E", "North": "N", "South": "S"}
EXTRA_BEFORE = ("地址：", "我在", "投诉：", "位于", "市民反映")
EXTRA_AFTER = ("附近", "门口", "对面", "旁边有垃圾", "楼下")


@dataclass(frozen=True)
class Case:
    """One evaluation query: the text, the true point and which perturbations made it."""

    query: str
    lon: float
    lat: float
    perturbations: tuple[str, ...]


# ------------------------------------------------------------------------------- Western
def western_query(number: str, street: str, unit: str, postcode: str) -> str:
    """The clean form: '333 West 17th Street Apt 4, New York, NY 10011'."""
    unit_part = f" Apt {unit}" if unit else ""
    return f"{number} {street}{unit_part}, New York, NY {postcode}".strip()


def western_perturbations(rng: random.Random) -> dict[str, Callable[[dict[str, str]], None]]:
    """Perturbations of a Western address's parts (each edits the dict in place)."""

    def drop_postcode(parts: dict[str, str]) -> None:
        parts["postcode"] = ""

    def swap_type(parts: dict[str, str]) -> None:
        parts["street"] = _swap_words(parts["street"], TYPE_SWAPS)

    def swap_direction(parts: dict[str, str]) -> None:
        parts["street"] = _swap_words(parts["street"], DIRECTION_SWAPS)

    def typo(parts: dict[str, str]) -> None:
        parts["street"] = typo_in_words(parts["street"], rng)

    def case(parts: dict[str, str]) -> None:
        parts["case"] = rng.choice(("upper", "lower"))

    def drop_unit(parts: dict[str, str]) -> None:
        parts["unit"] = ""

    return {"drop_postcode": drop_postcode, "suffix": swap_type, "direction": swap_direction,
            "typo": typo, "case": case, "drop_unit": drop_unit}  # fmt: skip


def western_cases(rows: Sequence[dict[str, str]], *, seed: int = 7, per_query: int = 2) -> list[Case]:
    """Perturbed queries of address rows (housenumber, street, unit, postcode, lon, lat)."""
    rng = random.Random(seed)
    perturb = western_perturbations(rng)
    cases = []
    for row in rows:
        parts = {"number": row["housenumber"], "street": row["street"], "unit": row.get("unit", ""),
                 "postcode": row.get("postcode", ""), "case": ""}  # fmt: skip
        names = tuple(rng.sample(sorted(perturb), per_query))
        for name in names:
            perturb[name](parts)
        query = western_query(parts["number"], parts["street"], parts["unit"], parts["postcode"])
        query = query.upper() if parts["case"] == "upper" else query.lower() if parts["case"] else query
        cases.append(Case(query, float(row["lon"]), float(row["lat"]), names))
    return cases


def _swap_words(text: str, table: dict[str, str]) -> str:
    """Abbreviate full words of ``table`` or expand their abbreviations."""
    reverse = {v: k for k, v in table.items()}
    words = text.split()
    return " ".join(table.get(w, reverse.get(w, w)) for w in words)


def typo_in_words(text: str, rng: random.Random) -> str:
    """One slip (drop, double, swap or replace a letter) in a word of four or more letters."""
    words = text.split()
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 4]
    if not candidates:
        return text
    i = rng.choice(candidates)
    word = words[i]
    at = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("drop", "double", "swap", "replace"))
    if kind == "drop":
        word = word[:at] + word[at + 1 :]
    elif kind == "double":
        word = word[:at] + word[at] + word[at:]
    elif kind == "swap":
        word = word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]
    else:
        word = word[:at] + rng.choice("aeiourstnl") + word[at + 1 :]
    words[i] = word
    return " ".join(words)


# ------------------------------------------------------------------------------- Chinese
_PLATE = re.compile(r"(\d+)号")
_BUILDING = re.compile(r"(\d+)栋")
_UNIT = re.compile(r"(\d+)单元")


def chinese_perturbations(
    rng: random.Random, district_names: Sequence[str]
) -> dict[str, Callable[[str], str]]:
    """Perturbations of a full Chinese address."""
    from opencc import OpenCC

    traditional = OpenCC("s2t")

    def drop_levels(text: str) -> str:
        choice = rng.choice(("province", "province_city", "district", "district_suffix"))
        text = text.replace("陕西省", "", 1)
        if choice != "province":
            text = text.replace("西安市", "", 1)
        for name in district_names:
            if name in text and choice == "district":
                text = text.replace(name, "", 1)
            elif name in text and choice == "district_suffix":
                text = text.replace(name, name.removesuffix("区"), 1)
        return text

    def numerals(text: str) -> str:
        text = _PLATE.sub(lambda m: chinese_numeral(int(m.group(1))) + "号", text)
        text = _BUILDING.sub(lambda m: chinese_numeral(int(m.group(1))) + rng.choice(("栋", "幢")), text)
        return _UNIT.sub(lambda m: chinese_numeral(int(m.group(1))) + "单元", text)

    def variants(text: str) -> str:
        text = str(traditional.convert(text))
        return text.replace("棟", rng.choice(("幢", "號樓", "棟")))

    def extra_words(text: str) -> str:
        spaced = text if rng.random() < 0.5 else text.replace("市", "市 ").replace("区", "区 ")
        return rng.choice(EXTRA_BEFORE) + spaced + rng.choice(EXTRA_AFTER)

    def full_width(text: str) -> str:
        return "".join(chr(ord(ch) + 0xFEE0) if ch.isascii() and ch.isdigit() else ch for ch in text)

    return {"missing_levels": drop_levels, "numerals": numerals, "variants": variants,
            "extra_words": extra_words, "full_width": full_width}  # fmt: skip


def chinese_cases(
    rows: Sequence[tuple[str, float, float]],
    district_names: Sequence[str],
    *,
    seed: int = 11,
    per_query: int = 2,
) -> list[Case]:
    """Perturbed queries of (full_zh, lon, lat) door plates; numerals before variants."""
    rng = random.Random(seed)
    perturb = chinese_perturbations(rng, district_names)
    order = list(perturb)
    cases = []
    for full, lon, lat in rows:
        names = sorted(rng.sample(order, per_query), key=order.index)
        text = full
        for name in names:
            text = perturb[name](text)
        cases.append(Case(text, lon, lat, tuple(names)))
    return cases


# ------------------------------------------------------------------------------- scoring
def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000.0 * math.asin(math.sqrt(a))


def accuracy(
    cases: Sequence[Case], answers: Sequence[tuple[float, float] | None], within_m: float = WITHIN_M
) -> float:
    """Share of cases whose top-1 answer lies within ``within_m`` of the truth."""
    if not cases:
        return float("nan")
    hits = sum(
        1 for case, answer in zip(cases, answers, strict=True)
        if answer is not None and metres(case.lon, case.lat, *answer) <= within_m
    )  # fmt: skip
    return hits / len(cases)


def accuracy_by_perturbation(
    cases: Sequence[Case], answers: Sequence[tuple[float, float] | None], within_m: float = WITHIN_M
) -> dict[str, float]:
    """Accuracy of the cases each perturbation took part in."""
    names = sorted({name for case in cases for name in case.perturbations})
    result = {}
    for name in names:
        picked = [(c, a) for c, a in zip(cases, answers, strict=True) if name in c.perturbations]
        result[name] = accuracy([c for c, _ in picked], [a for _, a in picked], within_m)
    return result
