"""The context of one OGC API call, for providers that pygeoapi creates without the request.

pygeoapi hands a provider only the parsed query or the request body; who is asking, and the
headers that matter to transactions (Content-Crs, If-Match), reach our provider through this
context variable, set by ``api.ogc.routes`` around each call. The provider records the ETag
of what it read or wrote here, and the route puts it in the response headers.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from spatial.access.principal import Principal
from spatial.config import Settings
from spatial.coverage_params import CoverageQuery


@dataclass
class OgcCall:
    """Who asks, with which transaction headers; what the provider saw (the ETag)."""

    principal: Principal | None
    settings: Settings
    content_crs: str | None = None
    if_match: str | None = None
    merge: bool = False  # PATCH: merge the body onto the stored feature
    etag: str | None = None
    coverage: CoverageQuery | None = None  # subset/scale parameters, parsed by the route


CURRENT_CALL: ContextVar[OgcCall | None] = ContextVar("onemap_ogc_call", default=None)
