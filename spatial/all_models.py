"""Every module that defines tables, imported together so Alembic and tests see the whole schema.

A module adding tables imports ``Base`` from ``spatial.models`` and gets one import line here.
"""

from spatial import models
from spatial.models import Base

# schemas owned by onemap: the initial five, plus one per module that brings its own
SCHEMAS: tuple[str, ...] = models.SCHEMAS

metadata = Base.metadata

__all__ = ["SCHEMAS", "Base", "metadata"]
