"""The geocoder's search tables, beside the address layer they index (schema ``basemap``).

``address_search`` holds one row per door plate (门牌, with its 栋 and 单元 rows) and language:
the road key, the house number as text and as an integer (for interpolation), building,
unit, postcode and locality, all in the folded form queries are folded to. ``place_search``
holds one row per searchable name: roads (街巷), divisions (区/街道/社区), POIs with their
aliases and former names (地名), each with a representative point. Both are rebuilt from the
address layer by ``spatial.geocoding.index.refresh_index``; the text_pattern_ops index on
``place_search.key`` serves exact and prefix look-ups, the pg_trgm GIN index on ``fuzzy_key``
fuzzy ones. ``fuzzy_key`` is the key itself for Western names and the key's characters
spaced apart for Chinese ones (兴 福 路): pg_trgm then compares character sets, which suits
names of three or four characters where one slip (隆明路 for 隆鸣路) leaves no trigram shared.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, geometry, gist

PLACE_LEVELS = ("road", "district", "subdistrict", "community", "poi")
DIVISION_PLACES = ("district", "subdistrict", "community")
NAME_KINDS = ("name", "alias", "former")


def division_codes(
    level: str, code: str, district: str | None
) -> tuple[str | None, str | None, str | None]:
    """(district, subdistrict, community) codes of a division found by name.

    The district is the division's own ancestor (stored with the place); a community's street
    is read from its code only when the code is a GB/T 2260 12-digit one (6 + 3 + 3).
    """
    district = district or code
    if level == "district":
        return code, None, None
    if level == "subdistrict":
        return district, code, None
    return district, code[:9] if len(code) == 12 else None, code


class AddressSearch(Base):
    """A door plate's searchable form in one language (zh: 兴福路 / en: xingfu rd)."""

    __tablename__ = "address_search"
    __table_args__ = (
        Index("ix_address_search_road_key_number_int", "road_key", "number_int"),
        {"schema": "basemap"},
    )

    address_id: Mapped[int] = mapped_column(
        ForeignKey("basemap.address.id", ondelete="CASCADE"), primary_key=True
    )
    lang: Mapped[str] = mapped_column(String(2), primary_key=True)
    road_key: Mapped[str] = mapped_column(Text)
    number_key: Mapped[str] = mapped_column(String(32), default="")
    number_int: Mapped[int | None] = mapped_column(Integer)
    building: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(32))
    postcode: Mapped[str | None] = mapped_column(String(16))
    locality_key: Mapped[str] = mapped_column(Text, default="")


class PlaceSearch(Base):
    """A searchable name: a road, a division or a POI (and each alias and former name)."""

    __tablename__ = "place_search"
    __table_args__ = (
        gist("place_search"),
        Index(
            "ix_place_search_fuzzy_key_trgm",
            "fuzzy_key",
            postgresql_using="gin",
            postgresql_ops={"fuzzy_key": "gin_trgm_ops"},
        ),
        Index("ix_place_search_key_prefix", "key", postgresql_ops={"key": "text_pattern_ops"}),
        CheckConstraint(f"level IN {PLACE_LEVELS}", name="level"),
        CheckConstraint(f"kind IN {NAME_KINDS}", name="kind"),
        {"schema": "basemap"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    level: Mapped[str] = mapped_column(String(16))
    lang: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(Text)
    key: Mapped[str] = mapped_column(Text)
    fuzzy_key: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8), default="name")
    ref: Mapped[str] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(String(12))
    weight: Mapped[int] = mapped_column(Integer, default=0)
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


# the plates the geocoder resolves location codes to (basemap.plate), imported here so that
# spatial.all_models, which imports this module, sees their table too
from spatial.plates.models import Plate  # noqa: E402, F401
