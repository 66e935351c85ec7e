"""The pygeoapi API object behind /ogc, rebuilt from the catalog when the catalog changes.

A layer added while the server runs shows up on the next request after ``refresh_seconds``
without a restart: the gateway compares the catalog's version token and, when it moved,
builds a new pygeoapi ``API`` from the regenerated configuration.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from pygeoapi.api import API
from sqlalchemy import Engine

from api.ogc.openapi import self_contained
from api.ogc.templates import offline_templates
from layers import catalog, ogc
from spatial.config import Settings
from spatial.db import connection_info


@dataclass
class _Built:
    api: API
    version: str
    checked_at: float


class PygeoapiGateway:
    """Holds the current pygeoapi API; thread-safe, rebuilt lazily."""

    def __init__(self, settings: Settings, engine: Engine, *, refresh_seconds: float = 1.0) -> None:
        self.settings = settings
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._server_config = ogc.load_server_config(settings.pygeoapi_config)
        self._templates = offline_templates(settings.var_dir)
        self._lock = threading.Lock()
        self._built: _Built | None = None

    def current(self) -> API:
        """The API for the catalog as it is now (checked at most every ``refresh_seconds``)."""
        built = self._built
        now = time.monotonic()
        if built is not None and now - built.checked_at < self.refresh_seconds:
            return built.api
        with self._lock:
            built = self._built
            if built is not None and time.monotonic() - built.checked_at < self.refresh_seconds:
                return built.api
            version = catalog.catalog_version(self.engine)
            if built is not None and built.version == version:
                built.checked_at = time.monotonic()
                return built.api
            api = API(self.config(), openapi=None)
            self._built = _Built(api=api, version=version, checked_at=time.monotonic())
            return api

    def config(self) -> dict[str, Any]:
        layers = catalog.list_layers(self.engine)
        url = self.engine.url.render_as_string(hide_password=False)
        return ogc.build_config(
            self._server_config,
            base_url=self.settings.base_url,
            connection=connection_info(url),
            layers=layers,
            templates_path=self._templates,
            feature_provider_name=self.settings.ogc_feature_provider,
        )

    def openapi(self, api: API) -> dict[str, Any]:
        """The OpenAPI document of ``api``, generated on first use and kept with it."""
        if api.openapi is None:
            from pygeoapi.openapi import get_oas

            api.openapi = self_contained(get_oas(api.config, fail_on_invalid_collection=False))
        return api.openapi
