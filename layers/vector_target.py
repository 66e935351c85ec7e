"""Decide what a vector load does to the catalog: create a layer, or replace an existing one.

Runs THE permission check (publishing a new layer, or writing an existing one) and merges the
caller's catalog fields with the existing row's: a replace keeps the layer's storage, owner,
time field, and (unless given) its style, keywords and description.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, text

from layers.catalog import LayerSpec
from layers.overlay_table import OverlayTable, describe_overlay
from spatial.access.policy import LayerRef, require_publish, require_write
from spatial.access.principal import Principal
from spatial.errors import InvalidInput

KEEPABLE = ("title_zh", "title_en", "visibility", "description")


@dataclass(frozen=True)
class LoadPlan:
    """The catalog entry to write, and the table to refill (None: build a new table and swap)."""

    spec: LayerSpec
    target: OverlayTable | None

    @property
    def replaces(self) -> bool:
        return self.target is not None


def plan_load(
    conn: Connection, spec: LayerSpec, principal: Principal, *, keep: Collection[str] = (),
    new_schema: bool = False,
) -> LoadPlan:
    """Permission-checked plan for loading ``spec``; ``keep``: fields to take from the existing row."""
    unknown = set(keep) - set(KEEPABLE)
    if unknown:
        raise ValueError(f"cannot keep {sorted(unknown)}; keepable: {KEEPABLE}")
    found = conn.execute(text("SELECT * FROM catalog.layer WHERE id = :id"), {"id": spec.id}).mappings().first()
    if found is None:
        require_publish(principal, spec.department_code)
        return LoadPlan(dataclasses.replace(spec, replaces=None), None)
    row = dict(found)
    require_write(principal, LayerRef.from_row(row))
    if row["department_code"] != spec.department_code:
        raise InvalidInput(
            f"layer {spec.id!r} belongs to department {row['department_code']!r}, not "
            f"{spec.department_code!r}: a load does not change a layer's owner"
        )
    merged = dataclasses.replace(
        spec,
        storage_schema=row["storage_schema"],
        storage_table=row["storage_table"],
        id_field=row["id_field"],
        geom_field=row["geom_field"],
        time_field=row["time_field"],
        style=spec.style or dict(row["style"] or {}),
        keywords=spec.keywords or list(row["keywords"] or []),
        description=spec.description or row["description"],
        replaces=str(row["uid"]),
        **{name: row[name] for name in keep},
    )
    if not new_schema:
        return LoadPlan(merged, describe_overlay(conn, row))
    if row["storage_table"] != spec.id:
        raise InvalidInput(
            f"layer {spec.id!r} is stored in the platform's own table thematic."
            f"{row['storage_table']}: its attributes cannot be changed by a load"
        )
    return LoadPlan(merged, None)
