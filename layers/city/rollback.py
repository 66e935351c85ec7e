"""Roll the base map back to an archived version, with everything derived from it, in one transaction."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from layers.catalog import lock_layer, register_layer
from layers.city.catalog import BASEMAP_LAYERS, basemap_layers
from layers.city.grid import follow_grid
from layers.city.profile import CityProfile
from layers.city.report import CityReport
from layers.city.versions import lock_basemap, restore_version
from layers.plates import write_plates
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
        report = CityReport(profile.code)
        follow_grid(conn, profile.grid, principal, report)
        plates = follow_plates(conn, profile, report)
        record_audit(conn, "city.rollback", f"base map version {version_id}", principal=principal,
                     detail={"replaced": replaced, "plates": plates})  # fmt: skip
    forget_divisions_box()
    return replaced


def follow_plates(conn: Connection, profile: CityProfile, report: CityReport) -> str:
    """Location plates for the restored roads: generated ones are placed again along them (same
    scheme, so the same roads get the same codes); plates from a city's own file are kept as they
    are (the file is not read again at rollback; ``onemap city load`` reads it)."""
    if profile.plates is not None and profile.plates.source is not None:
        return "kept (the city's own plate file)"
    summary = write_plates(conn, profile, report, from_file=None)
    return f"{summary.plates} generated"
