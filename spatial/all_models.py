"""Every module that defines tables, imported together so Alembic and tests see the whole schema.

A module adding tables imports ``Base`` from ``spatial.models`` and gets one import line here.
"""

from spatial import models
from spatial.access import models as access_models  # access.token
from spatial.dispatch import models as dispatch_models  # emergency.* (units, calls, assignments)
from spatial.geocoding import models as geocoding_models  # noqa: F401  (basemap.*_search)
from spatial.grid import models as grid_models  # noqa: F401  (grid.current_cell)
from spatial.history import models as history_models  # noqa: F401  (audit.feature_change)
from spatial.imagery import models as imagery_models  # imagery.scene
from spatial.incidents import models as incident_models  # incidents.*
from spatial.models import Base
from spatial.network import models as network_models  # network.* (prepared road graph)

# schemas owned by onemap: the initial five, plus one per module that brings its own
SCHEMAS: tuple[str, ...] = models.SCHEMAS + (access_models.SCHEMA, incident_models.SCHEMA)
SCHEMAS += (imagery_models.SCHEMA,)
SCHEMAS += (network_models.SCHEMA,)
SCHEMAS += tuple(s for s in (dispatch_models.SCHEMA,) if s not in SCHEMAS)

metadata = Base.metadata

__all__ = ["SCHEMAS", "Base", "metadata"]
