"""A department's Shapefile in GBK without a .cpg: a clear 400, never a 500 or garbled names.

GDAL reads a Shapefile without a .cpg as ISO-8859-1. Through pyogrio's Arrow reader (used when
pyarrow is installed) the text then arrived undecoded, as invalid UTF-8, and failed later with
an ArrowException (a 500 at the upload door). Now the text is decoded as GDAL says and Chinese
read as Latin-1 is refused, naming the field and telling to add a .cpg; a Shapefile really in
Latin-1 loads, and so does the GBK one once its .cpg is there.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from api.app import create_app
from layers.catalog import LayerSpec, upsert_department
from layers.vector import load_vector_file
from spatial.access.principal import local_operator
from spatial.access.tokens import create_token
from spatial.config import Settings
from spatial.db import make_engine
from spatial.errors import InvalidInput

DEPARTMENT = "planning"
CHINESE = ["西安钟楼", "大雁塔广场", "碑林博物馆"]
EUROPEAN = ["Zürich Hauptbahnhof", "São Paulo", "Ærøskøbing"]
GARBLED = "field name looks like GBK/GB18030 text read as Latin-1"


@pytest.fixture(scope="module")
def database(
    make_database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Engine, Settings]]:
    """A migrated database of its own with the planning department (no divisions: any place)."""
    from spatial import migrate

    url = make_database("onemap_encoding")
    engine = make_engine(url, pool_size=2)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        upsert_department(conn, DEPARTMENT, "自然资源和规划局", "Natural Resources and Planning")
    yield (
        engine,
        Settings(database_url=url, var_dir=tmp_path_factory.mktemp("encoding-var"), port=0),
    )
    engine.dispose()


def shapefile(folder: Path, names: list[str], encoding: str, *, cpg: bool, zipped: bool) -> Path:
    """Points named ``names``, written as a Shapefile in ``encoding``, with or without its .cpg."""
    parts = folder / "parts"
    parts.mkdir()
    frame = gpd.GeoDataFrame(
        {"name": names, "rank": list(range(1, len(names) + 1))},
        geometry=[shapely.Point(108.94 + i * 0.01, 34.26) for i in range(len(names))],
        crs=4326,
    )
    pyogrio.write_dataframe(frame, parts / "places.shp", encoding=encoding)
    if not cpg:
        (parts / "places.cpg").unlink()
    if not zipped:
        return parts / "places.shp"
    archive = folder / "places.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in parts.iterdir():
            zf.write(part, part.name)
    return archive


def spec(name: str) -> LayerSpec:
    return LayerSpec(id=name, title_zh="地点", title_en="Places", department_code=DEPARTMENT)


def names_in(engine: Engine, layer: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(text(f"SELECT name FROM thematic.{layer} ORDER BY rank")).scalars()
        )


def table_exists(engine: Engine, layer: str) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(text("SELECT to_regclass(:t)"), {"t": f"thematic.{layer}"}).scalar()
            is not None
        )


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "shp"])
def test_gbk_shapefile_without_cpg_is_refused_naming_the_field(
    database, tmp_path: Path, zipped: bool
) -> None:
    engine, _ = database
    path = shapefile(tmp_path, CHINESE, "GBK", cpg=False, zipped=zipped)
    layer = f"gbk_no_cpg_{'zip' if zipped else 'shp'}"
    with pytest.raises(InvalidInput) as refused:
        load_vector_file(engine, path, spec(layer), principal=local_operator())
    message = str(refused.value)
    assert GARBLED in message and "西安钟楼" in message, message
    assert ".cpg" in message and "GBK" in message
    assert "feature(s) 1, 2, 3" in message
    assert not table_exists(engine, layer)


def test_gbk_shapefile_with_its_cpg_loads_in_chinese(database, tmp_path: Path) -> None:
    engine, _ = database
    path = shapefile(tmp_path, CHINESE, "GBK", cpg=True, zipped=True)
    report = load_vector_file(engine, path, spec("gbk_with_cpg"), principal=local_operator())
    assert report.features_loaded == 3
    assert names_in(engine, "gbk_with_cpg") == CHINESE


def test_latin1_shapefile_without_cpg_loads_its_accents(database, tmp_path: Path) -> None:
    engine, _ = database
    path = shapefile(tmp_path, EUROPEAN, "ISO-8859-1", cpg=False, zipped=True)
    report = load_vector_file(engine, path, spec("latin1_no_cpg"), principal=local_operator())
    assert report.features_loaded == 3
    assert names_in(engine, "latin1_no_cpg") == EUROPEAN


def test_the_upload_door_answers_400_not_500(database, tmp_path: Path) -> None:
    engine, settings = database
    issued = create_token(
        engine,
        department_code=DEPARTMENT,
        role="editor",
        name="planning editor",
        actor=local_operator(),
    )
    archive = shapefile(tmp_path, CHINESE, "GBK", cpg=False, zipped=True)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/layers",
            data={"name": "gbk_upload", "title": "地点"},
            files={"file": ("places.zip", archive.read_bytes(), "application/zip")},
            headers={"Authorization": f"Bearer {issued.secret}"},
        )
    assert response.status_code == 400, response.text
    description = response.json()["description"]
    assert GARBLED in description and ".cpg" in description, description
    assert not table_exists(engine, "gbk_upload")
