"""Grid management for the demo city: the incident catalogue and a unit grid over its communities."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from layers.grid_layers import register_grid_layers
from spatial.access.principal import Principal
from spatial.grid.build import GridReport, GridSource, build_grid
from spatial.incidents.calendar import default_calendar
from spatial.incidents.categories import DEFAULT_FILE, load_catalogue, read_catalogue


@dataclass
class GridManagementSummary:
    categories: dict[str, int]
    grid: GridReport

    def describe(self) -> str:
        return (
            f"grid management: {self.categories['categories']} incident categories, "
            f"{self.categories['departments']} departments; {self.grid.describe()}"
        )


def prepare_grid_management(engine: Engine, *, operator: Principal) -> GridManagementSummary:
    """Load the shipped category catalogue and build a new unit-grid version over the communities.

    Run after every demo load: the communities may have changed, and a rebuild is a new grid
    version, so incidents filed earlier keep the cells they were routed to. ``operator`` is
    who does it (recorded in the audit log): the CLI passes its local operator.
    """
    catalogue = read_catalogue(DEFAULT_FILE, default_calendar().minutes_per_day)
    counts = load_catalogue(engine, catalogue, principal=operator)
    report = build_grid(engine, GridSource(), principal=operator)
    with engine.begin() as conn:
        register_grid_layers(conn)
    return GridManagementSummary(categories=counts, grid=report)
