"""Chinese numerals → Arabic digits inside address text (八十八号 → 88号, 三栋 → 3栋, 一零八 → 108).

Both readings found in addresses are handled: positional numbers with units (一百零八, 十二,
两千) and digit-by-digit readings (一零八, 八八). Formal (大写) digits count too. A lone unit
character other than 十 (百, 千, 万 as in 百花路, 万达) is left alone: it is part of a name.

Written by hand rather than with a numeral library: address text needs the digit-by-digit
reading and the lone-unit rule, and the conversion runs on every query and every indexed name.
"""

from __future__ import annotations

import re

DIGITS = {
    "零": 0, "〇": 0, "○": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
    "六": 6, "七": 7, "八": 8, "九": 9,
    "壹": 1, "贰": 2, "叁": 3, "肆": 4, "伍": 5, "陆": 6, "柒": 7, "捌": 8, "玖": 9,
}  # fmt: skip
UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000, "万": 10_000}

_RUN = re.compile(f"[{''.join(DIGITS)}{''.join(UNITS)}]+")


def numeral_value(run: str) -> int | None:
    """The value of one run of numeral characters, or None when it is not a number.

    >>> [numeral_value(s) for s in ("八十八", "十二", "一百零八", "两千", "一零八", "百")]
    [88, 12, 108, 2000, 108, None]
    """
    if not any(ch in UNITS for ch in run):
        return int("".join(str(DIGITS[ch]) for ch in run))
    if len(run) == 1 and run not in ("十", "拾"):
        return None
    total, section, digit = 0, 0, None
    for ch in run:
        if ch in DIGITS:
            digit = DIGITS[ch]
            continue
        unit = UNITS[ch]
        if unit == 10_000:
            total += (section + (digit or 0)) * unit
            section, digit = 0, None
        else:
            section += (1 if digit is None else digit) * unit
            digit = None
    return total + section + (digit or 0)


def digits_for_numerals(text: str) -> str:
    """Replace every run of Chinese numerals in ``text`` by its Arabic digits.

    >>> digits_for_numerals("兴福路八十八号三栋二单元")
    '兴福路88号3栋2单元'
    >>> digits_for_numerals("百花路一〇八号")
    '百花路108号'
    """

    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        if run == "两":  # 两 alone is a word (两岸), not a number
            return run
        value = numeral_value(run)
        return run if value is None else str(value)

    return _RUN.sub(replace, text)


def chinese_numeral(number: int) -> str:
    """1..9999 written positionally in Chinese (used to test and to perturb).

    >>> chinese_numeral(88), chinese_numeral(108), chinese_numeral(10), chinese_numeral(1200)
    ('八十八', '一百零八', '十', '一千二百')
    """
    if not 0 < number < 10_000:
        raise ValueError(f"only 1..9999 are spelt, not {number}")
    names = "零一二三四五六七八九"
    parts: list[str] = []
    zero = False
    for unit_value, unit_name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = number // unit_value % 10
        if digit == 0:
            zero = bool(parts)
            continue
        if zero:
            parts.append("零")
            zero = False
        if not (unit_value == 10 and digit == 1 and not parts):
            parts.append(names[digit])
        parts.append(unit_name)
    return "".join(parts)
