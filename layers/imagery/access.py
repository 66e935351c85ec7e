"""Who reads imagery and zones in a statistic: THE read check, for doors and notebooks alike.

Every caller is named: doors (HTTP, OGC API Processes) pass the request's principal (None =
anonymous); the command line and the notebooks' database door pass theirs explicitly. Nothing
here makes one up.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from layers.catalog import find_layer
from layers.imagery.store import ImagerySource, imagery_source
from spatial.access.policy import LayerRef, require_read
from spatial.access.principal import Principal
from spatial.errors import NotFound

Caller = Principal | None


def readable_imagery(engine: Engine, layer: str, caller: Caller) -> ImagerySource:
    """An imagery layer the caller may read; NotFound (one message) when missing or hidden."""
    source = imagery_source(engine, layer)
    ref = LayerRef(source.layer_id, source.department_code, source.visibility)
    try:
        require_read(caller, ref, layer)
    except NotFound:
        raise NotFound(f"no imagery layer named {layer!r}") from None
    return source


def readable_layer(engine: Engine, layer: str, caller: Caller) -> dict[str, Any]:
    """The catalog row of any layer the caller may read; NotFound when missing or hidden."""
    row = find_layer(engine, layer)
    require_read(caller, LayerRef.from_row(row) if row else None, layer)
    assert row is not None
    return row
