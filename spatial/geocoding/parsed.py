"""What a parser makes of an address: its GB/T 23705 levels (or Western parts), each optional."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ParsedAddress:
    """One address query taken apart; every part is folded text (see ``text.fold``) or None.

    ``road_keys`` are the road keys worth trying, the most specific first (a Chinese road
    written after a district without its 区 yields 明德兴福路, 德兴福路, 兴福路…); ``context`` is
    the text around the road (divisions, city) that ranking checks candidates' divisions
    against; ``name`` is the text to look up as a place name (POI, division or road).
    """

    lang: str  # "zh" or "en"
    text: str
    road: str | None = None
    road_keys: list[str] = field(default_factory=list)
    number: str | None = None
    number_int: int | None = None
    building: str | None = None
    unit: str | None = None
    room: str | None = None
    province: str | None = None
    city: str | None = None
    district: str | None = None
    subdistrict: str | None = None
    community: str | None = None
    state: str | None = None
    postcode: str | None = None
    context: str = ""
    name: str | None = None

    @property
    def has_plate(self) -> bool:
        """Whether the query names a door plate (a road and a house number)."""
        return bool(self.road_keys) and self.number_int is not None

    def as_dict(self) -> dict[str, object]:
        """The parts that were found, for showing what the parser understood."""
        keys = ("province", "city", "district", "subdistrict", "community", "road", "number",
                "building", "unit", "room", "state", "postcode", "name")  # fmt: skip
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}
