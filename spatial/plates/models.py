"""``basemap.plate``: the coded plates on street furniture (路灯贴牌) of the current base map.

Derived from the city's roads at each load (or read from the city's own plate file), like the
unit grid: rebuilt with the base map, never archived with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, geometry, gist


class Plate(Base):
    """One plate: its code (``XFDL-012-L-7``), the road, pole number and side it encodes."""

    __tablename__ = "plate"
    __table_args__ = (
        gist("plate"),
        CheckConstraint("side IN ('L', 'R')", name="side"),
        {"schema": "basemap"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    road_code: Mapped[str] = mapped_column(String(8), index=True)
    pole: Mapped[int] = mapped_column(Integer)
    side: Mapped[str] = mapped_column(String(1))
    road_name_zh: Mapped[str] = mapped_column(Text, default="")
    road_name_en: Mapped[str] = mapped_column(Text, default="")
    road_id: Mapped[int | None] = mapped_column(BigInteger)
    district_code: Mapped[str | None] = mapped_column(String(12))
    offset_m: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="generated")
    geom: Mapped[Any] = mapped_column(geometry("POINT"))
