"""`onemap city …` through the real command line: bad input is reported by feature and field,
exits 2 and changes nothing; a good profile checks, loads, reloads, compares and rolls back.

A small city of two districts (GB/T 2260 codes 610112, 610113) and four streets (9-digit codes,
parent by code prefix) is written as GeoJSON in a temporary folder and loaded once into a
throwaway database through `onemap city load`. Every bad profile is then a variant of it, run
through `onemap city load` and `onemap city check` in a subprocess; the database's fingerprint
(every table) must be the same afterwards.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
import shapely
import yaml
from sqlalchemy import Engine, text

from spatial.db import make_engine
from tests.conftest import realdata_path
from tests.fingerprint import fingerprint
from tests.test_cli import run

pytestmark = pytest.mark.timeout(600)

WEST, SOUTH, MIDDLE, EAST, NORTH = 108.90, 34.30, 108.95, 109.00, 34.35
HALF = (SOUTH + NORTH) / 2
DISTRICTS = {
    "610112": ("未央区", (WEST, SOUTH, MIDDLE, NORTH)),
    "610113": ("雁塔区", (MIDDLE, SOUTH, EAST, NORTH)),
}
STREETS = {
    "610112001": ("张家堡街道", (WEST, SOUTH, MIDDLE, HALF)),
    "610112002": ("徐家湾街道", (WEST, HALF, MIDDLE, NORTH)),
    "610113001": ("小寨路街道", (MIDDLE, SOUTH, EAST, HALF)),
    "610113002": ("大雁塔街道", (MIDDLE, HALF, EAST, NORTH)),
}
PBF = ("nyc", "osm", "manhattan.osm.pbf")
Box = tuple[float, float, float, float]
Row = tuple[str | None, str, Box]


# ------------------------------------------------------------------------------ the files
def frame(rows: dict[str, tuple[str, Box]]) -> gpd.GeoDataFrame:
    """Features with fields code and name, one box each."""
    return gpd.GeoDataFrame(
        {"code": list(rows), "name": [name for name, _ in rows.values()]},
        geometry=[shapely.box(*box) for _, box in rows.values()],
        crs=4326,
    )


def street_rows() -> list[Row]:
    """The four streets as (code, name, box), in file order (feature 1 … 4)."""
    return [(code, name, box) for code, (name, box) in STREETS.items()]


def write_streets(folder: Path, rows: list[Row]) -> None:
    """streets.geojson holding ``rows`` (codes may repeat or be None)."""
    table = gpd.GeoDataFrame(
        {"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
        geometry=[shapely.box(*r[2]) for r in rows],
        crs=4326,
    )
    pyogrio.write_dataframe(table, folder / "streets.geojson")


def profile_dict(districts: str = "districts.geojson", **district_source: Any) -> dict[str, Any]:
    """The good city's profile as YAML data (the districts' source may be changed)."""
    return {
        "code": "clitest",
        "name": {"zh": "测试市", "en": "CLI Test City"},
        "divisions": {
            "scheme": "gb2260",
            "levels": [
                {
                    "level": "district",
                    "source": {"path": districts, **district_source},
                    "code": "code",
                    "name_zh": "name",
                },
                {
                    "level": "street",
                    "source": {"path": "streets.geojson"},
                    "code": "code",
                    "name_zh": "name",
                    "parent": {"by": "code_prefix"},
                },
            ],
        },
    }


def write_city(folder: Path, raw: dict[str, Any] | None = None) -> Path:
    """The good city's files and profile (or ``raw`` as the profile) in ``folder``; the profile."""
    folder.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(frame(DISTRICTS), folder / "districts.geojson")
    write_streets(folder, street_rows())
    path = folder / "city.yaml"
    path.write_text(yaml.safe_dump(raw or profile_dict(), allow_unicode=True), encoding="utf-8")
    return path


def rewrite_profile(folder: Path, raw: dict[str, Any]) -> Path:
    """city.yaml replaced by ``raw``."""
    path = folder / "city.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ bad inputs
@dataclass(frozen=True)
class Bad:
    """A bad variant of the good city: how to make it, and what the report must say."""

    make: Callable[[Path], Path]
    expected: tuple[str, ...]
    profile_error: bool = False
    """Refused while reading the profile: one line 'onemap: error: …' instead of a report."""


def missing_code(folder: Path) -> Path:
    rows = street_rows()
    rows[1] = (None, *rows[1][1:])
    write_streets(folder, rows)
    return folder / "city.yaml"


def duplicate_code(folder: Path) -> Path:
    rows = street_rows()
    rows[3] = ("610113001", *rows[3][1:])
    write_streets(folder, rows)
    return folder / "city.yaml"


def outside_parent(folder: Path) -> Path:
    rows = street_rows()
    code, name, (w, s, e, n) = rows[3]
    rows[3] = (code, name, (w + 0.02, s, e + 0.02, n))  # 2 km east of 雁塔区's edge
    write_streets(folder, rows)
    return folder / "city.yaml"


def overlapping_siblings(folder: Path) -> Path:
    rows = street_rows()
    code, name, (w, s, e, n) = rows[0]
    rows[0] = (code, name, (w, s, e, n + 0.01))  # 1 km into its sibling 610112002
    write_streets(folder, rows)
    return folder / "city.yaml"


def gbk_shapefile_without_cpg(folder: Path) -> Path:
    pyogrio.write_dataframe(frame(DISTRICTS), folder / "districts.shp", encoding="GBK")
    (folder / "districts.cpg").unlink()
    return rewrite_profile(folder, profile_dict("districts.shp"))


def unknown_crs(folder: Path) -> Path:
    return rewrite_profile(folder, profile_dict(crs="EPSG:999999"))


def no_crs_anywhere(folder: Path) -> Path:
    pyogrio.write_dataframe(
        frame(DISTRICTS).set_crs(None, allow_override=True), folder / "districts.shp"
    )
    (folder / "districts.prj").unlink(missing_ok=True)
    return rewrite_profile(folder, profile_dict("districts.shp"))


def empty_file(folder: Path) -> Path:
    (folder / "districts.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    return folder / "city.yaml"


def truncated_geojson(folder: Path) -> Path:
    whole = (folder / "districts.geojson").read_bytes()
    (folder / "districts.geojson").write_bytes(whole[: len(whole) // 2])
    return folder / "city.yaml"


def random_gpkg(folder: Path) -> Path:
    (folder / "districts.gpkg").write_bytes(os.urandom(4096))
    return rewrite_profile(folder, profile_dict("districts.gpkg"))


def osm_section(**source: Any) -> Callable[[Path], Path]:
    """Roads from the real Manhattan extract, asking for a layer or rows it does not have."""

    def make(folder: Path) -> Path:
        pbf = realdata_path(*PBF)
        raw = profile_dict() | {"roads": {"source": {"path": str(pbf), **source}}}
        return rewrite_profile(folder, raw)

    return make


def misspelt_key(folder: Path) -> Path:
    raw = profile_dict()
    raw["divisons"] = raw.pop("divisions")
    return rewrite_profile(folder, raw)


def missing_file(folder: Path) -> Path:
    (folder / "districts.geojson").unlink()
    return folder / "city.yaml"


def missing_profile(folder: Path) -> Path:
    return folder / "no-such-city.yaml"


BAD = {
    "missing code": Bad(missing_code, ("divisions.street", "feature 2", "no code", "(field code)")),
    "duplicate codes": Bad(
        duplicate_code, ("feature 3, feature 4", "duplicate code 610113001", "(field code)")
    ),
    "child outside its parent": Bad(
        outside_parent, ("code 610113002", "lies outside its parent 610113")
    ),
    "overlapping siblings": Bad(
        overlapping_siblings, ("code 610112001, code 610112002", "overlap by")
    ),
    "GBK shapefile without .cpg": Bad(
        gbk_shapefile_without_cpg,
        (
            "divisions.district",
            "field name looks like GBK/GB18030 text read as Latin-1",
            "add `encoding: GBK`",
            "feature 1, feature 2",
            "(field name)",
        ),
    ),
    "unknown CRS": Bad(
        unknown_crs,
        ("city.yaml", "unknown coordinate reference system 'EPSG:999999'"),
        profile_error=True,
    ),
    "no CRS in file or profile": Bad(no_crs_anywhere, ("districts.shp: CRS unknown: give `crs:`",)),
    "empty file": Bad(empty_file, ("districts.geojson has no", "features")),
    "truncated GeoJSON": Bad(
        truncated_geojson, ("divisions.district", "cannot read districts.geojson")
    ),
    "random bytes .gpkg": Bad(random_gpkg, ("divisions.district", "cannot read districts.gpkg")),
    "OSM without the asked layer": Bad(
        osm_section(layer="nonexistent"),
        ("roads:", "manhattan.osm.pbf has no 'nonexistent' features: it has no such layer"),
    ),
    "OSM where selecting nothing": Bad(
        osm_section(where="highway = 'no such class'"),
        ("roads:", "manhattan.osm.pbf has no 'lines' features where highway = 'no such class'"),
    ),
    "misspelt key": Bad(
        misspelt_key, ("city.yaml", "divisons: unknown key (did you mean divisions?)"), profile_error=True
    ),
    "missing file": Bad(missing_file, ("divisions.district", "no such file", "districts.geojson")),
    "missing profile": Bad(
        missing_profile, ("no such profile", "no-such-city.yaml"), profile_error=True
    ),
}


# ------------------------------------------------------------------------------ fixtures
@dataclass(frozen=True)
class City:
    """The throwaway database holding the good city, and how to run `onemap` against it."""

    url: str
    engine: Engine
    profile: Path

    def onemap(self, *args: str) -> Any:
        return run(*args, env={"ONEMAP_DATABASE_URL": self.url}, timeout=300)


@pytest.fixture(scope="module")
def city(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """The good city loaded once (version 1) through `onemap city load`."""
    url = make_database("onemap_citycli")
    profile = write_city(tmp_path_factory.mktemp("good-city"))
    engine = make_engine(url, pool_size=1)
    loaded = run("city", "load", str(profile), env={"ONEMAP_DATABASE_URL": url}, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    assert "base map version 1 of 测试市 CLI Test City is current" in loaded.stderr
    yield City(url, engine, profile)
    engine.dispose()


def report_of(result: Any) -> str:
    """What the command said (the report is on stderr), with no traceback in it."""
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def assert_refused(result: Any, bad: Bad) -> None:
    """Exit 2, every expected phrase said; a profile error is one line."""
    said = report_of(result)
    assert result.returncode == 2, said
    for phrase in bad.expected:
        assert phrase in said, f"{phrase!r} not in:\n{said}"
    if bad.profile_error:
        lines = [line for line in said.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("onemap: error: "), said
    else:
        assert "nothing was written" in said


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_reported_exits_2_and_changes_nothing(
    city: City, tmp_path: Path, case: str
) -> None:
    bad = BAD[case]
    profile = bad.make(write_city(tmp_path).parent)
    before = fingerprint(city.engine)
    loaded = city.onemap("city", "load", str(profile))
    assert_refused(loaded, bad)
    assert fingerprint(city.engine) == before
    checked = city.onemap("city", "check", str(profile))
    assert_refused(checked, bad)
    assert "checking divisions" in checked.stderr or bad.profile_error
    assert fingerprint(city.engine) == before


def test_a_refused_load_as_json_says_ok_false_with_the_findings(city: City, tmp_path: Path) -> None:
    profile = duplicate_code(write_city(tmp_path).parent)
    before = fingerprint(city.engine)
    result = city.onemap("city", "load", "--json", str(profile))
    assert result.returncode == 2, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["city"] == "clitest"
    [finding] = [f for f in document["findings"] if f["severity"] == "error"]
    assert finding == {
        "severity": "error",
        "section": "divisions.street",
        "message": "duplicate code 610113001: given to 2 features",
        "features": ["feature 3", "feature 4"],
        "field": "code",
    }
    assert fingerprint(city.engine) == before


# ------------------------------------------------------------------------------ good input
def test_checking_a_good_profile_exits_0_and_writes_nothing(city: City) -> None:
    before = fingerprint(city.engine)
    result = city.onemap("city", "check", str(city.profile))
    assert result.returncode == 0, result.stderr
    assert "check: ok" in result.stderr
    assert "6 admin_division" in result.stderr
    as_json = city.onemap("city", "check", "--json", str(city.profile))
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["ok"] is True and document["counts"]["admin_division"] == 6
    assert not [f for f in document["findings"] if f["severity"] == "error"]
    assert fingerprint(city.engine) == before


def divisions(engine: Engine) -> list[tuple[str, str, str | None, str, str | None]]:
    """(code, level, parent, name, district) of every division."""
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT code, level, parent_code, name_zh, district_code FROM basemap.admin_division ORDER BY code"
                )
            )
        ]


def test_the_good_city_is_the_base_map(city: City) -> None:
    assert divisions(city.engine) == [
        ("610112", "district", None, "未央区", "610112"),
        ("610112001", "street", "610112", "张家堡街道", "610112"),
        ("610112002", "street", "610112", "徐家湾街道", "610112"),
        ("610113", "district", None, "雁塔区", "610113"),
        ("610113001", "street", "610113", "小寨路街道", "610113"),
        ("610113002", "street", "610113", "大雁塔街道", "610113"),
    ]


def test_reload_versions_diff_and_rollback(city: City) -> None:
    basemap = ["basemap.admin_division", "basemap.road", "basemap.building", "basemap.poi", "basemap.plate"]
    first = fingerprint(city.engine, basemap)
    with city.engine.connect() as conn:
        current = conn.execute(text("SELECT max(id) FROM basemap.version")).scalar_one()
    again = city.onemap("city", "load", "--json", str(city.profile))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["ok"] is True
    new = current + 1
    assert f"base map version {new} of 测试市 CLI Test City is current" in again.stderr
    assert fingerprint(city.engine, basemap) == first  # a re-run: the same data

    listed = city.onemap("city", "versions")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].startswith(f"v{new} * clitest 测试市/CLI Test City")
    assert lines[1].startswith(f"v{current} a clitest")
    assert "6 admin_division" in lines[0]

    diff = city.onemap("city", "diff", str(current), str(new))
    assert diff.returncode == 0, diff.stderr
    assert "admin_division: 6 → 6" in diff.stdout
    assert "divisions: same codes, names and shapes" in diff.stdout

    rolled = city.onemap("city", "rollback", str(current))
    assert rolled.returncode == 0, rolled.stderr
    assert f"base map version {current} is current again (version {new} archived)" in rolled.stderr
    assert fingerprint(city.engine, basemap) == first
    with city.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT id FROM basemap.version WHERE is_current")).scalar()
            == current
        )


def test_rolling_back_to_no_such_version_is_one_line(city: City) -> None:
    before = fingerprint(city.engine)
    result = city.onemap("city", "rollback", "99")
    assert result.returncode == 2
    lines = [line for line in report_of(result).splitlines() if line.strip()]
    assert lines == ["onemap: error: no base-map version 99"]
    assert fingerprint(city.engine) == before
