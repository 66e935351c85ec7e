"""The HTTP door: the platform's OGC API (features, queryables) and REST (/api/v1) with a token.

Feature pages follow the OGC API's ``next`` links; errors come back as the same domain
exceptions the database door raises, carrying the server's message.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from layers.client.backend import Record
from layers.client.frames import Fields
from layers.client.query import LayerQuery
from spatial import errors as domain
from spatial.errors import DatabaseUnavailable, OnemapError, TooManyRequests


def _error_classes() -> list[type[OnemapError]]:
    """Every domain exception class with a status of its own (the server's one table, read back)."""
    found, todo = [], [OnemapError]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__ == domain.__name__ and cls.status != 500:
            found.append(cls)
    return found


BY_CODE: dict[str, type[OnemapError]] = {cls.code: cls for cls in _error_classes()}
BY_STATUS: dict[int, type[OnemapError]] = {}
for _cls in sorted(_error_classes(), key=lambda c: len(c.__mro__)):  # the most general class per status
    BY_STATUS.setdefault(_cls.status, _cls)


class RemoteBackend:
    """The platform at ``base_url`` (e.g. http://127.0.0.1:8000), as the holder of ``token``."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 120.0,
                 client: httpx.Client | None = None) -> None:  # fmt: skip
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = client or httpx.Client(timeout=timeout)
        self.client.headers.update(headers)

    def describe(self) -> str:
        """The server's URL."""
        return self.base_url

    # ------------------------------------------------------------------------------ HTTP
    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document (``path`` relative to the base URL, or a full URL)."""
        url = httpx.URL(path if path.startswith("http") else self.base_url + path)
        # httpx replaces a URL's query with ``params``: merge them (next links carry a query)
        return self._json(self.client.get(url.copy_merge_params(dict(params or {}))))

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """POST a JSON object; the JSON answer."""
        return self._json(self.client.post(self.base_url + path, json=dict(body)))

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        if response.status_code < 400:
            return response.json()
        raise http_error(response)

    # ------------------------------------------------------------------------- catalog
    def layers(self) -> list[Record]:
        """GET /api/v1/layers."""
        return list(self.get("/api/v1/layers")["layers"])

    def fields(self, layer: str) -> Fields:
        """GET /ogc/collections/{layer}/queryables."""
        found = self.get(f"/ogc/collections/{layer}/queryables", {"f": "json"})
        return {k: v for k, v in found.get("properties", {}).items() if k != "geometry"}

    def feature_pages(self, layer: str, query: LayerQuery, page_size: int) -> Iterator[list[Record]]:
        """GET …/items, then each ``next`` link, until the limit or the last page."""
        url: str | None = f"/ogc/collections/{layer}/items"
        params = item_params(query, page_size)
        fetched = 0
        while url is not None:
            page = self.get(url, params)
            features = list(page.get("features", []))
            left = query.remaining(fetched)
            features = features if left is None else features[:left]
            fetched += len(features)
            yield features
            url = next_link(page) if features and query.remaining(fetched) != 0 else None
            params = {"f": "json"}  # the next link repeats everything else

    # ------------------------------------------------------------------------- imagery
    def zonal_statistics(self, imagery: str, zones: str, options: Mapping[str, Any]) -> list[Record]:
        """POST /api/v1/imagery/{imagery}/statistics (f=geojson)."""
        body = {"zones": zones, "f": "geojson", **{k: v for k, v in options.items() if v is not None}}
        return list(self.post(f"/api/v1/imagery/{imagery}/statistics", body)["features"])

    # ------------------------------------------------------------------------ geocoding
    def geocode(self, address: str, limit: int) -> list[Record]:
        """GET /api/v1/geocode."""
        return list(self.get("/api/v1/geocode", {"q": address, "limit": limit})["features"])

    def reverse(self, lon: float, lat: float, limit: int, radius_m: float) -> list[Record]:
        """GET /api/v1/reverse."""
        params = {"lon": lon, "lat": lat, "limit": limit, "radius": radius_m}
        return list(self.get("/api/v1/reverse", params)["features"])

    # ------------------------------------------------------------------------ incidents
    def categories(self) -> list[Record]:
        """GET /api/v1/incidents/categories."""
        return list(self.get("/api/v1/incidents/categories")["categories"])

    def file_incident(self, report: Mapping[str, Any]) -> Record:
        """POST /api/v1/incidents."""
        return dict(self.post("/api/v1/incidents", report))

    def incident(self, incident_id: int) -> Record:
        """GET /api/v1/incidents/{id}."""
        return dict(self.get(f"/api/v1/incidents/{int(incident_id)}"))

    def incident_events(self, incident_id: int) -> list[Record]:
        """GET /api/v1/incidents/{id}/events."""
        return list(self.get(f"/api/v1/incidents/{int(incident_id)}/events")["events"])

    def transition(self, incident_id: int, fields: Mapping[str, Any], photos: list[bytes]) -> Record:
        """POST /api/v1/incidents/{id}/transitions (multipart when photos go with it)."""
        path = f"/api/v1/incidents/{int(incident_id)}/transitions"
        if not photos:
            return dict(self.post(path, fields))
        form = {k: str(v) for k, v in fields.items() if v is not None}
        files = [("photo", (f"photo{i}", data)) for i, data in enumerate(photos)]
        return dict(self._json(self.client.post(self.base_url + path, data=form, files=files)))

    def kpis(self, by: str, since: str | None, until: str | None) -> list[Record]:
        """GET /api/v1/supervision/kpis."""
        params = {k: v for k, v in {"by": by, "since": since, "until": until}.items() if v is not None}
        return list(self.get("/api/v1/supervision/kpis", params)["groups"])

    def overdue(self, department: str | None, warnings: bool) -> list[Record]:
        """GET /api/v1/supervision/overdue."""
        params = {"warnings": str(warnings).lower()} | ({"department": department} if department else {})
        return list(self.get("/api/v1/supervision/overdue", params)["incidents"])


def item_params(query: LayerQuery, page_size: int) -> dict[str, Any]:
    """Query parameters of the first items page."""
    limit = page_size if query.limit is None else max(min(page_size, query.limit), 1)
    params: dict[str, Any] = {"f": "json", "limit": limit}
    if query.bbox is not None:
        params["bbox"] = ",".join(repr(v) for v in query.bbox)
    if query.filter:
        params["filter"] = query.filter
        params["filter-lang"] = "cql-text"
    if query.datetime:
        params["datetime"] = query.datetime
    if query.properties:
        params["properties"] = ",".join(query.properties)
    if query.crs.epsg != 4326 or query.crs.lat_first:
        params["crs"] = query.crs.uri
    return params


def next_link(page: Mapping[str, Any]) -> str | None:
    """The href of the page's ``next`` link, if any."""
    return next((link["href"] for link in page.get("links", []) if link.get("rel") == "next"), None)


def http_error(response: httpx.Response) -> OnemapError:
    """The domain exception of an error answer, with the server's description."""
    code = None
    try:
        body = response.json()
        message = str(body.get("description") or body.get("detail") or body)
        code = body.get("code")
    except (ValueError, AttributeError):
        message = response.text[:500] or response.reason_phrase
    retry = int(response.headers.get("retry-after", "0") or 0)
    if response.status_code == 429:
        return TooManyRequests(message, retry_after=max(retry, 1))
    kind = BY_CODE.get(code) if isinstance(code, str) else None
    if kind is None or kind.status != response.status_code:
        kind = BY_STATUS.get(response.status_code, OnemapError)
    text = f"{message} (HTTP {response.status_code} from {response.request.url.path})"
    if issubclass(kind, DatabaseUnavailable):
        return kind(text, retry_after=retry or None)
    return kind(text)
