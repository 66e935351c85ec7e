"""Real data: a unit grid over New York's 71 community districts and one day of 311 requests
filed through Open311; each must land in a cell of the district its row names (~99%: the
README of ../shared/realdata explains the rest, points on or near district edges)."""

from __future__ import annotations

import concurrent.futures
import csv
import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text

from spatial.access.principal import local_operator
from spatial.config import Settings
from spatial.db import make_engine
from tests.conftest import realdata_path

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.timeout(1500)]

BOROUGHS = {"MANHATTAN": 1, "BRONX": 2, "BROOKLYN": 3, "QUEENS": 4, "STATEN ISLAND": 5}
# NYC complaint types → our categories (the rest: 1104 道路不洁, it does not matter for placement)
COMPLAINTS = {"Noise": "1301", "Illegal Parking": "1504", "Blocked Driveway": "1504", "Street Condition": "0204",
              "Street Light Condition": "0110", "Traffic Signal Condition": "0201", "Graffiti": "1202",
              "Water System": "1402", "Sewer": "1404", "Damaged Tree": "0402", "Abandoned Vehicle": "1107",
              "Dirty Condition": "1104", "UNSANITARY CONDITION": "1102"}  # fmt: skip
NEW_YORK = ZoneInfo("America/New_York")


def category_of(complaint: str) -> str:
    return next((code for prefix, code in COMPLAINTS.items() if complaint.startswith(prefix)), "1104")


def board_code(value: str) -> str | None:
    """'04 MANHATTAN' → '104'; None for 'Unspecified …' or '0 Unspecified'."""
    number, _, borough = value.partition(" ")
    if not number.isdigit() or borough not in BOROUGHS or int(number) == 0:
        return None
    return f"{BOROUGHS[borough]}{int(number):02d}"


@pytest.fixture(scope="module")
def nyc(make_database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, object]]:
    from layers.catalog import LayerSpec
    from layers.vector import load_vector_file
    from spatial import migrate
    from spatial.access.tokens import create_token
    from spatial.grid.build import GridSource, build_grid
    from spatial.incidents.categories import load_catalogue, read_catalogue
    from tests.live import live_server

    districts = realdata_path("nyc", "community_districts.geojson")
    url = make_database("onemap_nyc")
    engine = make_engine(url, pool_size=4)
    migrate.upgrade(engine)
    load_catalogue(engine, read_catalogue(), principal=local_operator())
    spec = LayerSpec(id="nyc_community_districts", title_zh="纽约社区区", title_en="NYC community districts",
                     department_code="urban")  # fmt: skip
    load_vector_file(engine, districts, spec, principal=local_operator())
    report = build_grid(engine, GridSource(layer=spec.id, code_field="BoroCD"), principal=local_operator())  # as the file spells it
    assert report.area_count == 71 and report.check.ok, report.describe()
    key = create_token(engine, department_code="urban", role="viewer", name="nyc-311-app", actor=local_operator()).secret
    # a bulk import through one api_key: no per-token rate limit (ONEMAP_RATE_LIMIT_WRITES=off)
    settings = Settings(database_url=url, var_dir=tmp_path_factory.mktemp("nyc-var"), port=0, rate_limit_writes="off")
    with live_server(settings) as base:
        yield base, key, engine
    engine.dispose()


def rows() -> list[dict[str, str]]:
    path = realdata_path("nyc", "nyc311_2023-02-28_sample4999.csv")
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["Latitude"] and r["Longitude"]]


def file_row(base: str, key: str, row: dict[str, str]) -> tuple[str, httpx.Response]:
    created = dt.datetime.strptime(row["Created Date"], "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=NEW_YORK)
    form = {"api_key": key, "service_code": category_of(row["Complaint Type"]), "lat": row["Latitude"],
            "long": row["Longitude"], "description": f"{row['Complaint Type']}: {row['Descriptor']}",
            "address_string": row["Incident Address"], "requested_datetime": created.isoformat(),
            "device_id": row["Unique Key"]}  # fmt: skip
    return row["Community Board"], httpx.post(f"{base}/open311/v2/requests.json", data=form, timeout=60)


def test_nyc_311_lands_in_the_named_district(nyc) -> None:
    base, key, engine = nyc
    located = rows()
    assert len(located) > 4800
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda r: file_row(base, key, r), located))
    assert all(r.status_code == 201 for _, r in answers), [r.text for _, r in answers if r.status_code != 201][:3]
    filed = {int(r.json()[0]["service_request_id"]): board for board, r in answers}
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, community_code FROM incidents.incident")).all())
        flagged = conn.execute(text("SELECT count(*) FROM incidents.incident WHERE routing_flagged")).scalar()
    assert len(stored) == len(filed)
    comparable = [(board_code(board), stored[i]) for i, board in filed.items() if board_code(board)]
    agree = sum(1 for named, placed in comparable if named == placed)
    share = agree / len(comparable)
    print(f"\nNYC 311: {agree} of {len(comparable)} named-district rows agree ({share:.2%}); "
          f"{flagged} outside every cell (属地兜底)")
    assert share > 0.985
