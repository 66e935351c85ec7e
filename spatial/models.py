"""Typed SQLAlchemy 2 models of the platform's tables, schema by schema.

Schemas: ``catalog`` (departments, layers), ``basemap`` (administrative divisions, roads,
buildings, door-plate addresses, POIs), ``thematic`` (department overlays), ``grid`` (unit
grid) and ``audit`` (who did what). Geometries are stored in lon/lat, SRID 4326, and served as
CRS84. The Alembic scripts in ``spatial/migrations`` create exactly these tables.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326

SCHEMAS = ("catalog", "basemap", "thematic", "grid", "audit")

DIVISION_LEVELS = {"district": 6, "street": 9, "community": 12}
LAYER_KINDS = ("vector", "imagery", "address", "grid", "incidents")
VISIBILITIES = ("public", "internal", "department")


def geometry(kind: str) -> Any:
    """A geometry column in storage CRS; GiST indexes are created by the migrations."""
    return Geometry(kind, srid=SRID, spatial_index=False)


def gist(table: str, column: str = "geom") -> Index:
    """The GiST index every geometry column gets."""
    return Index(f"ix_{table}_{column}_gist", column, postgresql_using="gist")


def created_at() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# ------------------------------------------------------------------------------------ catalog
class Department(Base):
    """A city department that owns layers (应急管理局, 生态环境局, 城市管理局…)."""

    __tablename__ = "department"
    __table_args__ = ({"schema": "catalog"},)

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()


class Layer(Base):
    """One row per layer of the one map: what it is, who owns it, who may see it, where it lives."""

    __tablename__ = "layer"
    __table_args__ = (
        gist("layer", "extent"),
        CheckConstraint("id ~ '^[a-z][a-z0-9_]{0,62}$'", name="id_slug"),
        CheckConstraint(f"kind IN {LAYER_KINDS}", name="kind"),
        CheckConstraint(f"visibility IN {VISIBILITIES}", name="visibility"),
        {"schema": "catalog"},
    )

    id: Mapped[str] = mapped_column(String(63), primary_key=True)
    # the layer's identity: a new one for every created layer, kept by replaces (history is
    # keyed by it, so a name reused after a removal starts with an empty history)
    uid: Mapped[str] = mapped_column(
        UUID(as_uuid=False), server_default=func.gen_random_uuid(), unique=True, nullable=False
    )
    title_zh: Mapped[str] = mapped_column(Text)
    title_en: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    department_code: Mapped[str] = mapped_column(ForeignKey("catalog.department.code"))
    kind: Mapped[str] = mapped_column(String(16))
    visibility: Mapped[str] = mapped_column(String(16), default="public")
    storage_schema: Mapped[str | None] = mapped_column(String(63))
    storage_table: Mapped[str | None] = mapped_column(String(63))
    storage_path: Mapped[str | None] = mapped_column(Text)
    id_field: Mapped[str] = mapped_column(String(63), default="id")
    geom_field: Mapped[str] = mapped_column(String(63), default="geom")
    time_field: Mapped[str | None] = mapped_column(String(63))
    geometry_type: Mapped[str | None] = mapped_column(String(32))
    extent: Mapped[Any] = mapped_column(geometry("GEOMETRY"), nullable=True)
    time_start: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    time_end: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    licence: Mapped[str] = mapped_column(Text, default="CC-BY-4.0")
    style: Mapped[dict] = mapped_column(JSONB, default=dict)
    attributes: Mapped[dict] = mapped_column(JSONB, default=dict)
    feature_count: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class LayerVersion(Base):
    """A counter per layer name that triggers move whenever its tiles may change (``layers.tile_cache``)."""

    __tablename__ = "layer_version"
    __table_args__ = ({"schema": "catalog"},)

    layer_id: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default="1", nullable=False)
    changed_at: Mapped[dt.datetime] = created_at()


# ------------------------------------------------------------------------------------ basemap
class AdminDivision(Base):
    """District (区) → street (街道) → community (社区): codes of 1–12 digits (GB/T 2260: 6/9/12).

    ``district_code`` and ``street_code`` are the division's ancestors at those levels (its own
    code at its own level): the hierarchy is never read out of code prefixes.
    """

    __tablename__ = "admin_division"
    __table_args__ = (
        gist("admin_division"),
        CheckConstraint("level IN ('district', 'street', 'community')", name="level"),
        CheckConstraint("code ~ '^[0-9]{1,12}$'", name="code_digits"),
        {"schema": "basemap"},
    )

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    level: Mapped[str] = mapped_column(String(16), index=True)
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("basemap.admin_division.code"), index=True
    )
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    population: Mapped[int | None] = mapped_column(Integer)
    geom: Mapped[Any] = mapped_column(geometry("MULTIPOLYGON"))
    district_code: Mapped[str | None] = mapped_column(String(12))
    street_code: Mapped[str | None] = mapped_column(String(12))


class Road(Base):
    """A named road segment (路/街/巷), the network addresses hang on."""

    __tablename__ = "road"
    __table_args__ = (
        gist("road"),
        CheckConstraint("oneway IN (-1, 0, 1)", name="oneway"),
        {"schema": "basemap"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text, index=True)
    name_en: Mapped[str] = mapped_column(Text)
    road_class: Mapped[str] = mapped_column(String(16))
    lanes: Mapped[int] = mapped_column(Integer, default=2)
    speed_kmh: Mapped[int] = mapped_column(Integer, default=40)
    district_code: Mapped[str | None] = mapped_column(String(12))
    geom: Mapped[Any] = mapped_column(geometry("LINESTRING"))
    # 1: drivable only along the line's direction, -1: only against it, 0: both ways
    oneway: Mapped[int] = mapped_column(SmallInteger, server_default="0")


class Building(Base):
    __tablename__ = "building"
    __table_args__ = (
        gist("building"),
        {"schema": "basemap"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    use: Mapped[str] = mapped_column(String(16))
    floors: Mapped[int] = mapped_column(Integer)
    height_m: Mapped[float] = mapped_column(Float)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True)
    address_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[Any] = mapped_column(geometry("POLYGON"))
    name: Mapped[str | None] = mapped_column(Text)


class Address(Base):
    """A door plate (门牌) with the GB/T 23705 levels it belongs to."""

    __tablename__ = "address"
    __table_args__ = (
        gist("address"),
        {"schema": "basemap"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    full_zh: Mapped[str] = mapped_column(Text)
    full_en: Mapped[str] = mapped_column(Text)
    province: Mapped[str] = mapped_column(Text, default="")
    city: Mapped[str] = mapped_column(Text, default="")
    district_code: Mapped[str | None] = mapped_column(String(12), index=True)
    street_code: Mapped[str | None] = mapped_column(String(12))
    community_code: Mapped[str | None] = mapped_column(String(12))
    road_zh: Mapped[str] = mapped_column(Text, default="")
    road_en: Mapped[str] = mapped_column(Text, default="")
    house_number: Mapped[str] = mapped_column(String(16), default="")
    building: Mapped[str | None] = mapped_column(String(16))
    unit: Mapped[str | None] = mapped_column(String(16))
    postcode: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32), default="demo")
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


class Poi(Base):
    """A point of interest or place name, with aliases and former names (地名)."""

    __tablename__ = "poi"
    __table_args__ = (
        gist("poi"),
        {"schema": "basemap"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name_zh: Mapped[str] = mapped_column(Text, index=True)
    name_en: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(32))
    aliases: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    former_names: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    address_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


# ----------------------------------------------------------------------------------- thematic
class EmergencyFacility(Base):
    """应急管理局: hospitals, fire stations and shelters (with capacity)."""

    __tablename__ = "emergency_facility"
    __table_args__ = (
        gist("emergency_facility"),
        CheckConstraint("kind IN ('hospital', 'fire_station', 'shelter')", name="kind"),
        {"schema": "thematic"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    capacity: Mapped[int | None] = mapped_column(Integer)
    beds: Mapped[int | None] = mapped_column(Integer)
    phone: Mapped[str | None] = mapped_column(String(32))
    address_zh: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


class AirQualityStation(Base):
    """生态环境局: an air-quality monitoring station."""

    __tablename__ = "aq_station"
    __table_args__ = (
        gist("aq_station"),
        {"schema": "thematic"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


class AirQualityReading(Base):
    """One hourly reading at a station; the point is repeated so the layer is time-enabled."""

    __tablename__ = "aq_reading"
    __table_args__ = (
        gist("aq_reading"),
        {"schema": "thematic"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    station_code: Mapped[str] = mapped_column(ForeignKey("thematic.aq_station.code"), index=True)
    observed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)
    aqi: Mapped[int] = mapped_column(Integer)
    pm2_5: Mapped[float] = mapped_column(Float)
    pm10: Mapped[float] = mapped_column(Float)
    no2: Mapped[float] = mapped_column(Float)
    o3: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


class CityComponent(Base):
    """城市管理局: city components (部件) such as manhole covers, street lamps, litter bins."""

    __tablename__ = "city_component"
    __table_args__ = (
        gist("city_component"),
        {"schema": "thematic"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    category_code: Mapped[str] = mapped_column(String(4))
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    community_code: Mapped[str | None] = mapped_column(String(12))
    geom: Mapped[Any] = mapped_column(geometry("POINT"))


# --------------------------------------------------------------------------------------- grid
class GridVersion(Base):
    """One build of the unit grid; rebuilding makes a new version, old cells stay."""

    __tablename__ = "grid_version"
    __table_args__ = ({"schema": "grid"},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_layer: Mapped[str] = mapped_column(Text)
    cell_size_m: Mapped[float] = mapped_column(Float)
    is_current: Mapped[bool] = mapped_column(default=False)
    cell_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = created_at()
    # the lattice the cells were cut from (metric CRS, north-west corner), the source's code
    # field and the seamlessness check; added by the grid module's migration (0004_incidents)
    crs_epsg: Mapped[int | None] = mapped_column(Integer)
    origin_x: Mapped[float | None] = mapped_column(Float)
    origin_y: Mapped[float | None] = mapped_column(Float)
    code_field: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict | None] = mapped_column(JSONB)


class UnitCell(Base):
    """A unit grid cell (单元网格) of about 10,000 m² with its 15-digit code."""

    __tablename__ = "unit_cell"
    __table_args__ = (
        gist("unit_cell"),
        UniqueConstraint("version_id", "code", name="uq_unit_cell_version_code"),
        CheckConstraint("code ~ '^[0-9]{15}$'", name="code_digits"),
        {"schema": "grid"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("grid.grid_version.id"), index=True)
    code: Mapped[str] = mapped_column(String(15))
    district_code: Mapped[str] = mapped_column(String(12))
    street_code: Mapped[str] = mapped_column(String(12))
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    area_m2: Mapped[float] = mapped_column(Float)
    geom: Mapped[Any] = mapped_column(geometry("MULTIPOLYGON"))
    # the lattice square the cell was numbered by (row from the north, column from the west)
    lattice_row: Mapped[int | None] = mapped_column(Integer)
    lattice_col: Mapped[int | None] = mapped_column(Integer)


class BaseMapVersion(Base):
    """One loaded base map: its profile, counts, check report and initial view.

    The current version's data are the ``basemap`` tables; an earlier version whose data were
    archived (``archived``) has them in ``basemap_archive.v<id>_<table>`` for comparison and
    rollback.
    """

    __tablename__ = "version"
    __table_args__ = (
        Index("ix_version_one_current", "is_current", unique=True, postgresql_where="is_current"),
        {"schema": "basemap"},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(40))
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    profile: Mapped[dict] = mapped_column(JSONB)
    counts: Mapped[dict] = mapped_column(JSONB)
    report: Mapped[dict] = mapped_column(JSONB)
    view: Mapped[dict] = mapped_column(JSONB)
    loaded_by: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[dt.datetime] = created_at()
    is_current: Mapped[bool] = mapped_column(server_default="false")
    archived: Mapped[bool] = mapped_column(server_default="false")


# -------------------------------------------------------------------------------------- audit
class AuditEvent(Base):
    """An administrative action: who, as which department, did what to which thing."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_audit_event_at", "at"), {"schema": "audit"})

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = created_at()
    actor: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSONB, default=dict)
