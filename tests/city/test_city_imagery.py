"""Imagery follows the city: a scene outside the city is refused, and the page's base layer is the city's.

The bug (issue 14): an imagery scene of another continent was accepted into the city and became
the page's default base layer. The city here is two districts of Xi'an.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from layers.imagery import add_scene
from spatial.config import Settings
from spatial.errors import InvalidInput
from tests.browser import browser_page
from tests.city.small_city import BAHAMAS, XIAN, write_scene, xian_database
from tests.conftest import realdata_path
from tests.live import live_server

ACROSS_THE_EDGE = (109.05, 34.30, 109.30, 34.50)  # half in the city's north-east corner, half out
BAHAMAS_EXTENT = "-80,22,-75,27"  # what an operator in the Bahamas would set as ONEMAP_CITY_EXTENT


@pytest.fixture(scope="module")
def city(
    make_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Settings]]:
    with xian_database(make_database) as (url, engine):
        yield (
            engine,
            Settings(database_url=url, var_dir=tmp_path_factory.mktemp("city-img"), port=0),
        )


def _catalogued(engine: Engine, layer: str) -> tuple[int, int]:
    """(catalog rows, scene rows) of ``layer``."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT count(*) FROM catalog.layer WHERE id = :id"), {"id": layer}
        ).scalar_one()
        scenes = conn.execute(
            text("SELECT count(*) FROM imagery.scene WHERE layer_id = :id"), {"id": layer}
        ).scalar_one()
    return rows, scenes


def _assert_refused(engine: Engine, settings: Settings, source: Path, layer: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as refused:
        add_scene(engine, settings, source, layer=layer)
    assert refused.value.status == 400
    assert _catalogued(engine, layer) == (0, 0)
    assert not (settings.imagery_dir / layer).exists()
    return refused.value


def test_a_scene_of_another_continent_is_refused_and_nothing_is_registered(
    city, tmp_path: Path
) -> None:
    engine, settings = city
    err = _assert_refused(engine, settings, write_scene(tmp_path / "far.tif", BAHAMAS), "img_far")
    assert "far.tif lies at lon/lat -78.9000,23.6000,-77.9000,24.6000" in err.message
    assert (
        "outside the city's extent 108.69" in err.message
        and "administrative divisions + 10 km" in err.message
    )


def test_the_real_landsat_scene_is_refused_in_xian(city) -> None:
    engine, settings = city
    err = _assert_refused(engine, settings, realdata_path("imagery", "RGB.byte.tif"), "img_landsat")
    assert "RGB.byte.tif lies at lon/lat -78.95" in err.message


def test_the_command_line_refuses_it_in_one_line(
    city, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.cli import main

    engine, settings = city
    monkeypatch.setenv("ONEMAP_DATABASE_URL", settings.database_url or "")
    monkeypatch.setenv("ONEMAP_VAR_DIR", str(settings.var_dir))
    far = write_scene(tmp_path / "far.tif", BAHAMAS)
    result = CliRunner().invoke(main, ["imagery", "add", str(far), "--layer", "img_cli_far"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("onemap: error: far.tif lies at lon/lat -78.9000")
    assert _catalogued(engine, "img_cli_far") == (0, 0)


def test_scenes_over_the_city_or_across_its_edge_are_accepted(city, tmp_path: Path) -> None:
    engine, settings = city
    inside = add_scene(
        engine,
        settings,
        write_scene(tmp_path / "inside.tif", (108.90, 34.20, 109.00, 34.30)),
        layer="img_inside",
    )
    edge = add_scene(
        engine, settings, write_scene(tmp_path / "edge.tif", ACROSS_THE_EDGE), layer="img_edge"
    )
    assert inside.scene_count == edge.scene_count == 1
    assert _catalogued(engine, "img_edge") == (1, 1)


def test_a_configured_city_extent_is_the_one_a_scene_must_meet(city, tmp_path: Path) -> None:
    engine, settings = city
    bahamas = settings.model_copy(update={"city_extent": BAHAMAS_EXTENT})
    far = write_scene(tmp_path / "far.tif", BAHAMAS)
    assert add_scene(engine, bahamas, far, layer="img_configured").scene_count == 1
    err = _assert_refused(
        engine,
        bahamas,
        write_scene(tmp_path / "xian.tif", (108.9, 34.2, 109.0, 34.3)),
        "img_xian_out",
    )
    assert "(ONEMAP_CITY_EXTENT)" in err.message


def test_the_page_opens_on_the_city_with_its_own_imagery_not_a_far_scene(
    city, tmp_path: Path
) -> None:
    """A far scene catalogued first (under another extent setting) is not the page's base layer."""
    engine, settings = city
    far = settings.model_copy(update={"city_extent": BAHAMAS_EXTENT})
    add_scene(
        engine, far, write_scene(tmp_path / "aa.tif", BAHAMAS), layer="img_aa_far"
    )  # first in the catalog
    add_scene(
        engine, settings, write_scene(tmp_path / "zz.tif", XIAN, size=512), layer="img_zz_xian"
    )
    with live_server(settings) as base, browser_page() as (page, problems):
        page.goto(f"{base}/", wait_until="networkidle")
        page.wait_for_function("() => window.onemapBase !== undefined", timeout=60_000)
        chosen = page.evaluate("() => window.onemapBase")
        west, south, east, north = page.evaluate(
            "() => { const b = window.onemapMap.getBounds(); return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; }"
        )
        checked = page.evaluate(
            "() => document.querySelector('input[name=pt-base]:checked').dataset.base"
        )
    assert chosen == checked
    assert chosen not in (
        "img_aa_far",
        "img_configured",
        "",
    )  # over the city: the largest overlap wins
    assert chosen == "img_zz_xian"
    assert west <= XIAN[0] and south <= XIAN[1] and east >= XIAN[2] and north >= XIAN[3]
    assert east - west < 4 * (XIAN[2] - XIAN[0]) and north - south < 4 * (XIAN[3] - XIAN[1])
    assert problems == [], problems
