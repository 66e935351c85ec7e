"""pygeoapi resources derived from the layer catalog.

``pygeoapi-config.yml`` holds server metadata and hand-made resources only; every catalogued
layer becomes a resource here, so a layer added to the catalog appears in ``/ogc/collections``
without anyone editing YAML. Providers are named by dotted path (``api.ogc.providers.*``): this
module only writes configuration, it imports nothing from ``api``.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

from pygeoapi.util import yaml_load

from spatial.crs import OUTPUT_CRS_URIS, STORAGE_CRS_URI
from spatial.db import ConnectionInfo

FEATURE_PROVIDER = "api.ogc.providers.PostGISFeatureProvider"
TILE_PROVIDER = "api.ogc.providers.PostGISVectorTileProvider"
COVERAGE_PROVIDER = "api.ogc.coverage.ImageryCoverageProvider"
MAP_PROVIDER = "api.ogc.maps.ImageryMapProvider"


def load_server_config(path: Path) -> dict[str, Any]:
    """Read pygeoapi-config.yml (``${ENV}`` references are resolved by pygeoapi's loader)."""
    with path.open(encoding="utf-8") as fh:
        config = yaml_load(fh)
    config.setdefault("resources", {})
    return config


def build_config(
    server_config: dict[str, Any],
    *,
    base_url: str,
    connection: ConnectionInfo,
    layers: list[dict[str, Any]],
    templates_path: Path | None = None,
    feature_provider_name: str = FEATURE_PROVIDER,
    editable: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The full pygeoapi configuration: server metadata + one resource per catalog layer.

    ``layers`` are the rows the configuration's audience may see; ``editable`` the ids of
    those they may change (OGC API Features Part 4 transactions are offered on these only).
    """
    config = copy.deepcopy(server_config)
    server = config["server"]
    server["url"] = f"{base_url.rstrip('/')}/ogc"
    server.setdefault("map", {})["url"] = f"{base_url.rstrip('/')}/tiles/demo_imagery/{{z}}/{{x}}/{{y}}.png"
    if templates_path is not None:
        server["templates"] = {"path": str(templates_path)}
    resources = config.setdefault("resources", {})
    for resource in resources.values():
        attach_database(resource, connection)
    for layer in layers:
        resource = layer_resource(
            layer, connection, feature_provider_name, editable=layer["id"] in editable
        )
        if resource is not None:
            resources[layer["id"]] = resource
    return config


def layer_resource(
    layer: dict[str, Any],
    connection: ConnectionInfo,
    feature_provider_name: str = FEATURE_PROVIDER,
    *,
    editable: bool = False,
) -> dict[str, Any] | None:
    """One pygeoapi collection for a catalog row, or None for kinds served elsewhere."""
    if layer.get("storage_table"):
        providers = [
            feature_provider(layer, connection)
            | {"name": feature_provider_name, "editable": editable},
            tile_provider(layer, connection),
        ]
    elif layer.get("storage_path"):
        providers = [coverage_provider(layer, connection), map_provider(layer, connection)]
    else:
        return None
    resource: dict[str, Any] = {
        "type": "collection",
        "title": {"zh": layer["title_zh"], "en": layer["title_en"]},
        "description": {
            "zh": layer.get("description") or layer["title_zh"],
            "en": layer.get("description") or layer["title_en"],
        },
        "keywords": list(layer.get("keywords") or []) or [layer["kind"]],
        "links": [],
        "extents": {"spatial": {"bbox": _bbox(layer), "crs": STORAGE_CRS_URI}},
        "providers": providers,
    }
    temporal = _temporal(layer, whole_days=not layer.get("storage_table"))
    if temporal:
        resource["extents"]["temporal"] = temporal
    return resource


def feature_provider(layer: dict[str, Any], connection: ConnectionInfo) -> dict[str, Any]:
    provider: dict[str, Any] = {
        "type": "feature",
        "name": FEATURE_PROVIDER,
        "data": {**connection.as_pygeoapi(), "search_path": [layer["storage_schema"], "public"]},
        "id_field": layer.get("id_field") or "id",
        "table": layer["storage_table"],
        "geom_field": layer.get("geom_field") or "geom",
        "storage_crs": STORAGE_CRS_URI,
        "crs": list(OUTPUT_CRS_URIS),
        "layer_id": layer["id"],
        # changes when the layer is replaced, so providers re-read the table's columns
        "layer_version": f"{layer.get('version')}:{layer.get('updated_at')}",
    }
    if layer.get("time_field"):
        provider["time_field"] = layer["time_field"]
    return provider


def tile_provider(layer: dict[str, Any], connection: ConnectionInfo) -> dict[str, Any]:
    """Mapbox vector tiles of the same table (WebMercatorQuad, WorldCRS84Quad: ``layers.vector_tiles``)."""
    provider = feature_provider(layer, connection)
    provider.update(
        type="tile",
        name=TILE_PROVIDER,
        layer_name=layer["id"],
        options={"zoom": {"min": 0, "max": 22}, "schemes": ["WebMercatorQuad", "WorldCRS84Quad"]},
        format={"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"},
    )
    provider.pop("crs", None)
    return provider


def coverage_provider(layer: dict[str, Any], connection: ConnectionInfo | None = None) -> dict[str, Any]:
    """OGC API Coverages for an imagery COG: GeoTIFF natively, CoverageJSON with f=json."""
    provider = {
        "type": "coverage",
        "name": COVERAGE_PROVIDER,
        "data": layer["storage_path"],
        "format": {"name": "GTiff", "mimetype": "image/tiff; application=geotiff"},
    }
    if connection is not None:  # datetime= picks among the layer's scenes
        provider.update(layer_id=layer["id"], database=connection.as_pygeoapi())
    return provider


def map_provider(layer: dict[str, Any], connection: ConnectionInfo) -> dict[str, Any]:
    """OGC API Maps for imagery: PNG of a lon/lat box, the latest scene on top."""
    return {
        "type": "map",
        "name": MAP_PROVIDER,
        "data": layer["storage_path"],
        "layer_id": layer["id"],
        "database": connection.as_pygeoapi(),
        "crs": "http://www.opengis.net/def/crs/EPSG/0/4326",
        "format": {"name": "png", "mimetype": "image/png"},
    }


def _bbox(layer: dict[str, Any]) -> list[float]:
    bbox = layer.get("bbox")
    if bbox and all(v is not None for v in bbox):
        return [float(v) for v in bbox]
    return [-180.0, -90.0, 180.0, 90.0]


def _temporal(layer: dict[str, Any], *, whole_days: bool = False) -> dict[str, Any] | None:
    """The time extent; ``whole_days`` (imagery) from the first day's start to the last's end,
    so that ``datetime=2024-05-01`` (that day's scenes) passes pygeoapi's range check."""
    start, end = _iso(layer.get("time_start")), _iso(layer.get("time_end"))
    if not (start or end):
        return None
    if whole_days:
        start = start.replace(hour=0, minute=0, second=0, microsecond=0) if start else None
        end = end.replace(hour=23, minute=59, second=59, microsecond=999999) if end else None
    return {"begin": start, "end": end}


def _iso(value: dt.datetime | None) -> dt.datetime | None:
    """UTC datetimes: pygeoapi validates ``datetime=`` against datetime objects, not strings."""
    return value.astimezone(dt.UTC) if value else None


def attach_database(resource: dict[str, Any], connection: ConnectionInfo) -> None:
    """Hand-made processes that ask for it (``database: true``) get the platform's connection."""
    processor = resource.get("processor") if resource.get("type") == "process" else None
    if isinstance(processor, dict) and processor.get("database") is True:
        processor["data"] = connection.as_pygeoapi()
