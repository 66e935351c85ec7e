"""Small, explicit adaptations of pygeoapi 0.21 to the OGC standards it partly follows.

- ``filter=`` is parsed by pygeoapi as ECQL only; CQL2 text (``S_INTERSECTS``, ``T_AFTER``…)
  is tried when ECQL does not parse, so both dialects work.
- ``filter-lang=cql2-text`` / ``cql2-json`` (the names CQL2 defines) are accepted beside the
  older ``cql-text`` / ``cql-json`` pygeoapi knows.
- JSON responses of items are written with orjson, and a page of features our provider got
  from PostgreSQL as JSON text (``layers.features.FeatureList``) is embedded as is instead of
  being parsed and re-serialised (pygeoapi's ``json.dumps`` was a third of a request's time).
- Items follow the features door's rules (``api.ogc.feature_requests``): its datetime reading,
  and its last word on a page's links before they are written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import pygeoapi.api.itemtypes as itemtypes_api
from pygeoapi.util import json_serial
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text
from pygeofilter.parsers.ecql import parse as parse_ecql

from api.ogc import feature_requests
from layers.features import FeatureList

FILTER_LANG_ALIASES = {"cql2-text": "cql-text", "cql2-json": "cql-json"}


def parse_cql_text(text: str) -> Any:
    """ECQL first (pygeoapi's dialect), then OGC CQL2 text."""
    try:
        return parse_ecql(text)
    except Exception:  # lark raises several unrelated classes; the CQL2 parser decides
        return parse_cql2_text(text)


def normalise_query_string(query_string: bytes) -> bytes:
    """Rewrite CQL2 filter-lang names to the ones pygeoapi accepts."""
    if b"filter-lang" not in query_string:
        return query_string
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    pairs = [(k, FILTER_LANG_ALIASES.get(v, v) if k == "filter-lang" else v) for k, v in pairs]
    return urlencode(pairs).encode("latin-1")


def _default(value: Any) -> Any:
    if isinstance(value, FeatureList):
        return orjson.Fragment(value.raw)
    for plain in (dict, list, str, int):  # other subclasses (OrderedDict…) as their base type
        if isinstance(value, plain):
            return plain(value)  # type: ignore[arg-type]
    return json_serial(value)


def to_json(content: dict, pretty: bool = False) -> str:
    """pygeoapi's ``to_json`` with orjson; features kept as PostgreSQL wrote them."""
    feature_requests.prepare_for_json(content)
    # PASSTHROUGH_SUBCLASS: orjson would otherwise write a FeatureList as the (empty) list it is
    options = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | (orjson.OPT_INDENT_2 if pretty else 0)
    return orjson.dumps(content, default=_default, option=options).decode()


class QueryStringMiddleware:
    """ASGI middleware applying ``normalise_query_string`` before any handler reads the query."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("query_string"):
            scope = dict(scope, query_string=normalise_query_string(scope["query_string"]))
        await self.app(scope, receive, send)


def install() -> None:
    """Apply the adaptations (idempotent)."""
    itemtypes_api.parse_ecql_text = parse_cql_text
    itemtypes_api.to_json = to_json
    feature_requests.install()
