"""The polygons statistics are computed over: any polygon layer of the catalog, read from PostGIS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Engine, and_, func, select

from layers.features import describe_table
from spatial.errors import InvalidInput, PayloadTooLarge

MAX_ZONES = 250_000
BBox = tuple[float, float, float, float]


@dataclass
class Zones:
    """Polygons of a layer in lon/lat, their ids and the properties asked for."""

    layer: str
    id_field: str
    ids: list[Any]
    geometries: np.ndarray  # shapely (Multi)Polygons, SRID 4326
    properties: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


def read_zones(
    engine: Engine,
    row: dict[str, Any],
    *,
    within: BBox | None = None,
    properties: Sequence[str] = (),
    max_zones: int = MAX_ZONES,
) -> Zones:
    """The polygons of catalog layer ``row`` meeting the lon/lat box ``within`` (all by default)."""
    if not row.get("storage_table"):
        raise InvalidInput(f"layer {row['id']!r} has no features: statistics need a polygon layer")
    kind = (row.get("geometry_type") or "").upper()
    if kind and "POLYGON" not in kind and kind not in ("GEOMETRY", "GEOMETRYCOLLECTION"):
        raise InvalidInput(
            f"layer {row['id']!r} holds {kind.lower()} features: statistics need polygons"
        )
    table = describe_table(engine, row["storage_schema"], row["storage_table"],
                           id_field=row["id_field"], geom_field=row["geom_field"], time_field=None)  # fmt: skip
    unknown = [name for name in properties if name not in table.columns]
    if unknown:
        raise InvalidInput(
            f"layer {row['id']!r} has no property {unknown[0]!r}; it has {', '.join(table.columns)}"
        )
    geom = table.sa_table.c[table.geom_field]
    columns = [table.sa_table.c[table.id_field], *(table.sa_table.c[p] for p in properties)]
    query = select(*columns, func.ST_AsBinary(geom).label("wkb")).where(
        and_(func.ST_Dimension(geom) == 2, *_within(geom, within))
    ).order_by(table.sa_table.c[table.id_field]).limit(max_zones + 1)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if len(rows) > max_zones:
        raise PayloadTooLarge(
            f"layer {row['id']!r} has more than {max_zones:,} polygons here: give a smaller bbox"
        )
    return Zones(
        layer=row["id"],
        id_field=table.id_field,
        ids=[r[0] for r in rows],
        geometries=shapely.from_wkb([r[-1] for r in rows]) if rows else np.array([], dtype=object),
        properties={name: [r[i + 1] for r in rows] for i, name in enumerate(properties)},
    )


def _within(geom: Any, bbox: BBox | None) -> list[Any]:
    if bbox is None:
        return []
    envelope = func.ST_MakeEnvelope(*bbox, 4326)
    return [geom.op("&&")(envelope)]
