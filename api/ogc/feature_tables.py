"""Table descriptions kept per process for the feature providers, and reads that survive a swap.

pygeoapi creates a provider object per request, so the description of a table (its columns
and size estimate, one round trip) is kept per (table, layer version). A kept description can
be stale: an upload-replace with ``new_schema`` swaps the table (new columns) in one
transaction, while the pygeoapi configuration naming the old layer version is served until the
gateway's next catalog check. ``read_current`` therefore retries a read the database refused
once, with the table described afresh, when its columns moved; the fresh description replaces
the kept one. Readers see the old layer or the new one, never "column does not exist".
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from layers import features
from spatial.errors import InvalidInput, NotFound

KEPT_TABLES = 512

_tables: OrderedDict[tuple[Any, ...], features.FeatureTable] = OrderedDict()
_lock = threading.Lock()


def describe(
    engine: Engine, schema: str, table: str, id_field: str, geom_field: str,
    time_field: str | None, version: Any, *, fresh: bool = False,
) -> features.FeatureTable:
    """The table's description, kept per (table, layer version); ``fresh``: read it again."""
    key = (engine, schema, table, id_field, geom_field, time_field, version)
    if not fresh:
        with _lock:
            if key in _tables:
                _tables.move_to_end(key)
                return _tables[key]
    described = features.describe_table(
        engine, schema, table, id_field=id_field, geom_field=geom_field, time_field=time_field
    )
    with _lock:
        _tables[key] = described
        _tables.move_to_end(key)
        while len(_tables) > KEPT_TABLES:
            _tables.popitem(last=False)
    return described


def read_current(provider: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(provider.engine, provider.feature_table, *args, **kwargs)``, once more with a fresh
    description when the database refused the read and the table's columns changed since.

    ``provider`` has ``engine``, ``feature_table`` and ``describe_key`` (``describe``'s
    arguments); its ``feature_table`` (and pygeoapi's ``_fields``) are updated on a retry.
    """
    try:
        return func(provider.engine, provider.feature_table, *args, **kwargs)
    except (InvalidInput, NotFound):
        current = describe(*provider.describe_key, fresh=True)
        if current.columns == provider.feature_table.columns:
            raise  # the table is as described: the refusal is the request's own
        provider.feature_table = current
        if hasattr(provider, "_fields"):
            provider._fields = {}
        return func(provider.engine, current, *args, **kwargs)
