"""Western street names in one canonical form: West 17th Street, W 17 St and w. seventeenth st all
become ``w 17 st``.

Street types follow the USPS Publication 28 abbreviations (Street → st, Avenue → ave…), compass
words become letters, ordinals and spelt-out numbers become digits, and a misspelt street type
(Stret, Avene, Srteet) or a misspelt leading direction (Wset) is corrected when it is one
edit (or one swap of neighbours) away from a known one. The index and the parser
both call ``street_key``, so stored names and queries meet in the same form.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz.distance import OSA

STREET_TYPES = {
    "st": ("street", "str", "strt", "st"),
    "ave": ("avenue", "av", "ave", "aven", "avenu", "avn", "avnue"),
    "blvd": ("boulevard", "boul", "boulv", "blvd"),
    "pl": ("place", "pl"),
    "plz": ("plaza", "plza", "plz"),
    "sq": ("square", "sqr", "sq"),
    "dr": ("drive", "drv", "driv", "dr"),
    "rd": ("road", "rd"),
    "ln": ("lane", "ln"),
    "ct": ("court", "crt", "ct"),
    "ter": ("terrace", "terr", "ter"),
    "pkwy": ("parkway", "parkwy", "pkway", "pky", "pkwy"),
    "hwy": ("highway", "hiway", "hwy"),
    "aly": ("alley", "allee", "ally", "aly"),
    "cir": ("circle", "circ", "crcl", "cir"),
    "expy": ("expressway", "expw", "expy"),
    "fwy": ("freeway", "frwy", "fwy"),
    "trl": ("trail", "trl"),
    "way": ("way", "wy"),
    "row": ("row",),
    "slip": ("slip",),
    "walk": ("walk",),
    "loop": ("loop",),
    "pier": ("pier", "piers"),
    "cres": ("crescent", "cres"),
    "hts": ("heights", "hts"),
    "yds": ("yards", "yds"),
    "grn": ("green", "grn"),
    "gdns": ("gardens", "gdns"),
    "xing": ("crossing", "xing"),
}
DIRECTIONS = {
    "north": "n", "south": "s", "east": "e", "west": "w",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
    "n": "n", "s": "s", "e": "e", "w": "w", "ne": "ne", "nw": "nw", "se": "se", "sw": "sw",
}  # fmt: skip
SPELT_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20,
}  # fmt: skip
OTHER_WORDS = {"saint": "st", "mount": "mt", "fort": "ft", "and": "&"}

TYPE_OF = {variant: canonical for canonical, variants in STREET_TYPES.items() for variant in variants}
# types a misspelling is corrected to (rarer ones are too close to real names: Greene, Allen)
TYPO_TARGETS = ("street", "avenue", "boulevard", "place", "plaza", "square", "drive", "court",
                "terrace", "parkway", "highway")  # fmt: skip
_ORDINAL = re.compile(r"^(\d+)(st|nd|rd|th)$")
_WORD = re.compile(r"[a-z0-9&#/-]+")


def words(text: str) -> list[str]:
    """Lower-case words of a folded text (letters, digits, & and / kept)."""
    return _WORD.findall(text.lower())


@lru_cache(maxsize=4096)
def street_type(word: str) -> str | None:
    """Canonical type of a street-type word, tolerating one typo in long ones (Stret → st)."""
    if word in TYPE_OF:
        return TYPE_OF[word]
    if len(word) < 4 or not word.isalpha():
        return None
    for full in TYPO_TARGETS:
        if abs(len(full) - len(word)) <= 1 and OSA.distance(word, full, score_cutoff=1) <= 1:
            return TYPE_OF[full]
    return None


@lru_cache(maxsize=4096)
def misspelt_direction(word: str) -> str | None:
    """A compass word with one slip (Wset, Easst, Noth) → its letter; None otherwise.

    Ambiguous slips (ewst is one edit from both east and west) stay unresolved: the fuzzy
    match and the postcode decide then.
    """
    if len(word) < 4 or not word.isalpha():
        return None
    near = [full for full in ("north", "south", "east", "west")
            if abs(len(full) - len(word)) <= 1 and OSA.distance(word, full, score_cutoff=1) <= 1]  # fmt: skip
    return DIRECTIONS[near[0]] if len(near) == 1 else None


def canonical_word(word: str, *, position: int, count: int, type_slot: bool) -> str:
    """One word of a street name in canonical form (type, direction, number).

    ``type_slot``: the word stands where a type is expected (last, or before a last direction),
    so a misspelt type is corrected there.
    """
    ordinal = _ORDINAL.match(word)
    if ordinal:
        return ordinal.group(1)
    if word in SPELT_ORDINALS:
        return str(SPELT_ORDINALS[word])
    if word in DIRECTIONS and count > 1:
        return DIRECTIONS[word]
    if position in (0, count - 1) and count > 2 and (direction := misspelt_direction(word)):
        return direction
    if word in OTHER_WORDS:
        return OTHER_WORDS[word]
    kind = street_type(word) if type_slot and position > 0 else TYPE_OF.get(word)
    return kind or word


def street_key(name: str) -> str:
    """The canonical search form of a street name.

    >>> street_key("West 17th Street"), street_key("W. 17 St"), street_key("west seventeenth stret")
    ('w 17 st', 'w 17 st', 'w 17 st')
    >>> street_key("Avenue of the Americas"), street_key("Broadway")
    ('ave of the americas', 'broadway')
    """
    tokens = [w for w in words(name.replace(".", " ")) if w != "#"]
    last = len(tokens) - 1
    if last > 0 and tokens[last] in DIRECTIONS:
        last -= 1
    return " ".join(
        canonical_word(word, position=i, count=len(tokens), type_slot=i == last)
        for i, word in enumerate(tokens)
    )


def without_type(key: str) -> str:
    """A street key without its type words (w 17 st → w 17, madison ave → madison)."""
    return " ".join(word for word in key.split() if word not in STREET_TYPES)


def is_street_type(word: str) -> bool:
    """Whether a (canonical or raw) word names a street type."""
    return word in STREET_TYPES or street_type(word) is not None
