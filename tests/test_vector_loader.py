"""Loading vector files into the one map: formats, CRS, validation, atomic replacement, the CLI.

Every file is generated here in tmp_path (GeoJSON, GeoPackage, zipped Shapefile, FlatGeobuf,
CSV) and loaded into a private, migrated PostGIS database.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text

from layers.catalog import LayerSpec, register_layer, upsert_department
from layers.vector import LoadReport, load_vector_file, remove_layer
from spatial.access.principal import local_operator
from spatial.config import PROJECT_ROOT
from spatial.db import make_engine
from spatial.errors import InvalidInput, NotFound
from tests.conftest import realdata_path
from tests.test_cli import one_line_error, run

pytestmark = pytest.mark.filterwarnings(
    "ignore:Field surveyed created as String field",  # shapefiles have no date-time type
    "ignore:'crs' was not provided",  # files without a CRS are made on purpose
)

DEPARTMENT = "planning"
XIAN = (108.94, 34.26)


# ----------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def loader_url(make_database) -> str:
    """A migrated database of our own, with one department, so layer counts are ours alone."""
    from spatial import migrate

    url = make_database("onemap_vector")
    eng = make_engine(url, pool_size=1)
    migrate.upgrade(eng)
    with eng.begin() as conn:
        upsert_department(conn, DEPARTMENT, "自然资源和规划局", "Natural Resources and Planning")
    eng.dispose()
    return url


@pytest.fixture(scope="module")
def loader(loader_url: str) -> Iterator[Engine]:
    eng = make_engine(loader_url, pool_size=2)
    yield eng
    eng.dispose()


def spec(name: str, **extra: object) -> LayerSpec:
    return LayerSpec(
        id=name, title_zh="测试图层", title_en="Test layer", department_code=DEPARTMENT, **extra
    )  # type: ignore[arg-type]


def load(engine: Engine, path: Path, name: str, **options: object) -> LoadReport:
    options.setdefault("principal", local_operator())
    return load_vector_file(engine, path, spec(name), **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------- sample files
def squares(n: int = 5, *, size: float = 0.001, crs: object = "EPSG:4326") -> gpd.GeoDataFrame:
    """``n`` small squares east of Xi'an's centre with one column of each kind."""
    x = XIAN[0] + np.arange(n) % 100 * 0.01
    y = XIAN[1] + np.arange(n) // 100 * 0.01
    geoms = shapely.box(x, y, x + size, y + size)
    return gpd.GeoDataFrame(
        {
            "name": [f"地块{i}" for i in range(n)],
            "count": np.arange(n, dtype="int64"),
            "area": np.linspace(1.5, 9.5, n),
            "open": [i % 2 == 0 for i in range(n)],
            "surveyed": pd.date_range("2024-01-01", periods=n, freq="D"),
        },
        geometry=geoms,
        crs=crs,
    )


def write(frame: gpd.GeoDataFrame, path: Path, **options: object) -> Path:
    if path.suffix == ".fgb":
        options.setdefault("SPATIAL_INDEX", "NO")  # an index would sort the features spatially
    frame.to_file(path, engine="pyogrio", **options)
    return path


def zipped_shapefile(frame: gpd.GeoDataFrame, folder: Path, stem: str = "parcels") -> Path:
    folder.mkdir()
    write(frame, folder / f"{stem}.shp")
    archive = folder.parent / f"{stem}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in folder.iterdir():
            zf.write(part, part.name)
    return archive


def stored(engine: Engine, name: str) -> gpd.GeoDataFrame:
    with engine.connect() as conn:
        return gpd.read_postgis(
            text(f"SELECT * FROM thematic.{name} ORDER BY id"), conn, geom_col="geom"
        )


def fingerprint(engine: Engine, name: str) -> tuple:
    """Row count, md5 of every ordered row with its WKB, and the catalog row's version fields."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT count(*), md5(string_agg(t::text || encode(ST_AsBinary(t.geom), 'hex'), "
                f"E'\\n' ORDER BY t.id)) FROM thematic.{name} t"
            )
        ).one()
        catalog = conn.execute(
            text("SELECT version, updated_at, feature_count FROM catalog.layer WHERE id = :id"),
            {"id": name},
        ).one()
    return (*rows, *catalog)


def staging_tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'thematic' AND tablename ~ '^_(stage|old)_'"
                )
            ).scalars()
        )


def catalog_row(engine: Engine, name: str) -> dict | None:
    with engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM catalog.layer WHERE id = :id"), {"id": name})
            .mappings()
            .first()
        )
    return dict(row) if row else None


# ------------------------------------------------------------------------------------ formats
def _geojson(tmp: Path) -> tuple[Path, dict]:
    return write(squares(), tmp / "parcels.geojson"), {}


def _gpkg(tmp: Path) -> tuple[Path, dict]:
    path = write(squares(), tmp / "two.gpkg", layer="parcels")
    write(squares(2), path, layer="other", mode="a")
    return path, {"source_layer": "parcels"}


def _shapefile(tmp: Path) -> tuple[Path, dict]:
    return zipped_shapefile(squares(), tmp / "shp"), {}


def _flatgeobuf(tmp: Path) -> tuple[Path, dict]:
    return write(squares(), tmp / "parcels.fgb"), {}


FORMATS = {"geojson": _geojson, "gpkg": _gpkg, "shapefile": _shapefile, "flatgeobuf": _flatgeobuf}


@pytest.mark.parametrize("kind", FORMATS)
def test_every_format_loads_with_counts_and_coordinates(
    loader: Engine, tmp_path: Path, kind: str
) -> None:
    path, options = FORMATS[kind](tmp_path)
    report = load(loader, path, f"fmt_{kind}", **options)
    assert (report.features_read, report.features_loaded) == (5, 5)
    assert report.source_crs == "EPSG:4326"
    result = stored(loader, f"fmt_{kind}")
    assert len(result) == 5
    expected = shapely.normalize(squares().geometry.to_numpy())  # shapefiles turn rings clockwise
    assert shapely.equals_exact(
        shapely.normalize(result.geometry.to_numpy()), expected, tolerance=1e-9
    ).all()
    assert result["name"].tolist() == [f"地块{i}" for i in range(5)]
    assert result["count"].tolist() == list(range(5))
    row = catalog_row(loader, f"fmt_{kind}")
    assert row and row["storage_schema"] == "thematic" and row["feature_count"] == 5
    assert row["geometry_type"] == "POLYGON"


def test_column_types_follow_pandas_dtypes(loader: Engine, tmp_path: Path) -> None:
    load(loader, write(squares(), tmp_path / "typed.gpkg"), "typed")
    with loader.connect() as conn:
        types = dict(
            conn.execute(
                text(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'thematic' AND table_name = 'typed'"
                )
            ).all()
        )
        first = conn.execute(
            text("SELECT open, surveyed FROM thematic.typed ORDER BY id LIMIT 1")
        ).one()
    assert types == {
        "id": "bigint",
        "name": "text",
        "count": "bigint",
        "area": "double precision",
        "open": "boolean",
        "surveyed": "timestamp with time zone",
        "geom": "USER-DEFINED",
    }
    assert first.open is True and first.surveyed.isoformat() == "2024-01-01T00:00:00+00:00"


def test_geopackage_with_several_layers_asks_which(loader: Engine, tmp_path: Path) -> None:
    path, _ = _gpkg(tmp_path)
    with pytest.raises(InvalidInput, match=r"several layers \(parcels, other\).*--layer"):
        load(loader, path, "gpkg_unchosen")
    with pytest.raises(InvalidInput, match="no layer 'roads'; its layers are: parcels, other"):
        load(loader, path, "gpkg_unchosen", source_layer="roads")
    report = load(loader, path, "gpkg_other", source_layer="other")
    assert report.features_loaded == 2 and report.source_layer == "other"


@pytest.mark.parametrize(
    ("header", "crs"),
    [
        (("lon", "lat"), None),
        (("经度", "纬度"), None),
        (("Longitude", "Latitude"), None),
        (("x", "y"), "EPSG:4326"),
    ],
)
def test_csv_points_from_named_columns(
    loader: Engine, tmp_path: Path, header: tuple, crs: str | None
) -> None:
    path = tmp_path / "stations.csv"
    path.write_text(
        f"name,{header[0]},{header[1]},pm25\n站点一,108.95,34.27,35\n站点二,108.96,34.28,\n站点三,,,12\n",
        encoding="utf-8",
    )
    report = load(loader, path, "csv_stations", crs=crs)
    assert (report.features_read, report.features_loaded, report.empty) == (3, 2, [3])
    result = stored(loader, "csv_stations")
    assert list(result.columns) == ["id", "name", "pm25", "geom"]
    assert result.geometry.x.tolist() == [108.95, 108.96]
    assert result.geometry.y.tolist() == [34.27, 34.28]
    assert result["pm25"].iloc[1] is None or pd.isna(result["pm25"].iloc[1])


def test_csv_problems_are_explained(loader: Engine, tmp_path: Path) -> None:
    xy = tmp_path / "xy.csv"
    xy.write_text("name,x,y\na,500000,3800000\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="--crs"):
        load(loader, xy, "csv_bad")
    words = tmp_path / "words.csv"
    words.write_text("name,lon,lat\na,108.9,34.2\nb,east,34.3\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"not numbers in row\(s\) 2"):
        load(loader, words, "csv_bad")
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("name,height\na,1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="no longitude column found.*--lon-field"):
        load(loader, nothing, "csv_bad")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("名称,经度,纬度\n站点,108.9,34.2\n".encode("gbk"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load(loader, gbk, "csv_bad")
    assert catalog_row(loader, "csv_bad") is None


# ----------------------------------------------------------------------------------------- CRS
def test_web_mercator_file_is_reprojected(loader: Engine, tmp_path: Path) -> None:
    lonlat = squares()
    mercator = lonlat.to_crs("EPSG:3857")
    report = load(loader, write(mercator, tmp_path / "mercator.gpkg"), "in_3857")
    assert report.source_crs == "EPSG:3857"
    back = Transformer.from_crs(3857, 4326, always_xy=True)
    source_xy = shapely.get_coordinates(mercator.geometry.to_numpy())
    expected = np.column_stack(back.transform(source_xy[:, 0], source_xy[:, 1]))
    loaded = shapely.get_coordinates(stored(loader, "in_3857").geometry.to_numpy())
    np.testing.assert_allclose(loaded, expected, atol=1e-9)
    np.testing.assert_allclose(
        loaded, shapely.get_coordinates(lonlat.geometry.to_numpy()), atol=1e-7
    )


def test_cgcs2000_file_is_reprojected(loader: Engine, tmp_path: Path) -> None:
    cgcs = squares(crs="EPSG:4490")
    report = load(loader, write(cgcs, tmp_path / "cgcs.fgb"), "in_4490")
    assert report.source_crs == "EPSG:4490"
    to_wgs = Transformer.from_crs(4490, 4326, always_xy=True)
    xy = shapely.get_coordinates(cgcs.geometry.to_numpy())
    expected = np.column_stack(to_wgs.transform(xy[:, 0], xy[:, 1]))
    loaded = shapely.get_coordinates(stored(loader, "in_4490").geometry.to_numpy())
    np.testing.assert_allclose(loaded, expected, atol=1e-9)
    assert loaded[:, 0].min() > 108 and loaded[:, 1].min() > 34  # x stays the longitude


def test_file_without_crs_needs_crs_option(loader: Engine, tmp_path: Path) -> None:
    mercator = squares().to_crs("EPSG:3857").set_crs(None, allow_override=True)
    path = zipped_shapefile(mercator, tmp_path / "shp")
    with pytest.raises(InvalidInput, match="does not say which coordinate reference system.*--crs"):
        load(loader, path, "no_crs")
    with pytest.raises(InvalidInput, match="unknown coordinate reference system 'EPSG:999999'"):
        load(loader, path, "no_crs", crs="EPSG:999999")
    report = load(loader, path, "no_crs", crs="EPSG:3857")
    assert report.source_crs == "EPSG:3857"
    lon = stored(loader, "no_crs").geometry.bounds.minx
    assert abs(lon.iloc[0] - XIAN[0]) < 1e-7


def test_projected_file_declared_as_lonlat_is_refused(loader: Engine, tmp_path: Path) -> None:
    wrong = squares().to_crs("EPSG:3857").set_crs("EPSG:4326", allow_override=True)
    path = write(wrong, tmp_path / "wrong.gpkg")
    with pytest.raises(
        InvalidInput, match=r"feature\(s\) 1, 2, 3, 4, 5 fall outside longitude.*--crs"
    ) as err:
        load(loader, path, "wrong_crs")
    assert err.value.details[:2] == ["feature 1", "feature 2"]
    assert catalog_row(loader, "wrong_crs") is None


# ---------------------------------------------------------------------------------- geometries
def with_bowtie(frame: gpd.GeoDataFrame, position: int) -> gpd.GeoDataFrame:
    x, y = XIAN
    bowtie = shapely.Polygon(
        [(x, y), (x + 0.001, y + 0.001), (x + 0.001, y), (x, y + 0.001), (x, y)]
    )
    frame = frame.copy()
    frame.loc[position, "geometry"] = bowtie
    return frame


def test_invalid_geometry_is_repaired_and_reported(loader: Engine, tmp_path: Path) -> None:
    path = write(with_bowtie(squares(), 1), tmp_path / "bowtie.geojson")
    report = load(loader, path, "repaired")
    assert [issue.feature for issue in report.repaired] == [2]
    assert report.repaired[0].reason.startswith("Self-intersection")
    assert report.features_loaded == 5 and report.geometry_type == "MultiPolygon"
    with loader.connect() as conn:
        assert conn.execute(
            text("SELECT bool_and(ST_IsValid(geom)) FROM thematic.repaired")
        ).scalar()
        types = (
            conn.execute(text("SELECT DISTINCT GeometryType(geom) FROM thematic.repaired"))
            .scalars()
            .all()
        )
    assert types == ["MULTIPOLYGON"]
    assert any("repaired feature 2: Self-intersection" in line for line in report.summary())


def test_invalid_geometry_rejects_the_whole_load_when_asked(loader: Engine, tmp_path: Path) -> None:
    path = write(with_bowtie(with_bowtie(squares(), 1), 3), tmp_path / "bowties.geojson")
    with pytest.raises(InvalidInput, match=r"invalid geometries in feature\(s\) 2, 4") as err:
        load(loader, path, "rejected", invalid="reject")
    assert err.value.details[0].startswith("feature 2: Self-intersection")
    assert catalog_row(loader, "rejected") is None


TWO_POINT_RING = bytes.fromhex(  # a polygon whose ring has two points: GEOS cannot even build it
    "0103000000010000000200000000000000000000000000000000000000000000000000f03f000000000000f03f"
)


def test_unbuildable_geometry_is_rejected_and_reported(loader: Engine, tmp_path: Path) -> None:
    import pyogrio.raw

    good = shapely.to_wkb(squares(3).geometry.to_numpy())
    geometry = np.array([good[0], TWO_POINT_RING, good[2]], dtype=object)
    path = tmp_path / "ring.gpkg"
    pyogrio.raw.write(
        path,
        geometry,
        [np.array(["a", "b", "c"], dtype=object)],
        ["name"],
        geometry_type="Polygon",
        crs="EPSG:4326",
    )
    report = load(loader, path, "unbuildable")
    assert (report.features_loaded, report.empty) == (2, [])
    assert [(i.feature, i.reason.split(":")[0]) for i in report.rejected] == [
        (2, "unreadable geometry")
    ]
    with pytest.raises(InvalidInput, match=r"invalid geometries in feature\(s\) 2:"):
        load(loader, path, "unbuildable", invalid="reject")


def test_z_values_are_kept(loader: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"h": [1.0, 2.0]}, geometry=shapely.points([[*XIAN, 400], [XIAN[0], 34.3, 410]]), crs=4326
    )
    report = load(loader, write(frame, tmp_path / "z.gpkg"), "with_z")
    assert report.geometry_type == "PointZ"
    with loader.connect() as conn:
        assert conn.execute(
            text("SELECT array_agg(ST_Z(geom) ORDER BY id) FROM thematic.with_z")
        ).scalar() == [400, 410]


def test_empty_geometries_are_reported_and_skipped(loader: Engine, tmp_path: Path) -> None:
    frame = squares(6)
    frame.loc[2, "geometry"] = shapely.Polygon()
    frame.loc[4, "geometry"] = None
    report = load(loader, write(frame, tmp_path / "gaps.gpkg"), "gaps")
    assert report.empty == [3, 5]
    assert (report.features_read, report.features_loaded) == (6, 4)
    assert stored(loader, "gaps")["name"].tolist() == ["地块0", "地块1", "地块3", "地块5"]


def test_mixed_single_and_multi_are_promoted(loader: Engine, tmp_path: Path) -> None:
    frame = squares(3)
    frame.loc[1, "geometry"] = shapely.MultiPolygon(
        [frame.geometry[1], shapely.box(109, 34, 109.001, 34.001)]
    )
    report = load(loader, write(frame, tmp_path / "mixed.geojson"), "mixed_multi")
    assert report.geometry_type == "MultiPolygon"
    assert catalog_row(loader, "mixed_multi")["geometry_type"] == "MULTIPOLYGON"  # type: ignore[index]


def test_mixed_kinds_are_refused(loader: Engine, tmp_path: Path) -> None:
    frame = squares(3)
    frame.loc[2, "geometry"] = shapely.Point(*XIAN)
    with pytest.raises(
        InvalidInput,
        match=r"mixes Point, Polygon geometries \(Point: 1, features 3; Polygon: 2, features 1, 2\)",
    ):
        load(loader, write(frame, tmp_path / "kinds.geojson"), "mixed_kinds")


def test_columns_are_sanitised(loader: Engine, tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "Land Use": ["a"],
            "land-use": ["b"],
            "人口 (2020)": [3],
            "ID": [7],
            "2020年": [1.0],
            "  ": ["x"],
        },
        geometry=[shapely.Point(*XIAN)],
        crs=4326,
    )
    report = load(loader, write(frame, tmp_path / "columns.gpkg"), "columns")
    assert report.columns == {
        "Land Use": "land_use",
        "land-use": "land_use_2",
        "人口 (2020)": "人口_2020",
        "ID": "src_id",
        "2020年": "f_2020年",
        "  ": "field_6",
    }
    assert list(stored(loader, "columns").columns) == ["id", *report.columns.values(), "geom"]


# ------------------------------------------------------------------------------------- refusals
def test_bad_inputs_are_explained(loader: Engine, tmp_path: Path) -> None:
    good = write(squares(), tmp_path / "good.geojson")
    corrupt = tmp_path / "corrupt.gpkg"
    corrupt.write_bytes(b"SQLite format 3\x00" + os.urandom(2048))
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot read corrupt.gpkg"):
        load(loader, corrupt, "bad_input")
    with pytest.raises(InvalidInput, match="holds no features"):
        load(loader, empty, "bad_input")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a map", encoding="utf-8")
    with pytest.raises(InvalidInput, match="unsupported file type '.txt'"):
        load(loader, notes, "bad_input")
    with pytest.raises(InvalidInput, match="no such file"):
        load(loader, tmp_path / "missing.geojson", "bad_input")
    with pytest.raises(
        InvalidInput, match="department 'nowhere' does not exist; known departments: planning"
    ):
        load_vector_file(loader, good, LayerSpec("bad_input", "x", "x", "nowhere"), principal=local_operator())
    with pytest.raises(InvalidInput, match="layer name 'Bad-Name' is not allowed"):
        load(loader, good, "Bad-Name")
    with pytest.raises(
        InvalidInput, match="invalid-geometry policy .ignore. unknown; one of repair, reject"
    ):
        load(loader, good, "bad_input", invalid="ignore")
    assert catalog_row(loader, "bad_input") is None


def test_base_map_names_are_not_taken_over(loader: Engine, tmp_path: Path) -> None:
    with loader.begin() as conn:
        register_layer(conn, spec("base_roads", storage_schema="basemap", storage_table="road"))
    good = write(squares(), tmp_path / "good.geojson")
    with pytest.raises(InvalidInput, match="already exists as a vector layer in basemap"):
        load(loader, good, "base_roads")
    with pytest.raises(InvalidInput, match="part of the base map"):
        remove_layer(loader, "base_roads", principal=local_operator())
    with pytest.raises(NotFound):
        remove_layer(loader, "never_loaded", principal=local_operator())


# ------------------------------------------------------------------------- atomic replacement
def test_reload_replaces_and_bumps_version(loader: Engine, tmp_path: Path) -> None:
    first = load(loader, write(squares(3), tmp_path / "v1.geojson"), "reloaded")
    second = load(loader, write(squares(7), tmp_path / "v2.geojson"), "reloaded")
    assert (first.version, second.version) == (1, 2)
    assert len(stored(loader, "reloaded")) == 7
    assert catalog_row(loader, "reloaded")["feature_count"] == 7  # type: ignore[index]
    with loader.connect() as conn:
        names = set(
            conn.execute(
                text(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = 'thematic' AND tablename = 'reloaded'"
                )
            ).scalars()
        )
        next_id = conn.execute(
            text("SELECT pg_get_serial_sequence('thematic.reloaded', 'id')")
        ).scalar()
    assert names == {"pk_reloaded", "ix_reloaded_geom_gist"}
    assert next_id == "thematic.reloaded_id_seq"
    assert staging_tables(loader) == []


@pytest.fixture()
def previous(loader: Engine, tmp_path: Path) -> tuple:
    """Layer 'kept' loaded once; its fingerprint before anything else happens to it."""
    load(loader, write(squares(4), tmp_path / "kept.geojson"), "kept")
    return fingerprint(loader, "kept")


def test_failure_during_copy_keeps_previous_version(
    loader: Engine, tmp_path: Path, previous: tuple
) -> None:
    def interrupt(done: int, total: int) -> None:
        if done >= 10_000:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load(
            loader,
            write(squares(25_000, size=1e-5), tmp_path / "big.fgb"),
            "kept",
            progress=interrupt,
        )
    assert fingerprint(loader, "kept") == previous
    assert staging_tables(loader) == []


def test_value_refused_by_copy_keeps_previous_version(
    loader: Engine, tmp_path: Path, previous: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    import layers.bulk

    real = layers.bulk.column_values
    monkeypatch.setattr(
        layers.bulk,
        "column_values",
        lambda s, srid=None: ["not a number"] * len(s) if s.name == "count" else real(s, srid),
    )
    with pytest.raises(InvalidInput, match="the database refused a value of layer 'kept'.*bigint"):
        load(loader, write(squares(6), tmp_path / "v2.geojson"), "kept")
    assert fingerprint(loader, "kept") == previous
    assert staging_tables(loader) == []


def test_failure_after_swap_keeps_previous_version(
    loader: Engine, tmp_path: Path, previous: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    import layers.vector_store

    def broken_catalog(conn: object, spec: LayerSpec) -> None:
        raise RuntimeError("catalog write failed")

    monkeypatch.setattr(layers.vector_store, "register_layer", broken_catalog)
    with pytest.raises(RuntimeError, match="catalog write failed"):
        load(loader, write(squares(6), tmp_path / "v2.geojson"), "kept")
    assert fingerprint(loader, "kept") == previous
    assert staging_tables(loader) == []


KILLER = """
import os, signal, sys
from layers.catalog import LayerSpec
from layers.vector import load_vector_file
from spatial.access.principal import local_operator
from spatial.db import make_engine

def die(done, total):
    if done >= 10_000:
        os.kill(os.getpid(), signal.SIGKILL)

load_vector_file(make_engine(sys.argv[1]), sys.argv[2], LayerSpec("kept", "保留", "Kept", "planning"), progress=die, principal=local_operator())
"""


def test_killed_process_keeps_previous_version(
    loader: Engine, loader_url: str, tmp_path: Path, previous: tuple
) -> None:
    big = write(squares(25_000, size=1e-5), tmp_path / "big.fgb")
    result = subprocess.run(
        [sys.executable, "-c", KILLER, loader_url, str(big)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert fingerprint(loader, "kept") == previous
    assert staging_tables(loader) == []
    assert load(loader, write(squares(2), tmp_path / "v3.geojson"), "kept").features_loaded == 2


def test_stale_staging_tables_are_cleaned(loader: Engine, tmp_path: Path, previous: tuple) -> None:
    with loader.begin() as conn:
        conn.execute(text("CREATE TABLE thematic._stage_kept_0badf00d (id int)"))
        conn.execute(text("CREATE TABLE thematic._stage_kept_other_0badf00d (id int)"))
    load(loader, write(squares(2), tmp_path / "v2.geojson"), "kept")
    assert staging_tables(loader) == ["_stage_kept_other_0badf00d"]  # another layer's is left alone
    with loader.begin() as conn:
        conn.execute(text("DROP TABLE thematic._stage_kept_other_0badf00d"))


def test_remove_drops_table_and_catalog_row(loader: Engine, tmp_path: Path) -> None:
    load(loader, write(squares(2), tmp_path / "gone.geojson"), "gone")
    remove_layer(loader, "gone", principal=local_operator())
    assert catalog_row(loader, "gone") is None
    with loader.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('thematic.gone')")).scalar() is None


# ---------------------------------------------------------------------------------------- CLI
def test_cli_add_then_list(loader: Engine, loader_url: str, tmp_path: Path) -> None:
    path = write(squares(), tmp_path / "cli.gpkg")
    env = {"ONEMAP_DATABASE_URL": loader_url}
    added = run(
        "layers",
        "add",
        str(path),
        "--name",
        "cli_parcels",
        "--department",
        DEPARTMENT,
        "--title",
        "地块",
        "--title-en",
        "Parcels",
        "--keyword",
        "土地",
        "--keyword",
        "parcels",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    assert "5 of 5 features loaded" in added.stderr
    listed = run("layers", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    layer = next(row for row in json.loads(listed.stdout) if row["id"] == "cli_parcels")
    assert (layer["feature_count"], layer["title_en"], layer["keywords"]) == (
        5,
        "Parcels",
        ["土地", "parcels"],
    )
    table = run("layers", "list", env={**env, "COLUMNS": "200"})
    assert "cli_parcels" in table.stdout and "地块" in table.stdout
    removed = run("layers", "remove", "cli_parcels", env=env)
    assert removed.returncode == 0, removed.stderr
    assert catalog_row(loader, "cli_parcels") is None


def test_cli_file_without_crs(loader_url: str, tmp_path: Path) -> None:
    path = write(squares().set_crs(None, allow_override=True), tmp_path / "nocrs.fgb")
    result = run(
        "layers",
        "add",
        str(path),
        "--name",
        "cli_nocrs",
        "--department",
        DEPARTMENT,
        "--title",
        "无坐标",
        env={"ONEMAP_DATABASE_URL": loader_url},
    )
    assert result.returncode == 2
    assert "--crs" in one_line_error(result)


@pytest.mark.parametrize("name", ["broken.geojson", "broken.gpkg"])
def test_cli_corrupt_file(loader_url: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".gpkg"):
        path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    else:
        path.write_text(
            '{"type": "FeatureCollection", "features": [{"type": "Feat', encoding="utf-8"
        )
    result = run(
        "layers",
        "add",
        str(path),
        "--name",
        "cli_broken",
        "--department",
        DEPARTMENT,
        "--title",
        "坏",
        env={"ONEMAP_DATABASE_URL": loader_url},
    )
    assert result.returncode == 2
    assert f"cannot read {name}" in one_line_error(result)


# ----------------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_nyc_community_districts(loader: Engine) -> None:
    report = load(
        loader, realdata_path("nyc", "community_districts.geojson"), "nyc_community_districts"
    )
    assert (report.features_read, report.features_loaded) == (71, 71)
    assert report.geometry_type == "MultiPolygon"
    assert catalog_row(loader, "nyc_community_districts")["feature_count"] == 71  # type: ignore[index]


@pytest.mark.realdata
def test_real_manhattan_osm_roads(loader: Engine) -> None:
    path = realdata_path("nyc", "osm", "manhattan_midtown_osm.gpkg")
    report = load(loader, path, "manhattan_roads", source_layer="roads")
    assert report.features_loaded == 8_714 and report.geometry_type == "LineString"
    with loader.connect() as conn:
        box = conn.execute(
            text("SELECT ST_Extent(geom)::text FROM thematic.manhattan_roads")
        ).scalar()
    assert box.startswith("BOX(-74.")
