"""Hand-written name tables of the demo city, every Chinese name with its pinyin/English form.

Place-name stems (地名专名) are composed from two morpheme tables, so thousands of unique,
pronounceable stems exist without listing them all; district names, suffixes, departments,
POI patterns and city-component (部件) categories are listed outright. Nothing here is random:
the generator draws from these tables with its own seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Name:
    """A Chinese name and its English (pinyin) form, e.g. 兴福 / Xingfu."""

    zh: str
    en: str


PROVINCE = Name("陕西省", "Shaanxi")
CITY = Name("西安市", "Xi'an")

# Tang Chang'an ward (坊) names, none of them a real district of Xi'an today.
DISTRICT_STEMS = (
    Name("明德", "Mingde"),
    Name("崇仁", "Chongren"),
    Name("宣阳", "Xuanyang"),
    Name("修德", "Xiude"),
    Name("光德", "Guangde"),
    Name("延福", "Yanfu"),
    Name("永乐", "Yongle"),
    Name("安业", "Anye"),
    Name("辅兴", "Fuxing"),
    Name("敦义", "Dunyi"),
    Name("立政", "Lizheng"),
    Name("晋昌", "Jinchang"),
    Name("归义", "Guiyi"),
    Name("平康", "Pingkang"),
)

# Real county-level names around Xi'an a composed stem must never reproduce.
RESERVED_STEMS = frozenset(
    {
        "长安", "新城", "碑林", "莲湖", "灞桥", "未央", "雁塔", "阎良", "临潼", "高陵",
        "鄠邑", "蓝田", "周至", "西安", "咸阳", "宝鸡", "延安", "安康", "汉中", "商洛",
    }
)  # fmt: skip

# First and second morphemes of composed stems (character, pinyin syllable).
FIRST_MORPHEMES = (
    ("槐", "huai"), ("杏", "xing"), ("柳", "liu"), ("桃", "tao"), ("枣", "zao"), ("榆", "yu"),
    ("松", "song"), ("柏", "bai"), ("桑", "sang"), ("桂", "gui"), ("梅", "mei"), ("兰", "lan"),
    ("竹", "zhu"), ("荷", "he"), ("菊", "ju"), ("杨", "yang"), ("枫", "feng"), ("椿", "chun"),
    ("兴", "xing"), ("福", "fu"), ("安", "an"), ("康", "kang"), ("和", "he"), ("平", "ping"),
    ("宁", "ning"), ("泰", "tai"), ("丰", "feng"), ("永", "yong"), ("长", "chang"), ("清", "qing"),
    ("明", "ming"), ("德", "de"), ("文", "wen"), ("华", "hua"), ("锦", "jin"), ("青", "qing"),
    ("龙", "long"), ("凤", "feng"), ("雁", "yan"), ("鹤", "he"), ("金", "jin"), ("玉", "yu"),
    ("石", "shi"), ("新", "xin"), ("广", "guang"), ("崇", "chong"), ("仁", "ren"), ("义", "yi"),
    ("礼", "li"), ("智", "zhi"), ("信", "xin"), ("嘉", "jia"), ("瑞", "rui"), ("祥", "xiang"),
    ("盛", "sheng"), ("昌", "chang"), ("隆", "long"), ("顺", "shun"), ("泽", "ze"), ("润", "run"),
    ("秀", "xiu"), ("翠", "cui"), ("碧", "bi"), ("云", "yun"), ("霞", "xia"), ("春", "chun"),
    ("秋", "qiu"), ("景", "jing"), ("乐", "le"), ("育", "yu"), ("尚", "shang"), ("怀", "huai"),
)  # fmt: skip

SECOND_MORPHEMES = (
    ("芽", "ya"), ("林", "lin"), ("园", "yuan"), ("苑", "yuan"), ("坊", "fang"), ("庄", "zhuang"),
    ("泉", "quan"), ("桥", "qiao"), ("塘", "tang"), ("湾", "wan"), ("坡", "po"), ("源", "yuan"),
    ("兴", "xing"), ("福", "fu"), ("安", "an"), ("康", "kang"), ("宁", "ning"), ("泰", "tai"),
    ("和", "he"), ("丰", "feng"), ("华", "hua"), ("盛", "sheng"), ("新", "xin"), ("明", "ming"),
    ("光", "guang"), ("荣", "rong"), ("景", "jing"), ("乐", "le"), ("阳", "yang"), ("春", "chun"),
    ("山", "shan"), ("川", "chuan"), ("原", "yuan"), ("台", "tai"), ("亭", "ting"), ("门", "men"),
    ("堂", "tang"), ("里", "li"), ("屯", "tun"), ("营", "ying"), ("寨", "zhai"), ("渠", "qu"),
    ("井", "jing"), ("池", "chi"), ("溪", "xi"), ("河", "he"), ("湖", "hu"), ("苗", "miao"),
    ("丘", "qiu"), ("岭", "ling"), ("峰", "feng"), ("韵", "yun"), ("德", "de"), ("仁", "ren"),
    ("远", "yuan"), ("祥", "xiang"), ("瑞", "rui"), ("翔", "xiang"), ("辉", "hui"), ("耀", "yao"),
    ("鸣", "ming"), ("怡", "yi"), ("欣", "xin"), ("悦", "yue"), ("恩", "en"), ("爱", "ai"),
    ("鸿", "hong"), ("海", "hai"),
)  # fmt: skip

# Division suffixes: district (区), subdistrict (街道), community (社区).
DIVISION_SUFFIX = {
    "district": Name("区", "District"),
    "street": Name("街道", "Subdistrict"),
    "community": Name("社区", "Community"),
}

# Road suffixes by kind; arterials are 大道 or 路, secondary roads 路 or 街, lanes 巷.
ROAD_SUFFIX = {
    "avenue": Name("大道", "Avenue"),
    "road": Name("路", "Road"),
    "street": Name("街", "Street"),
    "lane": Name("巷", "Lane"),
}

# Directional parts of a road split at the city centre (兴福东路 Xingfu East Road).
DIRECTION = {
    "east": Name("东", "East"),
    "west": Name("西", "West"),
    "south": Name("南", "South"),
    "north": Name("北", "North"),
}

# The departments the demo city's layers belong to (code, name).
DEPARTMENTS = {
    "planning": Name("自然资源和规划局", "Natural Resources and Planning Bureau"),
    "emergency": Name("应急管理局", "Emergency Management Bureau"),
    "environment": Name("生态环境局", "Ecology and Environment Bureau"),
    "urban": Name("城市管理局", "Urban Management Bureau"),
}

# POI name patterns: {stem}/{Stem} is a composed stem, {district}/{District}, {street}/{Street},
# {community}/{Community} are division names without suffix, {road}/{Road} and {cross}/{Cross}
# are full road names.
POI_PATTERNS: dict[str, tuple[Name, ...]] = {
    "government": (Name("{district}区人民政府", "{District} District People's Government"),),
    "street_office": (Name("{street}街道办事处", "{Street} Subdistrict Office"),),
    "community_committee": (
        Name("{community}社区居民委员会", "{Community} Community Residents' Committee"),
    ),
    "police": (Name("{street}派出所", "{Street} Police Station"),),
    "primary_school": (Name("{stem}小学", "{Stem} Primary School"),),
    "middle_school": (Name("{stem}中学", "{Stem} Middle School"),),
    "kindergarten": (Name("{stem}幼儿园", "{Stem} Kindergarten"),),
    "clinic": (Name("{community}社区卫生服务站", "{Community} Community Health Station"),),
    "hospital": (
        Name("{district}区人民医院", "{District} District People's Hospital"),
        Name("{stem}中心医院", "{Stem} Central Hospital"),
        Name("{stem}中医医院", "{Stem} Hospital of Traditional Chinese Medicine"),
    ),
    "park": (Name("{stem}公园", "{Stem} Park"),),
    "market": (Name("{stem}农贸市场", "{Stem} Farmers' Market"),),
    "supermarket": (Name("{stem}超市", "{Stem} Supermarket"),),
    "bank": (Name("秦川银行{stem}支行", "Qinchuan Bank {Stem} Sub-branch"),),
    "bus_stop": (Name("{road}{cross}口", "{Road} & {Cross}"),),
    "culture": (Name("{stem}文化中心", "{Stem} Cultural Centre"),),
}

# Aliases (又名) for POI categories, same placeholders as POI_PATTERNS.
POI_ALIASES: dict[str, tuple[str, ...]] = {
    "government": ("{district}区政府",),
    "street_office": ("{street}街办",),
    "community_committee": ("{community}社区居委会",),
    "park": ("{stem}园",),
    "market": ("{stem}菜市场",),
    "hospital": ("{district}区医院",),
}

# Former names (曾用名) for a share of POIs: {n} is a Chinese numeral.
POI_FORMER_NAMES: dict[str, str] = {
    "primary_school": "{district}区第{n}小学",
    "middle_school": "{district}区第{n}中学",
    "park": "{stem}苗圃",
    "market": "{stem}副食品商店",
    "hospital": "{district}区第{n}职工医院",
}

EMERGENCY_PATTERNS = {
    "hospital": POI_PATTERNS["hospital"],
    "fire_station": (Name("{stem}消防救援站", "{Stem} Fire and Rescue Station"),),
    "shelter": (Name("{place}应急避难场所", "{Place} Emergency Shelter"),),
}

AQ_STATION_PATTERN = Name("{stem}监测站", "{Stem} Air Quality Monitoring Station")

# City components (部件) of the urban-management information system: code, name, share.
CITY_COMPONENT_CATEGORIES: tuple[tuple[str, Name, float], ...] = (
    ("0101", Name("上水井盖", "water supply manhole cover"), 0.12),
    ("0102", Name("污水井盖", "sewage manhole cover"), 0.10),
    ("0103", Name("雨水井盖", "storm-water manhole cover"), 0.08),
    ("0104", Name("雨水箅子", "storm-water grate"), 0.08),
    ("0105", Name("消火栓", "fire hydrant"), 0.07),
    ("0107", Name("垃圾箱", "litter bin"), 0.18),
    ("0110", Name("路灯", "street lamp"), 0.25),
    ("0111", Name("公交站亭", "bus shelter"), 0.05),
    ("0112", Name("路名牌", "street name sign"), 0.04),
    ("0114", Name("公共厕所", "public toilet"), 0.03),
)

COMPONENT_STATUSES = (("ok", 0.9), ("damaged", 0.07), ("missing", 0.03))

_DIGITS = "零一二三四五六七八九"
_INITIAL_VOWELS = ("a", "o", "e")


def pinyin_join(*syllables: str) -> str:
    """Join syllables into one capitalised word, with an apostrophe before a/o/e (Xi'an).

    >>> pinyin_join("xing", "an")
    "Xing'an"
    """
    word = syllables[0]
    for syllable in syllables[1:]:
        word += ("'" if syllable.startswith(_INITIAL_VOWELS) else "") + syllable
    return word.capitalize()


def chinese_numeral(number: int) -> str:
    """Chinese numeral for 1..99, as in 第三小学 or 兴福十二巷.

    >>> chinese_numeral(12), chinese_numeral(40), chinese_numeral(7)
    ('十二', '四十', '七')
    """
    if not 0 < number < 100:
        raise ValueError(f"only 1..99 are spelt, not {number}")
    tens, ones = divmod(number, 10)
    if tens == 0:
        return _DIGITS[ones]
    prefix = "" if tens == 1 else _DIGITS[tens]
    return prefix + "十" + (_DIGITS[ones] if ones else "")


def english_ordinal(number: int) -> str:
    """English ordinal: 1st, 2nd, 3rd, 4th, 11th, 12th, 21st.

    >>> [english_ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd']
    """
    if 10 <= number % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def composed_stems() -> list[Name]:
    """Every two-morpheme stem (first × second), in table order, minus reserved ones."""
    stems = []
    for first_zh, first_py in FIRST_MORPHEMES:
        for second_zh, second_py in SECOND_MORPHEMES:
            zh = first_zh + second_zh
            if first_zh != second_zh and zh not in RESERVED_STEMS:
                stems.append(Name(zh, pinyin_join(first_py, second_py)))
    return stems


def division_name(stem: Name, level: str) -> Name:
    """明德 + district → 明德区 / Mingde District."""
    suffix = DIVISION_SUFFIX[level]
    return Name(stem.zh + suffix.zh, f"{stem.en} {suffix.en}")


def road_name(stem: Name, kind: str, direction: str | None = None) -> Name:
    """兴福 + road + east → 兴福东路 / Xingfu East Road."""
    suffix = ROAD_SUFFIX[kind]
    part = DIRECTION[direction] if direction else Name("", "")
    en = " ".join(word for word in (stem.en, part.en, suffix.en) if word)
    return Name(stem.zh + part.zh + suffix.zh, en)


def lane_name(stem: Name, ordinal: int) -> Name:
    """兴福 + 3 → 兴福三巷 / Xingfu 3rd Lane."""
    return Name(
        f"{stem.zh}{chinese_numeral(ordinal)}巷", f"{stem.en} {english_ordinal(ordinal)} Lane"
    )


def fill(pattern: Name, **parts: Name) -> Name:
    """Fill a POI pattern: lower-case keys take the Chinese form, capitalised keys the English."""
    zh_values = {key: name.zh for key, name in parts.items()}
    en_values = {key.capitalize(): name.en for key, name in parts.items()}
    return Name(pattern.zh.format(**zh_values), pattern.en.format(**en_values))
