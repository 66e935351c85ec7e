"""Tables of the imagery module (schema ``imagery``): one row per scene of an imagery layer.

An imagery layer (``catalog.layer``, kind ``imagery``) holds one or more scenes, each a
Cloud-Optimized GeoTIFF with its acquisition time, sensor, resolution, bands, lon/lat
footprint and cloud/quality notes. The layer row keeps a summary (extent = union of the
footprints, time range, the latest scene's file) so catalog readers need not know scenes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, geometry, gist

SCHEMA = "imagery"


class Scene(Base):
    """A scene (景) of an imagery layer: a COG on disk or behind a URL, and what the catalog knows.

    A remote scene has ``url`` (http(s):// or s3://) and ``path`` is GDAL's name for it
    (``/vsicurl/<url>``, ``/vsis3/<bucket>/<key>``); ``etag`` and ``size_bytes`` are the
    object's at registration: together with the URL they identify the scene's version.
    """

    __tablename__ = "scene"
    __table_args__ = (
        gist("scene", "footprint"),
        UniqueConstraint("layer_id", "scene_id", name="uq_scene_layer_scene"),
        Index("ix_scene_layer_acquired", "layer_id", "acquired"),
        CheckConstraint("scene_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'", name="scene_slug"),
        CheckConstraint(
            "cloud_percent IS NULL OR (cloud_percent >= 0 AND cloud_percent <= 100)",
            name="cloud_range",
        ),
        CheckConstraint("url IS NULL OR url ~ '^(https?|s3)://'", name="url_scheme"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[str] = mapped_column(ForeignKey("catalog.layer.id", ondelete="CASCADE"))
    scene_id: Mapped[str] = mapped_column(String(63))
    acquired: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sensor: Mapped[str | None] = mapped_column(Text)
    cloud_percent: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[str] = mapped_column(Text, default="")
    crs: Mapped[str] = mapped_column(Text)
    resolution: Mapped[float] = mapped_column(Float)
    resolution_unit: Mapped[str] = mapped_column(String(16))
    band_count: Mapped[int] = mapped_column(Integer)
    bands: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    footprint: Mapped[Any] = mapped_column(geometry("MULTIPOLYGON"))
    path: Mapped[str] = mapped_column(Text)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    url: Mapped[str | None] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    added_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
