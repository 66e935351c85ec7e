"""The catalog behind imagery providers: which scenes a layer has, for ``datetime=`` and maps.

pygeoapi builds providers from their definitions alone; imagery providers carry the layer id
and the database connection (filled in by ``layers.ogc``), and look scenes up through one
pooled engine per database, kept for the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from api.ogc.errors import provider_error
from layers.imagery.store import ImagerySource, imagery_source
from spatial.db import engine_of
from spatial.errors import OnemapError


def source_of(provider_def: dict[str, Any]) -> ImagerySource:
    """The imagery layer (with its scenes) a provider definition names."""
    database = provider_def["database"]
    engine = engine_of(database)  # the process's one engine of that database
    return imagery_source(engine, provider_def["layer_id"])



@contextmanager
def with_provider_errors() -> Iterator[None]:
    """Domain errors of imagery work raised as pygeoapi provider errors (``api.ogc.errors``).

    BudgetExceeded stays a 400 with the limit and how to ask less; ServerBusy a 503.
    """
    try:
        yield
    except OnemapError as err:
        wrapped = provider_error(err)
        if wrapped is None:
            raise
        raise wrapped from err
