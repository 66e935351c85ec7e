"""The current unit grid as a table of its own (``grid.current_cell``), served as a map layer.

``grid.unit_cell`` keeps every version (incidents point at the cell they were routed to);
this copy holds only the current version's cells, refreshed in the build's transaction, so
the OGC API collection shows one seamless grid without a filter.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, geometry, gist


class CurrentCell(Base):
    """A cell of the current grid version (a copy of its ``grid.unit_cell`` row)."""

    __tablename__ = "current_cell"
    __table_args__ = (gist("current_cell"), {"schema": "grid"})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version_id: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(15), index=True)
    district_code: Mapped[str] = mapped_column(String(12))
    street_code: Mapped[str] = mapped_column(String(12))
    community_code: Mapped[str] = mapped_column(String(12))
    area_m2: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(geometry("MULTIPOLYGON"))
