"""pygeoapi feature provider for onemap's PostGIS tables, named by dotted path in the config."""

from __future__ import annotations

import shapely.geometry
from geoalchemy2.shape import from_shape
from pygeoapi.provider.base import ProviderInvalidDataError
from pygeoapi.provider.sql import PostgreSQLProvider

from spatial.crs import STORAGE_SRID


class PostGISFeatureProvider(PostgreSQLProvider):
    """pygeoapi's PostgreSQL provider with storage in CRS84 (SRID 4326, lon/lat).

    pygeoapi 0.21 derives the SRID of written geometries from ``storage_crs``; for CRS84
    ``to_epsg()`` is None and every write fails, so writes are stamped with SRID 4326 here.
    """

    def _feature_to_sqlalchemy(self, json_data, identifier=None):  # type: ignore[no-untyped-def]
        attributes = {**(json_data.get("properties") or {})}
        attributes.pop("identifier", None)
        try:
            geometry = shapely.geometry.shape(json_data["geometry"])
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise ProviderInvalidDataError(f"invalid geometry: {err}") from err
        attributes[self.geom] = from_shape(geometry, srid=STORAGE_SRID)
        attributes[self.id_field] = identifier
        try:
            return self.table_model(**attributes)
        except TypeError as err:
            raise ProviderInvalidDataError(str(err)) from err
