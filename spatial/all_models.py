"""Every module that defines tables, imported together so Alembic and tests see the whole schema.

A module adding tables imports ``Base`` from ``spatial.models`` and gets one import line here.
"""

from spatial import models  # noqa: F401  (catalog, basemap, thematic, grid, audit)
from spatial.models import Base

metadata = Base.metadata

__all__ = ["Base", "metadata"]
