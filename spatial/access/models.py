"""Tables of the access module: bearer tokens held by a department's people (schema ``access``).

Only a SHA-256 hash of each token is stored; the token itself is shown once, when created.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from spatial.models import Base, created_at

SCHEMA = "access"
ROLES = ("admin", "editor", "inspector", "viewer")


class ApiToken(Base):
    """A bearer token: who holds it, for which department, in which role, until when."""

    __tablename__ = "token"
    __table_args__ = (
        CheckConstraint(f"role IN {ROLES}", name="role"),
        {"schema": SCHEMA},
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text, index=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("catalog.department.code"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = created_at()
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
