"""Settings and CRS parsing: the small rules everything else relies on."""

from __future__ import annotations

import pytest

from spatial.config import Settings
from spatial.crs import parse_crs, to_storage
from spatial.db import normalise_url
from spatial.errors import InvalidInput


def test_database_url_forms_are_normalised() -> None:
    assert normalise_url("postgres://u:p@h:5433/db").startswith("postgresql+psycopg://u:p@h:5433/db")
    assert normalise_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


@pytest.mark.parametrize("url", ["sqlite:///x.db", "mysql://u@h/db", "not a url"])
def test_non_postgis_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_url(url)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMAP_DATABASE_URL", "postgresql://x@y/z")
    monkeypatch.setenv("ONEMAP_PORT", "9001")
    settings = Settings()
    assert settings.database_url == "postgresql://x@y/z"
    assert settings.port == 9001
    assert not settings.uses_embedded_db


def test_blank_database_url_means_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEMAP_DATABASE_URL", "")
    assert Settings().uses_embedded_db


@pytest.mark.parametrize("crs", ["EPSG:4490", "4490", "EPSG:3857", "CRS84", "http://www.opengis.net/def/crs/OGC/1.3/CRS84"])
def test_supported_crs_parse(crs: str) -> None:
    assert parse_crs(crs) is not None


def test_unknown_crs_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="unknown coordinate reference system"):
        parse_crs("EPSG:99999999")


def test_web_mercator_to_storage_is_lon_lat() -> None:
    lon, lat = to_storage("EPSG:3857").transform(12127000.0, 4063000.0)
    assert 108.9 < lon < 109.0 and 34.2 < lat < 34.3


def test_cgcs2000_is_within_a_metre_of_wgs84() -> None:
    lon, lat = to_storage("EPSG:4490").transform(108.94, 34.26)
    assert abs(lon - 108.94) < 1e-5 and abs(lat - 34.26) < 1e-5
