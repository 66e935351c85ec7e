"""Real data: Manhattan loaded from its own files (examples/cities/manhattan.yaml), used as a city.

Borough → community districts from NYC Planning, roads/buildings from an OSM PBF extract of
Midtown, POIs from a GeoPackage, door plates from the extract's address CSV. Then what a city
hall would try first: the addresses geocode back to their points, a day of 311 requests files
into the districts the requests name, drive times on the real streets are plausible, and a
reload is a new version that can be compared and rolled back.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from layers.city.load import load_city
from layers.city.profile import CityProfile, Source, read_profile
from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from tests.conftest import PROJECT_ROOT, realdata_path

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(900)]

PROFILE = PROJECT_ROOT / "examples" / "cities" / "manhattan.yaml"
MANHATTAN_BOX = (-74.05, 40.68, -73.90, 40.88)
BOROUGHS = {"MANHATTAN": 1}


@pytest.fixture(scope="module")
def manhattan(
    make_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Settings]]:
    from spatial import migrate

    realdata_path("nyc", "osm", "manhattan.osm.pbf")
    url = make_database("onemap_manhattan")
    engine = make_engine(url, pool_size=4)
    migrate.upgrade(engine)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("manhattan-var"))
    report = load_city(engine, read_profile(PROFILE), principal=local_operator(), settings=settings)
    assert report.ok and report.version == 1, report.lines()
    yield engine, settings
    engine.dispose()


def test_the_base_map_is_manhattan(manhattan) -> None:
    engine, _ = manhattan
    with engine.connect() as conn:
        counts = dict(conn.execute(text(
            "SELECT 'divisions', count(*) FROM basemap.admin_division UNION ALL "
            "SELECT 'roads', count(*) FROM basemap.road UNION ALL SELECT 'oneway', count(*) FROM basemap.road WHERE oneway <> 0 "
            "UNION ALL SELECT 'buildings', count(*) FROM basemap.building UNION ALL SELECT 'pois', count(*) FROM basemap.poi "
            "UNION ALL SELECT 'addresses', count(*) FROM basemap.address UNION ALL SELECT 'cells', count(*) FROM grid.current_cell"
        )).all())  # fmt: skip
        titles = dict(
            conn.execute(
                text("SELECT id, title_en FROM catalog.layer WHERE storage_schema = 'basemap'")
            ).all()
        )
        bbox = conn.execute(text(
            "SELECT ST_XMin(extent), ST_YMin(extent), ST_XMax(extent), ST_YMax(extent) FROM catalog.layer "
            "WHERE id = 'admin_divisions'"
        )).one()  # fmt: skip
        districts = conn.execute(text(
            "SELECT count(*) FROM basemap.admin_division WHERE level = 'street' AND parent_code = '1' AND district_code = '1'"
        )).scalar()  # fmt: skip
    assert (
        counts["divisions"] == 14 and districts == 13
    )  # Manhattan + its 12 districts and Central Park (164)
    assert (
        counts["roads"] > 2000 and counts["oneway"] > 0.5 * counts["roads"]
    )  # Manhattan's streets are one-way
    assert counts["buildings"] > 5000 and counts["pois"] > 3000 and counts["addresses"] > 13000
    assert counts["cells"] > 500
    assert (
        titles["roads"] == "Manhattan roads"
        and titles["admin_divisions"] == "Manhattan administrative divisions"
    )
    assert (
        MANHATTAN_BOX[0] < bbox[0] < bbox[2] < MANHATTAN_BOX[2]
        and MANHATTAN_BOX[1] < bbox[1] < bbox[3] < MANHATTAN_BOX[3]
    )


def address_rows() -> list[dict[str, str]]:
    path = realdata_path("nyc", "osm", "manhattan_midtown_osm_addresses.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            r
            for r in csv.DictReader(fh)
            if r["housenumber"] and r["street"] and r["lon"] and r["lat"]
        ]


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians(40.75))
    return math.hypot(dx, (a[1] - b[1]) * 111_320)


def test_osm_addresses_geocode_back_to_their_points(manhattan) -> None:
    from spatial.geocoding.match import geocode_many

    engine, _ = manhattan
    sample = random.Random(14).sample(address_rows(), 400)
    queries = [f"{r['housenumber']} {r['street']}, New York" for r in sample]
    with engine.connect() as conn:
        answers = geocode_many(conn, queries)
    near = sum(
        1 for row, found in zip(sample, answers, strict=True)
        if found and metres((found[0].lon, found[0].lat), (float(row["lon"]), float(row["lat"]))) < 30
    )  # fmt: skip
    print(f"\nOSM addresses geocoded back within 30 m: {near} of {len(sample)}")
    assert near >= 0.95 * len(sample)


def board_code(value: str) -> str | None:
    """'05 MANHATTAN' → '105'; None for other boroughs and 'Unspecified'."""
    number, _, borough = value.partition(" ")
    if borough not in BOROUGHS or not number.isdigit() or int(number) == 0:
        return None
    return f"{BOROUGHS[borough]}{int(number):02d}"


def test_nyc_311_requests_file_into_the_district_they_name(manhattan) -> None:
    from spatial.incidents.filing import IncidentReport, file_incident

    engine, _ = manhattan
    path = realdata_path("nyc", "nyc311_2023-02-28_sample4999.csv")
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["Latitude"] and board_code(r["Community Board"])]
    assert len(rows) > 500
    agree = 0
    for row in rows:
        report = IncidentReport(category_code="1104", description=row["Complaint Type"],
                                lon=float(row["Longitude"]), lat=float(row["Latitude"]), external_id=row["Unique Key"])  # fmt: skip
        filed = file_incident(engine, report, principal=local_operator())
        agree += filed.routing.street_code == board_code(row["Community Board"])
        assert filed.routing.district_code == "1"
    print(f"\nManhattan 311: {agree} of {len(rows)} in the community district the row names")
    assert agree >= 0.97 * len(rows)


MIDTOWN_PAIRS = [
    ((-73.9855, 40.7580), (-73.9857, 40.7484)),  # Times Square → Empire State Building
    ((-73.9772, 40.7527), (-74.0030, 40.7420)),  # Grand Central → Chelsea Market
    ((-73.9680, 40.7510), (-73.9935, 40.7505)),  # UN Plaza → Penn Station (crosstown)
    ((-74.0030, 40.7420), (-73.9772, 40.7527)),  # and back (other one-way streets)
]
TOP_SPEED_KMH = 80.0  # the fastest road class of the profile
SLOWEST_KMH = 15.0  # service roads; streets are 30-40 km/h


@pytest.mark.parametrize(("origin", "destination"), MIDTOWN_PAIRS)
def test_drive_times_on_the_real_streets_are_plausible(manhattan, origin, destination) -> None:
    """At least the straight line at the top speed; at most a grid route (≤ √2 × straight, the
    L1 distance of a street grid) plus two detour blocks for one-way streets (2 × 280 m, an
    avenue block), all at the slowest class's speed, plus the two access legs (≤ 100 m each
    at 20 km/h)."""
    from spatial.network import Place, travel_minutes

    engine, _ = manhattan
    reach = travel_minutes(
        engine, Place([origin[0]], [origin[1]]), Place([destination[0]], [destination[1]])
    )
    straight = metres(origin, destination)
    lower = straight / (TOP_SPEED_KMH / 3.6) / 60
    upper = (math.sqrt(2) * straight + 560) / (SLOWEST_KMH / 3.6) / 60 + 2 * 100 / (20 / 3.6) / 60
    print(
        f"\n{origin} → {destination}: {reach.minutes[0]:.1f} min for {straight:.0f} m (bounds {lower:.1f}–{upper:.1f})"
    )
    assert lower <= reach.minutes[0] <= upper


def test_one_way_avenues_make_the_trip_differ_by_direction(manhattan) -> None:
    from spatial.network import Place, travel_minutes

    engine, _ = manhattan
    a, b = MIDTOWN_PAIRS[1]
    there = travel_minutes(engine, Place([a[0]], [a[1]]), Place([b[0]], [b[1]])).minutes[0]
    back = travel_minutes(engine, Place([b[0]], [b[1]]), Place([a[0]], [a[1]])).minutes[0]
    assert there != pytest.approx(back, abs=0.01)


def divisions_only(profile: CityProfile) -> CityProfile:
    """The same city with only its divisions (a working city too)."""
    return profile.model_copy(
        update={"roads": None, "buildings": None, "pois": None, "addresses": None, "grid": None}
    )


def test_a_reload_is_a_version_that_can_be_compared_and_rolled_back(manhattan) -> None:
    from layers.city.rollback import rollback_city
    from layers.city.versions import compare_versions, list_versions
    from tests.fingerprint import fingerprint

    engine, settings = manhattan
    basemap = [
        "basemap.admin_division",
        "basemap.road",
        "basemap.building",
        "basemap.poi",
        "basemap.address",
        "basemap.plate",
    ]
    before = fingerprint(engine, basemap)
    report = load_city(
        engine, divisions_only(read_profile(PROFILE)), principal=local_operator(), settings=settings
    )
    assert report.ok and report.counts["road"] == 0
    # no grid: section, so the current grid (community districts, 200 m) is rebuilt over the new divisions
    assert any("rebuilt over the new divisions" in f.message for f in report.findings)
    assert report.counts["grid cells"] > 500
    with engine.connect() as conn:
        versions = list_versions(conn)
        assert [v.id for v in versions[:2]] == [report.version, report.version - 1]
        assert versions[0].is_current and versions[1].archived
        assert conn.execute(text("SELECT count(*) FROM basemap.road")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM basemap.plate")).scalar() == 0  # no roads, no plates
        diff = compare_versions(conn, report.version - 1, report.version)
    assert diff.counts["road"][0] > 2000 and diff.counts["road"][1] == 0
    assert not diff.added and not diff.removed  # same divisions
    replaced = rollback_city(engine, report.version - 1, principal=local_operator())
    assert replaced == report.version
    assert fingerprint(engine, basemap) == before  # the plates too: placed again along the restored roads
    from spatial.geocoding.match import geocode

    with engine.connect() as conn:
        assert (
            geocode(conn, "350 5th Avenue, New York")[0].level == "door_plate"
        )  # the index followed


def test_a_failed_load_leaves_the_base_map_exactly_as_it_was(manhattan, tmp_path: Path) -> None:
    from layers.city.load import CityRefused
    from tests.fingerprint import fingerprint

    engine, settings = manhattan
    bad = tmp_path / "districts.geojson"
    bad.write_text(
        '{"type": "FeatureCollection", "features": ['
        '{"type": "Feature", "properties": {"code": "101"}, "geometry": {"type": "Polygon", "coordinates": [[[-74.0, 40.75], [-73.99, 40.75], [-73.99, 40.76], [-74.0, 40.75]]]}},'
        '{"type": "Feature", "properties": {"code": "101"}, "geometry": {"type": "Polygon", "coordinates": [[[-73.98, 40.75], [-73.97, 40.75], [-73.97, 40.76], [-73.98, 40.75]]]}}]}',
        encoding="utf-8",
    )  # fmt: skip
    profile = read_profile(PROFILE)
    level = profile.divisions.levels[0].model_copy(
        update={
            "source": Source(path=str(bad)),
            "code": "code",
            "name_en": None,
            "name_template": "D {code}",
        }
    )
    broken = profile.model_copy(
        update={"divisions": profile.divisions.model_copy(update={"levels": [level]})}
    )
    before = fingerprint(engine)
    with pytest.raises(CityRefused) as refused:
        load_city(engine, broken, principal=local_operator(), settings=settings)
    assert any("101" in line and "duplicate" in line for line in refused.value.report.lines())
    assert fingerprint(engine) == before


def test_a_failure_while_writing_rolls_everything_back(manhattan, monkeypatch) -> None:
    """The check passes, the divisions, roads, index, catalog and grid are written, then the
    last step fails (a fault injected where the version row is recorded): all of it is rolled
    back and the previous base map is exactly as it was."""
    import layers.city.load as city_load
    from tests.fingerprint import fingerprint

    engine, settings = manhattan

    def broken(*args: object, **kwargs: object) -> int:
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(city_load, "record_version", broken)
    before = fingerprint(engine)
    with pytest.raises(RuntimeError, match="disk"):
        load_city(
            engine,
            divisions_only(read_profile(PROFILE)),
            principal=local_operator(),
            settings=settings,
        )
    assert fingerprint(engine) == before


def test_a_grid_that_cannot_follow_the_new_city_is_retired(manhattan) -> None:
    """Only the borough is loaded: the community-district grid cannot be rebuilt at that level,
    so no grid stays current (incidents would otherwise be routed to cells of divisions that are
    gone); rolling back brings the divisions and their grid back."""
    from layers.city.rollback import rollback_city
    from layers.city.versions import current_version

    engine, settings = manhattan
    with engine.connect() as conn:
        before = current_version(conn)
    profile = divisions_only(read_profile(PROFILE))
    borough_only = profile.model_copy(
        update={"divisions": profile.divisions.model_copy(update={"levels": profile.divisions.levels[:1]})}
    )
    report = load_city(engine, borough_only, principal=local_operator(), settings=settings)
    assert any(f.section == "grid" and f.severity == "warning" for f in report.findings), report.lines()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid.current_cell")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM grid.grid_version WHERE is_current")).scalar() == 0
    rollback_city(engine, before, principal=local_operator())  # its profile names its grid
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM grid.current_cell")).scalar() > 500
