"""Roll the base map back to an archived version, with everything derived from it, in one transaction."""

from __future__ import annotations

from sqlalchemy import Engine, text

from layers.catalog import lock_layer, register_layer
from layers.city.catalog import BASEMAP_LAYERS, basemap_layers
from layers.city.grid import follow_grid
from layers.city.profile import CityProfile
from layers.city.report import CityReport
from layers.city.versions import lock_basemap, restore_version
from spatial.access.policy import require_admin
from spatial.access.principal import Principal
from spatial.audit import record_audit
from spatial.extent import forget_divisions_box
from spatial.geocoding.index import refresh_index


def rollback_city(engine: Engine, version_id: int, *, principal: Principal) -> int | None:
    """Version ``version_id`` current again: data, geocoding index, catalog titles and grid."""
    require_admin(principal, "roll the base map back")
    with engine.begin() as conn:
        lock_basemap(conn)
        for layer_id, *_ in BASEMAP_LAYERS:
            lock_layer(conn, layer_id)
        replaced = restore_version(conn, version_id)
        refresh_index(conn)
        stored = conn.execute(
            text("SELECT profile FROM basemap.version WHERE id = :id"), {"id": version_id}
        ).scalar_one()
        profile = CityProfile.model_validate(stored)
        for spec in basemap_layers(profile, source_note=f"city profile {profile.code}"):
            register_layer(conn, spec)
        follow_grid(conn, profile.grid, principal, CityReport(profile.code))
        record_audit(conn, "city.rollback", f"base map version {version_id}", principal=principal,
                     detail={"replaced": replaced})  # fmt: skip
    forget_divisions_box()
    return replaced
