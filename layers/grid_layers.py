"""The grid-management layers of the one map: the current unit grid, incidents for everyone (no
personal data) and incidents for staff, registered in the catalog like any other layer."""

from __future__ import annotations

from sqlalchemy import Connection, text

from layers.catalog import LayerSpec, register_layer, upsert_department

OWNER = ("urban", "城市管理局", "Urban Management Bureau")
KEYWORDS = ["网格化管理", "grid management", "城市管理"]


def grid_layer_specs() -> list[LayerSpec]:
    """Catalog entries of the unit grid and the two incident views."""
    return [
        LayerSpec(
            id="unit_grid", title_zh="单元网格", title_en="Unit grid", department_code=OWNER[0],
            kind="grid", storage_schema="grid", storage_table="current_cell",
            description="现行版本的单元网格 (~10,000 m² cells, 15-digit codes) of the grid-management system.",
            keywords=[*KEYWORDS, "单元网格", "unit grid"], style={"color": "#3182bd", "fill": False, "weight": 1},
        ),
        LayerSpec(
            id="incidents", title_zh="城市管理案件", title_en="City-management incidents",
            department_code=OWNER[0], kind="incidents", storage_schema="incidents",
            storage_table="incident_public", time_field="reported_at",
            description="部件与事件案件的公开信息（不含上报人信息） (public view: no personal data).",
            keywords=[*KEYWORDS, "案件", "incidents", "Open311"], style={"color": "#e6550d", "radius": 5, "color_by": "status"},
        ),
        LayerSpec(
            id="incidents_internal", title_zh="城市管理案件（内部）", title_en="Incidents (staff)",
            department_code=OWNER[0], kind="incidents", visibility="internal", storage_schema="incidents",
            storage_table="incident", time_field="reported_at",
            description="案件全部信息：上报人、路由说明、流程状态与时限 (staff view with reporter and workflow).",
            keywords=[*KEYWORDS, "案件", "internal"], style={"color": "#a63603", "radius": 5, "color_by": "state"},
        ),
    ]  # fmt: skip


def register_grid_layers(conn: Connection) -> list[str]:
    """Register (or refresh) the layers whose tables exist; their ids."""
    upsert_department(conn, *OWNER)
    registered = []
    for spec in grid_layer_specs():
        exists = conn.execute(
            text("SELECT to_regclass(:name)"), {"name": f"{spec.storage_schema}.{spec.storage_table}"}
        ).scalar()
        if exists is not None:
            register_layer(conn, spec)
            registered.append(spec.id)
    return registered
