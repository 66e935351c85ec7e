"""The feature history table (``audit.feature_change``), created by the access migration.

Rows belong to a layer's identity (``layer_uid``, ``catalog.layer.uid``; migration 0006), not
to its name: ``layer_id`` keeps the name the layer had, for people reading the rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, created_at

OPERATIONS = ("create", "update", "delete", "replace")
PATHS = ("ogc", "rest", "cli", "rollback")


class FeatureChange(Base):
    """One change to one overlay feature (or a whole-layer replace, ``feature_id`` NULL)."""

    __tablename__ = "feature_change"
    __table_args__ = (
        Index("ix_feature_change_layer_at", "layer_id", "at"),
        Index("ix_feature_change_layer_feature", "layer_id", "feature_id", "at"),
        Index("ix_feature_change_uid_at", "layer_uid", "at"),
        Index("ix_feature_change_uid_feature", "layer_uid", "feature_id", "at"),
        CheckConstraint(f"operation IN {OPERATIONS}", name="operation"),
        CheckConstraint(f"path IN {PATHS}", name="path"),
        {"schema": "audit"},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = created_at()
    layer_id: Mapped[str] = mapped_column(String(63))
    layer_uid: Mapped[str | None] = mapped_column(UUID(as_uuid=False))  # NULL: of a layer removed before 0006
    feature_id: Mapped[str | None] = mapped_column(Text)
    operation: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str | None] = mapped_column(String(32))
    token_id: Mapped[int | None] = mapped_column(BigInteger)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
