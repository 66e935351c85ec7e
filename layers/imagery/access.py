"""Who reads imagery and zones in a statistic: THE read check, for doors and notebooks alike.

Doors (HTTP, OGC API Processes) pass the caller's principal (None = anonymous); a notebook or
the command line passes nothing and acts as the local operator, who holds the database's own
credentials (``spatial.access.principal.local_operator``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from layers.catalog import find_layer
from layers.imagery.store import ImagerySource, imagery_source
from spatial.access.policy import LayerRef, require_read
from spatial.access.principal import Principal, local_operator
from spatial.errors import NotFound


class Operator:
    """Marks "the local operator" as a default argument (None already means anonymous)."""


OPERATOR = Operator()
Caller = Principal | None | Operator


def acting(caller: Caller) -> Principal | None:
    """The principal a call acts as: the local operator when none was named."""
    return local_operator() if isinstance(caller, Operator) else caller


def readable_imagery(engine: Engine, layer: str, caller: Caller) -> ImagerySource:
    """An imagery layer the caller may read; NotFound (one message) when missing or hidden."""
    source = imagery_source(engine, layer)
    ref = LayerRef(source.layer_id, source.department_code, source.visibility)
    try:
        require_read(acting(caller), ref, layer)
    except NotFound:
        raise NotFound(f"no imagery layer named {layer!r}") from None
    return source


def readable_layer(engine: Engine, layer: str, caller: Caller) -> dict[str, Any]:
    """The catalog row of any layer the caller may read; NotFound when missing or hidden."""
    row = find_layer(engine, layer)
    require_read(acting(caller), LayerRef.from_row(row) if row else None, layer)
    assert row is not None
    return row
