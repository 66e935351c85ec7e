"""pygeoapi feature provider for onemap's PostGIS tables, named by dotted path in the config.

pygeoapi creates a provider object per request, so the expensive parts are kept per process:
one SQLAlchemy engine per database and one table description per (table, layer version). The
SQL lives in ``layers.features``; this class only translates pygeoapi's calling convention and
maps our errors to pygeoapi's.

It also sidesteps two pygeoapi 0.21 traps: storage is CRS84 (SRID 4326, lon/lat) with output
CRS handled in the database (lat/lon axis order for EPSG:4326 and EPSG:4490), and geometries
are always written with SRID 4326 (0.21's SQL provider derives ``None`` from CRS84 and fails).

Transactions (OGC API Features Part 4: ``create``, ``update``, ``delete``) go to
``layers.edits``, which runs the permission check, the quality gate and the history; who is
asking comes from ``api.ogc.calls.CURRENT_CALL``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pyproj
from pygeoapi.models.provider.base import TileMatrixSetEnum
from pygeoapi.provider.base import BaseProvider, ProviderGenericError
from pygeoapi.provider.base_mvt import BaseMVTProvider
from pygeoapi.provider.mvt_postgresql import MVTPostgreSQLProvider
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from api.errors import DRIVER_ERRORS
from api.ogc import feature_tables
from api.ogc.calls import CURRENT_CALL, OgcCall
from api.ogc.errors import provider_error
from layers import edits, features, vector_tiles
from spatial.db import engine_of
from spatial.errors import InvalidInput, OnemapError, Unauthorized
from spatial.extent import ExtentRule
from spatial.params import parse_tile


def engine_for(data: dict[str, Any]) -> Engine:
    """The process's one engine of the provider's database (``spatial.db.shared_engine``)."""
    return engine_of(data)


_describe = feature_tables.describe  # kept per (table, layer version); see api.ogc.feature_tables


def output_crs(crs_transform_spec: Any) -> features.OutputCrs:
    """SRID and axis order requested through ``crs=`` (pygeoapi hands us its transform spec)."""
    if crs_transform_spec is None:
        return features.OutputCrs()
    target = pyproj.CRS.from_wkt(crs_transform_spec.target_crs_wkt)
    epsg = target.to_epsg() or 4326
    lat_first = target.is_geographic and target.axis_info[0].direction.lower() in ("north", "south")
    return features.OutputCrs(srid=epsg, lat_first=lat_first)



def as_provider_error(err: BaseException) -> ProviderGenericError:
    """A domain or driver error as the pygeoapi error that carries its status and code."""
    wrapped = provider_error(err)
    assert wrapped is not None
    return wrapped


class PostGISFeatureProvider(BaseProvider):
    """Features of one catalogued PostGIS table."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.schema = (provider_def["data"].get("search_path") or ["public"])[0]
        self.table = provider_def["table"]
        self.geom_field = provider_def.get("geom_field", "geom")
        self.layer_id = provider_def.get("layer_id", self.table)
        self.engine = engine_for(provider_def["data"])
        self.describe_key = (self.engine, self.schema, self.table, self.id_field, self.geom_field,
                             self.time_field, provider_def.get("layer_version"))  # fmt: skip
        try:
            self.feature_table = _describe(*self.describe_key)
        except (OnemapError, OperationalError) as err:
            raise as_provider_error(err) from err
        self.get_fields()

    def get_fields(self) -> dict[str, dict[str, str]]:
        if not self._fields:
            self._fields: dict[str, dict[str, str]] = self.feature_table.fields()
        return self._fields

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results", bbox: list | None = None,
              datetime_: str | None = None, properties: list | None = None, sortby: list | None = None,
              select_properties: list | None = None, skip_geometry: bool = False, q: str | None = None,
              filterq: Any = None, crs_transform_spec: Any = None, **kwargs: Any) -> dict[str, Any]:
        query = features.FeatureQuery(
            bbox=list(bbox or []),
            datetime_=datetime_,
            properties=list(properties or []),
            filter_ast=filterq,
            sortby=list(sortby or []),
            select_properties=list(select_properties or []),
            skip_geometry=bool(skip_geometry),
            offset=int(offset or 0),
            limit=int(limit),
            hits_only=resulttype == "hits",
            output=output_crs(crs_transform_spec),
        )
        return self._guard(feature_tables.read_current, self, features.query_features, query)

    def get(self, identifier: str, crs_transform_spec: Any = None, **kwargs: Any) -> dict[str, Any]:
        return self._guard(
            feature_tables.read_current, self, features.get_feature, identifier, output_crs(crs_transform_spec)
        )

    # ------------------------------------------------------------------ transactions (Part 4)
    def create(self, item: bytes) -> str:
        """POST …/items: a new feature; its id (pygeoapi puts it in the Location header)."""
        call = self._call()
        result = self._guard(
            edits.create_feature, self.engine, self.layer_id, self._body(item),
            principal=call.principal, options=self._options(call),
        )
        call.etag = result.etag
        return str(result.feature_id)

    def update(self, identifier: str, item: bytes) -> bool:
        """PUT (replace) or, when the call says merge, PATCH …/items/{id}."""
        call = self._call()
        edit = edits.patch_feature if call.merge else edits.replace_feature
        result = self._guard(
            edit, self.engine, self.layer_id, str(identifier), self._body(item),
            principal=call.principal, options=self._options(call),
        )
        call.etag = result.etag
        return True

    def delete(self, identifier: str) -> bool:
        """DELETE …/items/{id}."""
        call = self._call()
        self._guard(
            edits.delete_feature, self.engine, self.layer_id, str(identifier),
            principal=call.principal, options=self._options(call),
        )
        return True

    @staticmethod
    def _call() -> OgcCall:
        call = CURRENT_CALL.get()
        if call is None:  # only onemap's routes may drive edits: they know who is asking
            raise as_provider_error(Unauthorized("edits need an authenticated request"))
        return call

    @staticmethod
    def _options(call: OgcCall) -> edits.WriteOptions:
        return edits.WriteOptions(
            path="ogc", content_crs=call.content_crs, if_match=call.if_match,
            extent=ExtentRule.from_settings(call.settings),
        )

    @staticmethod
    def _body(item: bytes) -> Any:
        try:
            return orjson.loads(item)
        except orjson.JSONDecodeError as err:
            raise as_provider_error(InvalidInput(f"the body is not JSON: {err}")) from None

    @staticmethod
    def _guard(func: Any, *args: Any, **kwargs: Any) -> Any:
        """Our errors as pygeoapi's, so clients get a 4xx OGC exception document."""
        try:
            return func(*args, **kwargs)
        except (OnemapError, *DRIVER_ERRORS) as err:
            raise as_provider_error(err) from err

    def __repr__(self) -> str:
        return f"<PostGISFeatureProvider {self.schema}.{self.table}>"


MAX_VECTOR_ZOOM = 22


def tile_columns_at_zero(matrix_set: str) -> int:
    """Tiles across zoom 0: 2 for WorldCRS84Quad, 1 for WebMercatorQuad (and anything else)."""
    return 2 if matrix_set == vector_tiles.WORLD_CRS84_QUAD else 1


def ogc_link(link: dict[str, Any]) -> dict[str, Any]:
    """A link of pygeoapi's tile models as OGC API spells it: ``type``, ``/tileMatrixSets``."""
    spelt = {("type" if key == "type_" else key): value for key, value in link.items()}
    spelt["href"] = str(spelt.get("href", "")).replace("/TileMatrixSets/", "/tileMatrixSets/")
    return spelt


class PostGISVectorTileProvider(MVTPostgreSQLProvider):
    """Mapbox vector tiles of one catalogued table (WebMercatorQuad, WorldCRS84Quad), cut by PostGIS.

    Reuses pygeoapi's tile-set metadata from the MVT-postgresql provider, but not its query:
    that one transforms to ``OGC:CRS84`` and returns (not raises) its not-found error.
    """

    def __init__(self, provider_def: dict[str, Any]) -> None:
        BaseMVTProvider.__init__(self, provider_def)
        self.id_field = provider_def.get("id_field", "id")
        self.time_field = provider_def.get("time_field")
        self.table = provider_def["table"]
        self.layer_name = provider_def.get("layer_name", self.table)
        self.schema = (provider_def["data"].get("search_path") or ["public"])[0]
        self.geom = provider_def.get("geom_field", "geom")
        self.storage_crs = provider_def.get("storage_crs")
        self.engine = engine_for(provider_def["data"])
        self.describe_key = (self.engine, self.schema, self.table, self.id_field, self.geom,
                             self.time_field, provider_def.get("layer_version"))  # fmt: skip
        self.feature_table = _describe(*self.describe_key)

    def get_fields(self) -> dict[str, Any]:
        return self.feature_table.fields()

    def get_layer(self) -> str:
        return self.layer_name

    def get_tiling_schemes(self) -> list[Any]:
        return [TileMatrixSetEnum.WEBMERCATORQUAD.value, TileMatrixSetEnum.WORLDCRS84QUAD.value]

    def get_tiles(self, layer: str = "default", tileset: str | None = None, z: Any = None,
                  y: Any = None, x: Any = None, format_: str | None = None) -> bytes | None:
        if tileset not in vector_tiles.ENVELOPES:
            raise as_provider_error(InvalidInput(
                f"tile matrix set {tileset!r} is not offered; use {' or '.join(vector_tiles.ENVELOPES)}"))
        try:
            address = parse_tile(z, x, y, max_zoom=MAX_VECTOR_ZOOM, columns_at_zero=tile_columns_at_zero(tileset))
        except InvalidInput as err:
            raise as_provider_error(err) from None
        z, x, y = address.z, address.x, address.y
        tile = self._guard(feature_tables.read_current, self, vector_tiles.mvt_tile, z, x, y, layer=layer,
                           matrix_set=tileset)  # fmt: skip
        return tile or None

    def get_metadata(self, dataset: str, server_url: str, layer: Any = None, tileset: Any = None,
                     metadata_format: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Tile-set metadata; no ``f=`` (pygeoapi called .upper() on None) or an Accept pygeoapi has no
        metadata for (``application/vnd.mapbox-vector-tile``: NotImplementedError, a 500) means JSON."""
        known = metadata_format if str(metadata_format).lower() in ("json", "tilejson", "html", "jsonld") else "json"
        return super().get_metadata(dataset, server_url, layer, tileset, known, **kwargs)

    def get_default_metadata(self, dataset: str, server_url: str, layer: Any, tileset: Any, title: Any,
                             description: Any, keywords: Any, **kwargs: Any) -> dict[str, Any]:
        """The OGC tile-set document, its links spelt as OGC API Tiles and GDAL read them.

        pygeoapi 0.21 dumps its link model by field name (``type_``) and points at
        ``/TileMatrixSets``; GDAL's OGCAPI driver looks for ``type`` and follows the link.
        """
        document = super().get_default_metadata(dataset, server_url, layer, tileset, title, description,
                                                keywords, **kwargs)  # fmt: skip
        document["links"] = [ogc_link(link) for link in document.get("links", [])]
        return document

    def get_vendor_metadata(self, dataset: str, server_url: str, layer: Any, tileset: Any, title: Any,
                            description: Any, keywords: Any, **kwargs: Any) -> dict[str, Any]:
        """The tile set as TileJSON 3.0.0 (``f=tilejson``), for MapLibre, Leaflet plugins and GDAL."""
        url = f"{server_url}/collections/{dataset}/tiles/{tileset}/{{z}}/{{y}}/{{x}}?f=mvt"
        fields = self.get_fields()
        return {
            "tilejson": "3.0.0", "name": str(title or dataset), "description": str(description or ""),
            "tiles": [url], "minzoom": 0, "maxzoom": MAX_VECTOR_ZOOM, "scheme": "xyz",
            "vector_layers": [{"id": self.get_layer(), "fields": {k: str(v.get("type", "string")) if isinstance(v, dict)
                                                                  else str(v) for k, v in fields.items()}}],
        }  # fmt: skip

    _guard = staticmethod(PostGISFeatureProvider._guard)

    def __repr__(self) -> str:
        return f"<PostGISVectorTileProvider {self.schema}.{self.table}>"
