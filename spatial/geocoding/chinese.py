"""Chinese addresses written without spaces, taken apart by their level words (GB/T 23705).

省/自治区 → 市 → 区/县/旗 → 街道/镇/乡 → 社区/村 → 路/街/巷/大道… → 号 → 栋/幢/座/号楼 → 单元 → 层 → 室.
The house number (``88号``) anchors the parse: the road is what precedes it, down to the last
road word; what follows is building, unit, floor and room. Divisions before the road are read
by their level words where present; when a level word is missing (明德兴福路88号) the road keys
offered to the matcher include every shorter ending of the road text (德兴福路, 兴福路), so the
road is still found and the leftover text is kept as context.
"""

from __future__ import annotations

import re
from functools import lru_cache

from spatial.geocoding.parsed import ParsedAddress
from spatial.geocoding.text import fold, squeeze

ROAD_WORDS = ("大道", "大街", "胡同", "路", "街", "巷", "弄", "道", "里")
MAX_ROAD_CHARS = 14
NOISE_PREFIXES = ("地址是", "地址为", "地址", "位于", "位置", "我家在", "我在", "就在", "在")
NOISE_SUFFIXES = ("附近", "旁边", "对面", "门口", "周边", "一带", "楼下", "院内", "路口", "东侧",
                  "西侧", "南侧", "北侧", "里面", "处", "这里", "那里")  # fmt: skip

_PLATE = re.compile(r"(\d+)(?:-(\d+))?(?:号|#)(?!楼|院)")
_SHORTHAND = re.compile(r"^(\d+)-(\d+)-(\d+)")  # 3-2-201: building 3, unit 2, room 201
_TAIL = (
    ("building", re.compile(r"^(?:第)?(\d+|[a-z])(?:号楼|栋|座|楼|#楼|号院)")),
    ("unit", re.compile(r"^(?:第)?(\d+)(?:单元|门)")),
    ("floor", re.compile(r"^(\d+)(?:层|楼)")),
    ("room", re.compile(r"^(\d+)(?:室|房|户|号)?")),
)
_ADMIN = (
    ("province", re.compile(r"^(.{2,7}?(?:省|自治区|特别行政区))")),
    ("city", re.compile(r"^(.{2,7}?(?:市|自治州|地区|盟))")),
    ("district", re.compile(r"^(.{1,7}?(?:区|县|旗))(?!路|街|巷|大道)")),
    ("subdistrict", re.compile(r"^(.{2,7}?(?:街道|镇|乡))")),
    ("community", re.compile(r"^(.{2,7}?(?:社区|村))(?!路|街|巷)")),
)


def parse_chinese(text: str) -> ParsedAddress:
    """Take a Chinese address apart.

    >>> p = parse_chinese("陕西省西安市明德区兴福路八十八号三栋二单元")
    >>> p.district, p.road, p.number, p.building, p.unit
    ('明德区', '兴福路', '88', '3', '2')
    """
    folded = strip_noise(squeeze(fold(text)))
    parsed = ParsedAddress(lang="zh", text=folded)
    plate = _plate_match(folded)
    if plate is not None:
        head, tail = folded[: plate.start()], folded[plate.end() :]
        parsed.number = plate.group(1) + (f"-{plate.group(2)}" if plate.group(2) else "")
        parsed.number_int = int(plate.group(1))
        read_tail(parsed, tail)
    else:
        head = road_head(folded)
    remainder = read_divisions(parsed, head)
    if remainder:
        parsed.road = remainder
        parsed.road_keys = road_endings(remainder)
    parsed.context = head
    if plate is None:
        parsed.name = folded
    return parsed


def strip_noise(text: str) -> str:
    """Drop words people put around an address (地址：…, …附近)."""
    for prefix in NOISE_PREFIXES:
        if text.startswith(prefix) and len(text) > len(prefix) + 1:
            text = text[len(prefix) :]
            break
    changed = True
    while changed:
        changed = False
        for suffix in NOISE_SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix) + 1:
                text, changed = text[: -len(suffix)], True
    return text


def _plate_match(text: str) -> re.Match[str] | None:
    """The house-number match: the first one right after a road word, else the first one."""
    matches = list(_PLATE.finditer(text))
    for match in matches:
        if text[: match.start()].endswith(ROAD_WORDS):
            return match
    return matches[0] if matches else None


def read_tail(parsed: ParsedAddress, tail: str) -> None:
    """Building, unit, floor and room after the house number (3栋2单元201室, 3-2-201)."""
    shorthand = _SHORTHAND.match(tail)
    if shorthand:
        parsed.building, parsed.unit, parsed.room = shorthand.groups()
        return
    for part, pattern in _TAIL:
        match = pattern.match(tail)
        if not match or not match.group(0):
            continue
        if part != "floor":
            setattr(parsed, part, match.group(1))
        tail = tail[match.end() :]


def road_head(text: str) -> str:
    """Text up to the last road word (兴福路附近的小区 → 兴福路), or all of it when there is none."""
    best = -1
    for word in ROAD_WORDS:
        at = text.rfind(word)
        while at >= 0 and _in_jiedao(text, at):  # 街道 is a subdistrict, not a road
            at = text.rfind(word, 0, at)
        if at >= 0:
            best = max(best, at + len(word))
    return text[:best] if best > 0 else ""


def _in_jiedao(text: str, at: int) -> bool:
    """Whether the character at ``at`` belongs to the word 街道."""
    return text[at : at + 2] == "街道" or (at > 0 and text[at - 1 : at + 1] == "街道")


def read_divisions(parsed: ParsedAddress, head: str) -> str:
    """Fill the division levels found at the start of ``head``; return the rest (the road)."""
    rest = head
    for level, pattern in _ADMIN:
        match = pattern.match(rest)
        if match and len(rest) > match.end():
            setattr(parsed, level, match.group(1))
            rest = rest[match.end() :]
    return rest


def road_endings(road: str) -> list[str]:
    """Road keys to try, longest first: the road text and each shorter ending of three or more."""
    endings = [road[i:] for i in range(max(0, len(road) - MAX_ROAD_CHARS), len(road) - 2)]
    return endings or [road]


@lru_cache(maxsize=16384)
def pinyin_key(name: str) -> str:
    """How a name sounds, tones dropped (隆明路 and 隆鸣路 → long ming lu): homophone slips."""
    from pypinyin import lazy_pinyin  # imported on the fuzzy path only

    return " ".join(lazy_pinyin(name, errors="default"))


def zh_key(name: str) -> str:
    """The search form of a Chinese name: folded, no spaces (興福路 → 兴福路, 槐塘一巷 → 槐塘1巷)."""
    return squeeze(fold(name))
