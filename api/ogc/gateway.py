"""The pygeoapi API objects behind /ogc: one per *view*, rebuilt when the catalog changes.

A view is a group of callers who see and may change the same layers (anonymous, a
department's readers, a department's editors, admins; see ``spatial.access.policy.view_key``).
Each view's API is built from the catalog rows THE permission check lets that view read, with
transactions offered on the rows it may write. A hidden collection is therefore absent
everywhere, in /collections, the OpenAPI document and HTML pages, and a direct request for it
is the same 404 as for a collection that does not exist.

A layer added while the server runs shows up on the next request after ``refresh_seconds``
without a restart: the gateway compares the catalog's version token and, when it moved,
builds a new pygeoapi ``API`` from the regenerated configuration.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any

from pygeoapi.api import API
from sqlalchemy import Engine

from api.ogc.coverage_routes import document_coverage_parameters
from api.ogc.feature_requests import document_items_parameters
from api.ogc.openapi import self_contained
from api.ogc.openapi_access import with_access
from api.ogc.templates import offline_templates
from layers import catalog, ogc
from spatial.access.policy import LayerRef, can_read, can_write, view_key
from spatial.access.principal import Principal
from spatial.config import Settings
from spatial.db import connection_info

ACCESS_KEYS = ("visibility", "department")  # on hand-made resources in pygeoapi-config.yml


@dataclass
class _Built:
    api: API
    version: str
    checked_at: float


class PygeoapiGateway:
    """Holds the current pygeoapi API of each view; thread-safe, rebuilt lazily."""

    def __init__(self, settings: Settings, engine: Engine, *, refresh_seconds: float = 1.0) -> None:
        self.settings = settings
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._server_config = ogc.load_server_config(settings.pygeoapi_config)
        self._templates = offline_templates(settings.var_dir)
        self._lock = threading.Lock()
        self._views: dict[str, _Built] = {}

    def fresh(self, principal: Principal | None) -> API | None:
        """The API of ``principal``'s view when it was checked within ``refresh_seconds``, else None.

        Never touches the database, so the event loop may ask it (``current`` may read the
        catalog's version and belongs in a worker thread).
        """
        built = self._views.get(view_key(principal))
        if built is not None and time.monotonic() - built.checked_at < self.refresh_seconds:
            return built.api
        return None

    def current(self, principal: Principal | None) -> API:
        """The API of ``principal``'s view for the catalog as it is now (checked every ``refresh_seconds``)."""
        key = view_key(principal)
        built = self._views.get(key)
        if built is not None and time.monotonic() - built.checked_at < self.refresh_seconds:
            return built.api
        with self._lock:
            built = self._views.get(key)
            if built is not None and time.monotonic() - built.checked_at < self.refresh_seconds:
                return built.api
            version = catalog.catalog_version(self.engine)
            if built is not None and built.version == version:
                built.checked_at = time.monotonic()
                return built.api
            api = API(self.config(principal), openapi=None)
            self._views[key] = _Built(api=api, version=version, checked_at=time.monotonic())
            return api

    def recheck(self) -> None:
        """Compare the catalog's version on the next request of every view (after a publish here)."""
        for built in list(self._views.values()):
            built.checked_at = float("-inf")

    def config(self, principal: Principal | None) -> dict[str, Any]:
        """pygeoapi's configuration for ``principal``'s view."""
        layers = []
        editable = set()
        for row in catalog.list_layers(self.engine):
            ref = LayerRef.from_row(row)
            if can_read(principal, ref):
                layers.append(row)
                if can_write(principal, ref):
                    editable.add(row["id"])
        url = self.engine.url.render_as_string(hide_password=False)
        return ogc.build_config(
            self._visible_server_config(principal),
            base_url=self.settings.base_url,
            connection=connection_info(url),
            layers=layers,
            templates_path=self._templates,
            feature_provider_name=self.settings.ogc_feature_provider,
            editable=frozenset(editable),
        )

    def _visible_server_config(self, principal: Principal | None) -> dict[str, Any]:
        """Hand-made resources (processes) the view may see, by their ``visibility`` keys."""
        config = copy.deepcopy(self._server_config)
        resources = {}
        for name, resource in config.get("resources", {}).items():
            ref = LayerRef(
                id=name,
                department_code=str(resource.get("department", "")),
                visibility=str(resource.get("visibility", "public")),
            )
            if can_read(principal, ref):
                resources[name] = {k: v for k, v in resource.items() if k not in ACCESS_KEYS}
        config["resources"] = resources
        return config

    def openapi(self, api: API) -> dict[str, Any]:
        """The OpenAPI document of ``api``, generated on first use and kept with it."""
        if api.openapi is None:
            from pygeoapi.openapi import get_oas

            document = get_oas(api.config, fail_on_invalid_collection=False)
            api.openapi = with_access(document_coverage_parameters(document_items_parameters(self_contained(document))))
        return api.openapi
