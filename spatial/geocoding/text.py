"""Text folding shared by the parsers and the index: one spelling for the many ways people type.

``fold`` makes full-width forms half-width (NFKC: ８８号 → 88号, Ｗ → W), traditional and
variant characters simplified (OpenCC t2s: 號 → 号, 區 → 区, 裡 → 里), Chinese numerals digits,
Latin letters lower-case, and every run of spaces and punctuation one space. Query text and
indexed names go through the same function, so they meet in the same form.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from spatial.errors import InvalidInput
from spatial.geocoding.numerals import digits_for_numerals

MAX_QUERY_CHARS = 200

# variants OpenCC keeps (they are not traditional forms) but addresses use interchangeably
VARIANTS = str.maketrans({"幢": "栋", "衚": "胡", "衕": "同", "邨": "村"})
_PUNCTUATION = re.compile(r"[\s,，、;；:：。.·()（）\[\]【】{}<>《》\"'“”‘’!！?？\\|~_]+")
_CJK = re.compile(r"[\u3400-\u9fff]")


@lru_cache(maxsize=1)
def _simplifier() -> Any:
    """OpenCC's traditional → simplified converter (loaded once)."""
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional and variant Chinese characters → simplified (陝西 → 陕西, 號 → 号)."""
    if not _CJK.search(text):
        return text
    return str(_simplifier().convert(text)).translate(VARIANTS)


def fold(text: str) -> str:
    """Half-width, simplified, digits for numerals, lower-case; punctuation runs → one space."""
    text = unicodedata.normalize("NFKC", text)
    text = simplified(text)
    text = digits_for_numerals(text)
    text = text.lower().replace("#", " # ").replace("&", " & ")
    return _PUNCTUATION.sub(" ", text).strip()


def is_chinese(text: str) -> bool:
    """Whether the text is written in Chinese (any CJK ideograph)."""
    return bool(_CJK.search(text))


def squeeze(text: str) -> str:
    """Chinese text without any spaces: 兴福路 88 号 → 兴福路88号."""
    return text.replace(" ", "")


def check_query(text: object, *, max_chars: int = MAX_QUERY_CHARS) -> str:
    """The query stripped, or InvalidInput when it is empty, overlong or not text."""
    if not isinstance(text, str):
        raise InvalidInput("the query must be text")
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("the query is empty: give an address or a place name")
    if len(stripped) > max_chars:
        raise InvalidInput(f"the query is {len(stripped)} characters long; at most {max_chars} are allowed")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in stripped):
        raise InvalidInput("the query contains control or binary characters: send plain text")
    return stripped
