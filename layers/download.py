"""Whole-layer downloads: a vector layer as one GeoJSON file (streamed), an imagery layer's COG.

The caller checks permission first (``spatial.access.policy.require_read``); this module only
reads. GeoJSON is written by PostgreSQL feature by feature through a server-side cursor, so a
big layer never sits whole in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from spatial.errors import NotFound

BATCH = 2_000


@dataclass(frozen=True)
class Download:
    """What to send: a file on disk, or chunks of a generated file."""

    filename: str
    media_type: str
    path: Path | None = None
    chunks: Iterator[bytes] | None = None


def layer_download(engine: Engine, row: dict[str, Any]) -> Download:
    """The download of a catalog row (as ``layers.catalog.find_layer`` gives it)."""
    if row.get("storage_table"):
        return Download(f"{row['id']}.geojson", "application/geo+json", chunks=geojson_chunks(engine, row))
    if row.get("storage_path") and Path(row["storage_path"]).is_file():
        return Download(f"{row['id']}.tif", "image/tiff; application=geotiff", path=Path(row["storage_path"]))
    raise NotFound(f"layer {row['id']!r} has nothing to download")


def geojson_chunks(engine: Engine, row: dict[str, Any]) -> Iterator[bytes]:
    """A FeatureCollection of every feature in id order, a batch of features per chunk."""
    id_field, geom_field = row["id_field"] or "id", row["geom_field"] or "geom"
    statement = text(
        f"SELECT json_build_object('type', 'Feature', 'id', t.\"{id_field}\", "
        f"'geometry', ST_AsGeoJSON(t.\"{geom_field}\", 7)::json, "
        f"'properties', to_jsonb(t) - '{id_field}' - '{geom_field}')::text "
        f'FROM "{row["storage_schema"]}"."{row["storage_table"]}" t ORDER BY t."{id_field}"'
    )
    yield b'{"type": "FeatureCollection", "features": [\n'
    first = True
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(statement)
        for batch in result.scalars().partitions(BATCH):
            joined = ",\n".join(batch).encode()
            yield joined if first else b",\n" + joined
            first = False
    yield b"\n]}\n"
