"""Tables of the prepared road graph (schema ``network``), built from ``basemap.road`` by prepared.py.

- ``node``: the segments' distinct end points; ``routable`` marks the largest strongly connected
  component (every routable node reaches every other), the only nodes places are snapped to.
- ``edge``: one per road segment, costs in seconds at the road's speed, directed (``cost`` along
  the line, ``reverse_cost`` against it, -1 closed: one-way roads).
- ``graph``: one row describing the graph built (which road version/stamp, when, its size).
- ``road_stamp``: one row bumped by a trigger on every write to ``basemap.road`` (a city load, a
  rollback, an edit); the graph is stale when its stamp differs.
- ``speed_factor``: optional time-of-day factors: hour (0–23) → speed multiplier per road class
  (``'*'``: every class without a row of its own). No row: factor 1.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, geometry, gist

SCHEMA = "network"


class Node(Base):
    """A junction or dead end of the road graph."""

    __tablename__ = "node"
    __table_args__ = (gist("node", "geom"), {"schema": SCHEMA})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    geom: Mapped[Any] = mapped_column(geometry("POINT"))
    routable: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")


class Edge(Base):
    """A road segment between two nodes, timed in seconds each way (-1: closed that way)."""

    __tablename__ = "edge"
    __table_args__ = (
        gist("edge", "geom"),
        Index("ix_edge_source", "source"),
        Index("ix_edge_target", "target"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    road_id: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[int] = mapped_column(BigInteger)
    target: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)
    reverse_cost: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float)
    road_class: Mapped[str] = mapped_column(String(16))
    geom: Mapped[Any] = mapped_column(geometry("LINESTRING"))


class Graph(Base):
    """The graph currently built: from which road version and stamp, when, how large."""

    __tablename__ = "graph"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"), {"schema": SCHEMA})

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    road_version: Mapped[int | None] = mapped_column(Integer)
    road_stamp: Mapped[int] = mapped_column(BigInteger)
    built_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    nodes: Mapped[int] = mapped_column(Integer)
    edges: Mapped[int] = mapped_column(Integer)
    routable_nodes: Mapped[int] = mapped_column(Integer)
    build_seconds: Mapped[float] = mapped_column(Float)


class RoadStamp(Base):
    """Bumped by a trigger on every write to ``basemap.road``."""

    __tablename__ = "road_stamp"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"), {"schema": SCHEMA})

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    stamp: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SpeedFactor(Base):
    """Time-of-day speed factor of a road class ('*': any class) at an hour of the day."""

    __tablename__ = "speed_factor"
    __table_args__ = (
        CheckConstraint("hour BETWEEN 0 AND 23", name="hour_range"),
        CheckConstraint("factor > 0 AND factor <= 4", name="factor_range"),
        {"schema": SCHEMA},
    )

    road_class: Mapped[str] = mapped_column(String(16), primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    factor: Mapped[float] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
