"""The catalog behind imagery providers: which scenes a layer has, for ``datetime=`` and maps.

pygeoapi builds providers from their definitions alone; imagery providers carry the layer id
and the database connection (filled in by ``layers.ogc``), and look scenes up through one
pooled engine per database, kept for the process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import URL

from layers.imagery.store import ImagerySource, imagery_source
from spatial.db import make_engine


@lru_cache(maxsize=8)
def _engine(host: str, port: int, dbname: str, user: str, password: str) -> Engine:
    url = URL.create("postgresql+psycopg", username=user, password=password, host=host,
                     port=port, database=dbname)  # fmt: skip
    return make_engine(url.render_as_string(hide_password=False), pool_size=2)


def source_of(provider_def: dict[str, Any]) -> ImagerySource:
    """The imagery layer (with its scenes) a provider definition names."""
    database = provider_def["database"]
    engine = _engine(database["host"], int(database["port"]), database["dbname"],
                     database["user"], database["password"])  # fmt: skip
    return imagery_source(engine, provider_def["layer_id"])
