"""Keeping an analysis answer as an overlay layer: ``save_as``, who owns the layer, the one write gate.

Network analyses (a route, a service area), the planners' 3D analyses, imagery statistics and
earthquake scenarios produce features; every
door (REST, OGC API Processes, the notebooks' client) accepts ``save_as`` (a layer name, or
{name, title, title_en, visibility}) to keep that answer as a new overlay layer of the caller's
department. The steps are the same for every analysis and live here once:

- ``save_arguments``: the ``save_as`` value, parsed (400 on anything else);
- ``check_save``: refused before any work (401 anonymous, 400 for an answer that cannot be kept);
- ``result_frame``: the answer's features as a GeoDataFrame;
- ``save_frame``: the department that owns it (``layer_owner``) and the write through
  ``layers.vector.load_vector_file``, the gate every upload takes (publish check, quality gate,
  catalog, history). Network and 3D answers, imagery statistics and earthquake zones all take it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Required, TypedDict, cast

import geopandas as gpd
import shapely
from sqlalchemy import Engine

from layers.catalog import LayerSpec
from layers.vector import LoadReport, load_vector_file
from spatial.access.principal import Principal
from spatial.errors import InvalidInput, Unauthorized
from spatial.extent import ExtentRule

Caller = Principal | None
SAVE_FIELDS = {"name": "name", "title": "title_zh", "title_zh": "title_zh", "title_en": "title_en",
               "visibility": "visibility", "department": "department"}  # fmt: skip
NEEDS_CREDENTIALS = "saving a result as a layer needs credentials: send Authorization: Bearer <token>"


class SaveAs(TypedDict, total=False):
    """``save_as`` once parsed: the new layer's name and, optionally, its titles, visibility and owner."""

    name: Required[str]
    title_zh: str
    title_en: str
    visibility: str
    department: str


@dataclass(frozen=True)
class About:
    """What a saved result says of itself: default titles (save_as may give its own), description, keywords."""

    title_zh: str
    title_en: str
    description: str  # "Saved by <caller>." is added
    keywords: list[str]
    nothing: str = "the result has no geometry: there is nothing to save"  # the 400 for an empty answer


def save_arguments(given: Any) -> SaveAs | None:
    """``save_as``: a layer name, or {name, title, title_en, visibility, department}.

    ``department`` (default: the caller's own) is held to the write gate's publish check like any upload."""
    if given in (None, "", False):
        return None
    if isinstance(given, str):
        given = {"name": given}
    if not isinstance(given, Mapping) or not given.get("name"):
        raise InvalidInput("save_as: give the new layer's name, or an object with a name")
    unknown = [key for key in given if key not in SAVE_FIELDS]
    if unknown:
        raise InvalidInput(f"save_as: unknown field {str(unknown[0])[:40]!r}; known: {', '.join(SAVE_FIELDS)}")
    out: dict[str, str] = {}
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float) or len(str(value)) > 500:
            raise InvalidInput(f"save_as.{key} must be a short text")
        out[SAVE_FIELDS[key]] = str(value).strip()
    return cast(SaveAs, out)


def check_save(save: SaveAs | None, caller: Caller, operation: str = "",
               savable: Collection[str] | None = None) -> None:  # fmt: skip
    """Refuse a save before any work: only answers that can be kept, only with credentials."""
    if save is None:
        return
    if savable is not None and operation not in savable:
        raise InvalidInput(f"save_as keeps {' or '.join(savable)} results, not a {operation} result")
    if caller is None:
        raise Unauthorized(NEEDS_CREDENTIALS)


def layer_owner(principal: Caller, department: str | None = None) -> tuple[Principal, str]:
    """The caller and the department that will own a saved result (401 anonymous, 400 without one)."""
    if principal is None:
        raise Unauthorized(NEEDS_CREDENTIALS)
    owner = department or principal.department_code
    if not owner:
        raise InvalidInput("the caller belongs to no department: say which department owns the new layer (save_as.department)")
    return principal, owner


def result_frame(answer: Mapping[str, Any], lists: Literal["join", "drop"] = "join") -> gpd.GeoDataFrame:
    """An answer's features as a GeoDataFrame: list properties joined into text, or left out."""
    rows, shapes = [], []
    for feature in answer.get("features", []):
        props = feature.get("properties", {})
        row = {k: v for k, v in props.items() if not isinstance(v, dict) and not (lists == "drop" and isinstance(v, list))}
        rows.append({k: ", ".join(str(i) for i in v) if isinstance(v, list) else v for k, v in row.items()})
        shape = feature.get("geometry")
        shapes.append(shapely.geometry.shape(shape) if shape else None)
    return gpd.GeoDataFrame(rows, geometry=shapes, crs="EPSG:4326")


def save_frame(
    engine: Engine, frame: gpd.GeoDataFrame, about: About, save: SaveAs, *, principal: Caller, door: str = "cli",
    extent: ExtentRule | None = None,
) -> LoadReport:  # fmt: skip
    """Publish ``frame`` (lon/lat) as the new overlay layer ``save`` names, through the one write gate."""
    principal, owner = layer_owner(principal, save.get("department"))  # refused before anything about the layers is said
    frame = frame[frame.geometry.notna()]
    if frame.empty:
        raise InvalidInput(about.nothing)
    spec = LayerSpec(
        id=save["name"], title_zh=save.get("title_zh") or about.title_zh, title_en=save.get("title_en") or about.title_en,
        department_code=owner, visibility=save.get("visibility") or "department", description=f"{about.description} Saved by {principal.name}.", keywords=about.keywords,
    )  # fmt: skip
    spec.validate()  # the name, before it names a file
    with tempfile.TemporaryDirectory(prefix="onemap-result-") as folder:
        path = Path(folder) / "result.gpkg"
        frame.to_file(path, driver="GPKG", layer="result", engine="pyogrio")
        return load_vector_file(engine, path, spec, principal=principal, door=door, extent=extent)
