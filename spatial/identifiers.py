"""Field names as files spell them, and as PostgreSQL stores them: one rule, used both ways.

A loaded file's ``BoroCD`` is stored as column ``borocd``; whoever later names the field as the
file spells it (``--code-field BoroCD``) is understood through the same rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

MAX_IDENTIFIER_BYTES = 63


def sanitise_name(name: str) -> str:
    """'Land Use (2020)' → 'land_use_2020'; letters of any script kept, others become '_'."""
    text = unicodedata.normalize("NFKC", name).strip().lower()
    text = re.sub(r"[^\w]+", "_", text).strip("_")
    if text and text[0].isdigit():
        text = f"f_{text}"
    return truncate(text)


def truncate(text: str, limit: int = MAX_IDENTIFIER_BYTES) -> str:
    """Cut to at most ``limit`` UTF-8 bytes (PostgreSQL's identifier limit) on a character boundary."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def stored_column(name: str, columns: Collection[str]) -> str | None:
    """The stored column a field name means: itself, or as the loader stored it (None: neither)."""
    if name in columns:
        return name
    stored = sanitise_name(name)
    return stored if stored in columns else None
