"""city_load: ``onemap city load`` of the Manhattan profile beside ogr2ogr and osm2pgsql, same run.

- ours: the whole command ``onemap city load --json examples/cities/manhattan.yaml`` (read and
  check every source, one-transaction write, geocoding index, grid, version) into a fresh
  migrated database; features = divisions + roads + buildings + POIs + door plates written (the
  report's counts); Python start-up and imports are inside the time, as GDAL's are in ogr2ogr's;
- baseline A: ``ogr2ogr -f PostgreSQL --config PG_USE_COPY YES -overwrite`` of the same files, one
  process per source, one after another, timed together, into a fresh PostGIS database: the two
  division GeoJSONs (with the profile's ``where``), the PBF's ``lines`` and its ``multipolygons``
  (with the profile's ``building IS NOT NULL``; GDAL's default osmconf.ini), the GPKG's POI layer,
  the addresses CSV (``-oo X_POSSIBLE_NAMES=lon -oo Y_POSSIBLE_NAMES=lat``);
- baseline B: ``osm2pgsql --create`` (default pgsql output and style) of the same PBF, beside our
  load of the profile's PBF sections only (divisions, roads, buildings; no POIs, door plates or
  grid); its features = rows of planet_osm_point + planet_osm_line + planet_osm_polygon.

Runs alternate (ours, A, ours PBF-only, B, ours, …) so a shared machine's drift hits all alike;
features/s are medians over the runs, with the seconds' min–max and the pair-by-pair ratios.
The real data (``../shared/realdata``) absent: skipped with a reason, or an error when ``CI`` is set.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import text

from benchmarks.harness import Context, Figure, Result, workload
from layers.city.profile import CityProfile, Source, profile_from_dict, read_profile
from spatial.config import PROJECT_ROOT
from spatial.db import connection_info, libpq_url, make_engine
from spatial.postgis import ClusterState, create_database, drop_database

PROFILE = PROJECT_ROOT / "examples" / "cities" / "manhattan.yaml"
PBF_SECTIONS = ("code", "name", "crs", "data_dir", "divisions", "roads", "buildings", "view")
OUR_TABLES = ("admin_division", "road", "building", "poi", "address")
OSM2PGSQL_TABLES = ("planet_osm_point", "planet_osm_line", "planet_osm_polygon")
MIGRATED, PLAIN = "onemap_bench_city_migrated", "onemap_bench_city_plain"
RUN_DB = "onemap_bench_city_run"


@dataclass
class Run:
    """One whole-command run: wall and child CPU seconds, features written."""

    seconds: float
    cpu_s: float
    features: int

    @property
    def rate(self) -> float:
        return self.features / self.seconds


@dataclass
class Commands:
    """How to run one side: fresh-database template, command lines, feature count."""

    template: str
    commands: Callable[[str], list[list[str]]]
    count: Callable[[str, list[str]], int]


def skip_or_fail(reason: str) -> None:
    """Say why a part is not measured; under CI that is an error (the Makefile installs it all)."""
    if os.environ.get("CI"):
        raise RuntimeError(f"city_load: {reason} (CI is set: not skipped)")
    print(f"city_load: skipped — {reason}")


def timed(commands: list[list[str]], env: dict[str, str]) -> tuple[float, float, list[str]]:
    """Run the commands one after another: wall seconds, their CPU seconds, their stdouts."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    outputs = []
    started = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command[:4])} … failed: {done.stderr[-2000:]}")
        outputs.append(done.stdout)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return seconds, cpu, outputs


def run_once(state: ClusterState, side: Commands, env: dict[str, str]) -> Run:
    """One timed run of ``side`` into a fresh database made from its template (dropped after)."""
    drop_database(state, RUN_DB)
    create_database(state, RUN_DB, template=side.template)
    url = state.url(RUN_DB)
    try:
        seconds, cpu, outputs = timed(side.commands(url), env | {"ONEMAP_DATABASE_URL": url})
        return Run(seconds, cpu, side.count(url, outputs))
    finally:
        drop_database(state, RUN_DB)


def prepare_templates(state: ClusterState) -> None:
    """A migrated onemap database and a plain PostGIS one, copied for every run."""
    from spatial import migrate

    for name in (MIGRATED, PLAIN):
        drop_database(state, name)
        create_database(state, name)
    engine = make_engine(state.url(MIGRATED), pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()


# ------------------------------------------------------------------------------ the sides
def ours(profile_path: Path) -> Commands:
    """``onemap city load --json PROFILE``; features from the report's counts."""

    def commands(url: str) -> list[list[str]]:
        return [[sys.executable, "-m", "api.cli", "city", "load", "--json", str(profile_path)]]

    def count(url: str, outputs: list[str]) -> int:
        line = next(ln for ln in outputs[0].splitlines() if ln.startswith("{"))
        counts = json.loads(line)["counts"]
        return sum(int(counts.get(table, 0)) for table in OUR_TABLES)

    return Commands(MIGRATED, commands, count)


def source_args(source: Source, layer: str | None = None) -> list[str]:
    """A source's layer and ``-where`` as ogr2ogr arguments."""
    layer = source.layer or layer
    return ([layer] if layer else []) + (["-where", source.where] if source.where else [])


def ogr2ogr_jobs(profile: CityProfile) -> list[tuple[str, Path, list[str]]]:
    """(table, file, arguments) of every source file of the profile, PBF layers as OGR names them."""
    jobs = [(f"division_{level.level}", level.source, source_args(level.source))
            for level in profile.divisions.levels]  # fmt: skip
    roads, buildings, pois, addresses = (
        profile.roads,
        profile.buildings,
        profile.pois,
        profile.addresses,
    )
    if roads is None or buildings is None or pois is None or addresses is None:
        raise RuntimeError(f"{PROFILE.name} lost a section the benchmark compares")
    mapping = addresses.mapping
    jobs += [("osm_lines", roads.source, source_args(roads.source, "lines")),
             ("osm_buildings", buildings.source, source_args(buildings.source, "multipolygons")),
             ("poi", pois.source, source_args(pois.source)),
             ("address", addresses.source, ["-oo", f"X_POSSIBLE_NAMES={mapping.get('lon', 'lon')}",
                                            "-oo", f"Y_POSSIBLE_NAMES={mapping.get('lat', 'lat')}",
                                            "-a_srs", profile.crs or "EPSG:4326"])]  # fmt: skip
    return [(table, profile.path_of(source.path), args) for table, source, args in jobs]


def ogr2ogr(profile: CityProfile) -> Commands:
    """Baseline A, one process per file; features = rows in the tables it wrote."""
    jobs = ogr2ogr_jobs(profile)

    def commands(url: str) -> list[list[str]]:
        base = [
            "ogr2ogr",
            "-f",
            "PostgreSQL",
            f"PG:{libpq_url(url)}",
            "--config",
            "PG_USE_COPY",
            "YES",
        ]
        return [
            [*base, "-overwrite", "-nln", table, str(path), *args] for table, path, args in jobs
        ]

    return Commands(
        PLAIN, commands, lambda url, _: count_rows(url, [table for table, _, _ in jobs])
    )


def osm2pgsql(pbf: Path) -> Commands:
    """Baseline B: ``osm2pgsql --create`` with its default output and style."""

    def commands(url: str) -> list[list[str]]:
        return [["osm2pgsql", "--create", "-d", libpq_url(url), str(pbf)]]

    return Commands(PLAIN, commands, lambda url, _: count_rows(url, list(OSM2PGSQL_TABLES)))


def count_rows(url: str, tables: list[str]) -> int:
    """Rows in the public tables a baseline wrote."""
    engine = make_engine(url, pool_size=1)
    with engine.connect() as conn:
        rows = sum(
            conn.execute(text(f'SELECT count(*) FROM public."{t}"')).scalar_one() for t in tables
        )
    engine.dispose()
    return int(rows)


def pbf_profile(folder: Path) -> Path:
    """The Manhattan profile with its PBF sections only (no POIs, door plates, grid), as a file."""
    raw = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    raw = {key: raw[key] for key in PBF_SECTIONS if key in raw}
    raw["data_dir"] = str((PROFILE.parent / raw.get("data_dir", ".")).resolve())
    raw["code"] = "manhattan_pbf"
    profile_from_dict(raw, folder=PROFILE.parent, label="city_load PBF profile")  # fails early
    path = folder / "manhattan_pbf.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ the figures
def summary(runs: list[Run]) -> dict[str, Any]:
    """Median features/s, seconds' median and min–max, features, CPU seconds of the commands."""
    seconds = [r.seconds for r in runs]
    return {"features_per_s": statistics.median(r.rate for r in runs), "features": runs[0].features,
            "seconds_median": statistics.median(seconds), "seconds_min": min(seconds),
            "seconds_max": max(seconds), "cpu_s_median": statistics.median(r.cpu_s for r in runs),
            "runs_s": seconds}  # fmt: skip


def compare(metric: str, mine: list[Run], theirs: list[Run], name: str, label: str) -> Result:
    """One row: our median features/s against the baseline's, with the pair-by-pair ratios."""
    a, b = summary(mine), summary(theirs)
    pairs = [m.rate / t.rate for m, t in zip(mine, theirs, strict=True)]
    notes = (f"ours {a['features']:,} features in {a['seconds_median']:.2f} s "
             f"[{a['seconds_min']:.2f}–{a['seconds_max']:.2f}]; {label} {b['features']:,} in "
             f"{b['seconds_median']:.2f} s [{b['seconds_min']:.2f}–{b['seconds_max']:.2f}]; "
             f"pairwise ratio {statistics.median(pairs):.2f} [{min(pairs):.2f}–{max(pairs):.2f}] "
             f"over {len(pairs)} alternating runs")  # fmt: skip
    return Result(
        workload="city_load", metric=metric,
        ours=Figure(a["features_per_s"], "features/s"), baseline=Figure(b["features_per_s"], "features/s"),
        baseline_name=name, target="≥ 1×", notes=notes,
        extra={"ours": a, "baseline": b, "pairwise_ratios": pairs},
    )  # fmt: skip


def measure(
    state: ClusterState, sides: dict[str, Commands], repetitions: int, env: dict[str, str]
) -> dict[str, list[Run]]:
    """Every side ``repetitions`` times, alternating, each into a fresh database."""
    prepare_templates(state)
    runs: dict[str, list[Run]] = {name: [] for name in sides}
    try:
        for _ in range(repetitions):
            for name, side in sides.items():
                runs[name].append(run_once(state, side, env))
    finally:
        for name in (MIGRATED, PLAIN):
            drop_database(state, name)
    return runs


def missing_tool() -> str | None:
    """Why the comparison cannot run here (None: it can); osm2pgsql alone is asked separately."""
    profile = read_profile(PROFILE)
    sources = [path for _, path, _ in ogr2ogr_jobs(profile)]
    absent = [str(p) for p in sources if not p.exists()]
    if absent:
        return f"the real data is absent ({absent[0]}; see ../shared/realdata/README.md)"
    if shutil.which("ogr2ogr") is None:
        return "ogr2ogr is not installed (Debian package gdal-bin; `make bench` installs it)"
    return None


@workload("city_load")
def city_load(ctx: Context) -> list[Result]:
    reason = missing_tool()
    if reason:
        skip_or_fail(reason)
        return []
    profile = read_profile(PROFILE)
    pbf = next(path for table, path, _ in ogr2ogr_jobs(profile) if table == "osm_lines")
    with_osm2pgsql = shutil.which("osm2pgsql") is not None
    if not with_osm2pgsql:
        skip_or_fail("osm2pgsql is not installed (Debian package osm2pgsql; `make bench` installs it): "
                     "the PBF import is not compared")  # fmt: skip
    info = connection_info(ctx.url)
    state = ClusterState(port=info.port, user=info.user, password=info.password)
    repetitions = 1 if ctx.quick else 5
    with tempfile.TemporaryDirectory() as folder:
        sides = {"ours": ours(PROFILE), "ogr2ogr": ogr2ogr(profile)}
        if with_osm2pgsql:
            sides |= {"ours_pbf": ours(pbf_profile(Path(folder))), "osm2pgsql": osm2pgsql(pbf)}
        runs = measure(state, sides, repetitions, {**os.environ, "ONEMAP_VAR_DIR": f"{folder}/var"})
    results = [compare(f"Manhattan profile, whole load, validation included (median of {repetitions})",
                       runs["ours"], runs["ogr2ogr"],
                       "ogr2ogr -f PostgreSQL, PG_USE_COPY=YES, one process per file", "ogr2ogr")]  # fmt: skip
    if with_osm2pgsql:
        results.append(compare(f"Manhattan PBF import: divisions + roads + buildings (median of {repetitions})",
                               runs["ours_pbf"], runs["osm2pgsql"],
                               "osm2pgsql --create (default pgsql output)", "osm2pgsql"))  # fmt: skip
    return results
